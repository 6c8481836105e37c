// s3_server.cjs - an S3-compatible server on 127.0.0.1 for kiln's tests:
// @20minutes/s3rver, which checks AWS SigV4 signatures (credentials
// S3RVER / S3RVER) and answers SignatureDoesNotMatch otherwise.
//
//   node s3_server.cjs DIR PORTFILE BUCKET [BUCKET...]
//
// Listens on a free port, writes it to PORTFILE, serves until killed.
// S3_FAULTS=N (or a later `POST /__faults?n=N[&kind=KIND]`, unsigned)
// makes the next N requests fail, to prove that clients retry: KIND 503
// (SlowDown, the default) or 500 (InternalError) before any work is done;
// reset: the connection closed without an answer; slow: the answer is held
// S3_SLOW_MS (default 3000) before the request is served; cut: the request
// is served, but an object GET's body stops half way (Content-Length announced in
// full) and the connection is closed; stall: as cut, but the connection
// then stays open, silent, for S3_SLOW_MS before it is closed. S3_LOG=FILE appends "METHOD HOST URL
// [range=...] [if-match=...] [token=x-amz-security-token]" per request (test-control requests included).
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
let faultKind = '503';
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
    const range = ctx.get('range') ? ` range=${ctx.get('range')}` : '';
    const ifm = ctx.get('if-match') ? ` if-match=${ctx.get('if-match')}` : '';
    const tok = ctx.get('x-amz-security-token') ? ` token=${ctx.get('x-amz-security-token')}` : '';
    fs.appendFileSync(process.env.S3_LOG, `${ctx.method} ${ctx.host} ${ctx.url}${range}${ifm}${tok}\n`);
  }
  // test control, unsigned, never part of S3: POST /__faults?n=N
  if (ctx.path === '/__faults') {
    faults = Number(ctx.query.n || 0);
    faultKind = ctx.query.kind || '503';
    ctx.body = `faults=${faults} kind=${faultKind}\n`;
    return;
  }
  if (faults > 0 && faultKind === 'reset') {
    faults--;
    ctx.req.socket.destroy(); // the connection dies, no answer
    return;
  }
  if (faults > 0 && faultKind === 'slow') {
    faults--;
    await new Promise((r) => setTimeout(r, Number(process.env.S3_SLOW_MS || 3000)));
    if (ctx.req.socket.destroyed) return; // the client gave up
    await next();
    return;
  }
  if (faults > 0 && (faultKind === 'cut' || faultKind === 'stall') && ctx.method === 'GET' && !('list-type' in ctx.query)) {
    const kind = faultKind;
    faults--;
    await next();
    let body = ctx.body;
    if (body && typeof body.pipe === 'function') {
      const parts = [];
      for await (const c of body) parts.push(Buffer.from(c));
      body = Buffer.concat(parts);
    } else if (typeof body === 'string') {
      body = Buffer.from(body);
    }
    if (!Buffer.isBuffer(body) || body.length < 2 || ctx.status >= 300) {
      ctx.body = body;
      return;
    }
    ctx.respond = false; // written by hand: half the body, then the end
    const res = ctx.res;
    const headers = {};
    for (const [k, v] of Object.entries(ctx.response.headers)) headers[k] = v;
    headers['content-length'] = String(body.length);
    res.writeHead(ctx.status, headers);
    const sock = ctx.req.socket;
    const hold = kind === 'stall' ? Number(process.env.S3_SLOW_MS || 3000) : 0;
    res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => sock.destroy(), hold));
    return;
  }
  if (faults > 0 && (faultKind === '503' || faultKind === '500')) {
    faults--;
    const code = faultKind === '500' ? 'InternalError' : 'SlowDown';
    const msg = faultKind === '500' ? 'We encountered an internal error.' : 'Please reduce your request rate.';
    ctx.status = Number(faultKind);
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${msg}</Message></Error>`;
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
