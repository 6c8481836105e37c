// s3_server.cjs - an S3-compatible server on 127.0.0.1 for kiln's tests:
// @20minutes/s3rver, which checks AWS SigV4 signatures (credentials
// S3RVER / S3RVER) and answers SignatureDoesNotMatch otherwise.
//
//   node s3_server.cjs DIR PORTFILE BUCKET [BUCKET...]
//
// Listens on a free port, writes it to PORTFILE, serves until killed.
// S3_FAULTS=N (or a later `POST /__faults?n=N`, unsigned) makes the next N
// requests fail with 503 SlowDown before any work is done, to prove that
// clients retry. S3_LOG=FILE appends "METHOD URL" per request.
// Needs node --openssl-legacy-provider (the server's continuation tokens
// use DES).
'use strict';
const fs = require('fs');
const S3rver = require('@20minutes/s3rver');

const [dir, portFile, ...buckets] = process.argv.slice(2);
if (!dir || !portFile || buckets.length === 0) {
  console.error('usage: node s3_server.cjs DIR PORTFILE BUCKET...');
  process.exit(2);
}
let faults = Number(process.env.S3_FAULTS || 0);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dir,
  silent: !process.env.S3_VERBOSE,
  configureBuckets: buckets.map((name) => ({ name })),
});
// first in the chain: injected faults, and a log of what was asked
server.middleware.unshift(async (ctx, next) => {
  if (process.env.S3_LOG) {
    fs.appendFileSync(process.env.S3_LOG, `${ctx.method} ${ctx.url}\n`);
  }
  // test control, unsigned, never part of S3: POST /__faults?n=N
  if (ctx.path === '/__faults') {
    faults = Number(ctx.query.n || 0);
    ctx.body = `faults=${faults}\n`;
    return;
  }
  if (faults > 0) {
    faults--;
    ctx.status = 503;
    ctx.type = 'application/xml';
    ctx.body =
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>' +
      '<Message>Please reduce your request rate.</Message></Error>';
    return;
  }
  await next();
});
server
  .run()
  .then((addr) => {
    fs.writeFileSync(portFile + '.tmp', String(addr.port));
    fs.renameSync(portFile + '.tmp', portFile);
  })
  .catch((e) => {
    console.error('s3_server: ' + e.message);
    process.exit(1);
  });
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
