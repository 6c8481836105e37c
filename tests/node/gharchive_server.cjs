// gharchive_server.cjs - a GH Archive look-alike on 127.0.0.1 for kiln's
// ingest tests: serves DIR/NAME at /NAME with a strong ETag (sha1 of the
// bytes), Last-Modified, Accept-Ranges; honours If-None-Match (304),
// Range: bytes=N- (206, or 200 when If-Range names another etag); 404 for
// files that are not there. Faults, set per file name by an unsigned
//   POST /__fault?name=NAME&kind=KIND&n=N
// apply to the next N GETs of NAME:
//   503       answer 503 Service Unavailable
//   truncate  send the headers and half the body, then cut the connection
//   slow      wait 1.5 s before answering
//
//   node gharchive_server.cjs DIR PORTFILE [LOGFILE]
// LOGFILE gets one line per request: "METHOD URL range=R inm=E status".
'use strict';
const fs = require('fs');
const http = require('http');
const crypto = require('crypto');
const path = require('path');

const [dir, portFile, logFile] = process.argv.slice(2);
if (!dir || !portFile) {
  console.error('usage: node gharchive_server.cjs DIR PORTFILE [LOGFILE]');
  process.exit(2);
}
const faults = new Map(); // name -> {kind, n}

function log(req, status) {
  if (!logFile) return;
  fs.appendFileSync(
    logFile,
    `${req.method} ${req.url} range=${req.headers.range || '-'} inm=${req.headers['if-none-match'] || '-'} ${status}\n`,
  );
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'POST' && url.pathname === '/__fault') {
    faults.set(url.searchParams.get('name'), {
      kind: url.searchParams.get('kind'),
      n: Number(url.searchParams.get('n') || 1),
    });
    res.end('ok\n');
    return;
  }
  const name = path.basename(decodeURIComponent(url.pathname));
  const file = path.join(dir, name);
  if ((req.method !== 'GET' && req.method !== 'HEAD') || !name || !fs.existsSync(file)) {
    res.statusCode = 404;
    log(req, 404);
    res.end('not found\n');
    return;
  }
  const body = fs.readFileSync(file);
  const etag = '"' + crypto.createHash('sha1').update(body).digest('hex') + '"';
  const mtime = fs.statSync(file).mtime.toUTCString();
  const f = faults.get(name);
  let fault = null;
  if (f && f.n > 0 && req.method === 'GET') {
    f.n--;
    fault = f.kind;
  }
  const answer = () => {
    if (fault === '503') {
      res.statusCode = 503;
      log(req, 503);
      res.end('try later\n');
      return;
    }
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', mtime);
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Type', 'application/gzip');
    if (req.headers['if-none-match'] === etag) {
      res.statusCode = 304;
      log(req, 304);
      res.end();
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
    const ifRange = req.headers['if-range'];
    if (m && (!ifRange || ifRange === etag)) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.statusCode = 416;
        res.setHeader('Content-Range', `bytes */${body.length}`);
        log(req, 416);
        res.end();
        return;
      }
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${body.length - 1}/${body.length}`);
    } else {
      res.statusCode = 200;
    }
    const part = body.subarray(start);
    res.setHeader('Content-Length', part.length);
    log(req, res.statusCode);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (fault === 'truncate') {
      res.flushHeaders();
      res.write(part.subarray(0, Math.floor(part.length / 2)), () => {
        setTimeout(() => req.socket.destroy(), 50);
      });
      return;
    }
    res.end(part);
  };
  if (fault === 'slow') setTimeout(answer, 1500);
  else answer();
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port));
  fs.renameSync(portFile + '.tmp', portFile);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
