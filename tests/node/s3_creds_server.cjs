// s3_creds_server.cjs - stands in, on 127.0.0.1, for the places AWS hands
// temporary credentials to a process (kiln's src/store/s3_creds.c):
//   IMDSv2:    PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds
//              required), then GET /latest/meta-data/iam/security-credentials/
//              and .../ROLE with X-aws-ec2-metadata-token (401 without it);
//   container: GET /container-creds[?ttl=S] with Authorization: the token
//              given as CREDS_CONTAINER_TOKEN (401 otherwise);
//   STS:       GET /?Action=AssumeRoleWithWebIdentity&RoleArn=..&
//              WebIdentityToken=.. (must be CREDS_WEB_TOKEN) -> XML.
// Every answer gives the keys S3RVER / S3RVER (what s3_server.cjs accepts)
// and a session token naming the source; Expiration is now + ttl seconds
// (default 3600; ?ttl=S on the container path). Each request is appended to
// the LOG file as "METHOD PATH". Writes its port to PORTFILE.
//
//   node s3_creds_server.cjs PORTFILE LOG
'use strict';
const http = require('http');
const fs = require('fs');

const [portFile, logFile] = process.argv.slice(2);
const IMDS_TOKEN = 'imds-session-' + process.pid;
const ROLE = 'kiln-test-role';

function keys(source, ttl) {
  return {
    Code: 'Success',
    Type: 'AWS-HMAC',
    AccessKeyId: 'S3RVER',
    SecretAccessKey: 'S3RVER',
    Token: 'session-token-from-' + source,
    Expiration: new Date(Date.now() + ttl * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  fs.appendFileSync(logFile, `${req.method} ${u.pathname}${u.searchParams.get('Action') ? '?' + u.searchParams.get('Action') : ''}\n`);
  const send = (code, body, type) => {
    res.writeHead(code, { 'content-type': type || 'text/plain' });
    res.end(body);
  };
  if (u.pathname === '/latest/api/token') {
    if (req.method !== 'PUT' || !req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return send(400, 'bad token request');
    return send(200, IMDS_TOKEN);
  }
  if (u.pathname.startsWith('/latest/meta-data/iam/security-credentials/')) {
    if (req.headers['x-aws-ec2-metadata-token'] !== IMDS_TOKEN) return send(401, 'no token');
    const rest = u.pathname.slice('/latest/meta-data/iam/security-credentials/'.length);
    if (rest === '') return send(200, ROLE + '\n');
    if (rest === ROLE) return send(200, JSON.stringify(keys('imds', 3600)), 'application/json');
    return send(404, 'no such role');
  }
  if (u.pathname === '/container-creds') {
    if (req.headers.authorization !== process.env.CREDS_CONTAINER_TOKEN) return send(401, 'bad authorization');
    const ttl = Number(u.searchParams.get('ttl') || 3600);
    return send(200, JSON.stringify(keys('container', ttl)), 'application/json');
  }
  if (u.pathname === '/' && u.searchParams.get('Action') === 'AssumeRoleWithWebIdentity') {
    if (u.searchParams.get('WebIdentityToken') !== process.env.CREDS_WEB_TOKEN || !u.searchParams.get('RoleArn'))
      return send(403, '<ErrorResponse><Error><Code>InvalidIdentityToken</Code></Error></ErrorResponse>', 'text/xml');
    const k = keys('sts', 3600);
    return send(
      200,
      '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">' +
        '<AssumeRoleWithWebIdentityResult><Credentials>' +
        `<AccessKeyId>${k.AccessKeyId}</AccessKeyId><SecretAccessKey>${k.SecretAccessKey}</SecretAccessKey>` +
        `<SessionToken>${k.Token}</SessionToken><Expiration>${k.Expiration}</Expiration>` +
        '</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>',
      'text/xml'
    );
  }
  send(404, 'not found');
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port));
  fs.renameSync(portFile + '.tmp', portFile);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
