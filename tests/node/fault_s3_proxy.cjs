// fault_s3_proxy.cjs - a faulty network between kiln and the S3 test
// server (tests/e2e/fault_s3.sh): forwards every request to UPSTREAM
// unchanged (the Host header too, so SigV4 signatures still verify) and, on
// command, breaks the next N requests:
//   500    answer 500 InternalError (S3's XML) without forwarding
//   503    answer 503 SlowDown without forwarding
//   slow   forward, but hold the answer back MS milliseconds
//   reset  forward, send the answer's status and headers and half its body,
//          then destroy the connection (a reset mid-transfer)
//   GET /__proxy?mode=M&n=N[&ms=MS][&match=SUBSTR] (unsigned, never S3) sets
//   it; match limits the faults to requests whose METHOD+URL holds SUBSTR.
//   GET /__proxy/stats answers {"faulted": F, "requests": R}.
//
//   node fault_s3_proxy.cjs UPSTREAM_PORT PORTFILE
'use strict';
const http = require('http');
const fs = require('fs');
const [upPort, portFile] = process.argv.slice(2);
let mode = 'none', left = 0, ms = 0, match = '', faulted = 0, requests = 0;

function s3error(res, status, code, msg) {
  res.writeHead(status, { 'Content-Type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${msg}</Message></Error>`);
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname === '/__proxy') {
    mode = u.searchParams.get('mode') || 'none';
    left = Number(u.searchParams.get('n') || 0);
    ms = Number(u.searchParams.get('ms') || 0);
    match = u.searchParams.get('match') || '';
    res.end(`mode=${mode} n=${left}\n`);
    return;
  }
  if (u.pathname === '/__proxy/stats') {
    res.end(JSON.stringify({ faulted, requests }));
    return;
  }
  requests++;
  const hit = left > 0 && (!match || (req.method + ' ' + req.url).includes(match));
  const m = hit ? mode : 'none';
  if (hit) { left--; faulted++; }
  if (m === '500') { req.resume(); return s3error(res, 500, 'InternalError', 'We encountered an internal error. Please try again.'); }
  if (m === '503') { req.resume(); return s3error(res, 503, 'SlowDown', 'Please reduce your request rate.'); }
  const up = http.request({ host: '127.0.0.1', port: upPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
    const chunks = [];
    ur.on('data', (c) => chunks.push(c));
    ur.on('end', () => {
      const body = Buffer.concat(chunks);
      const send = () => {
        if (m === 'reset' && body.length > 1) {
          res.writeHead(ur.statusCode, ur.headers);
          res.write(body.subarray(0, body.length >> 1));
          setTimeout(() => res.socket && res.socket.destroy(), 20);
          return;
        }
        res.writeHead(ur.statusCode, ur.headers);
        res.end(body);
      };
      if (m === 'slow') setTimeout(send, ms); else send();
    });
  });
  up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
