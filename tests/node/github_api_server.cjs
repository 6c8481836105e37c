#!/usr/bin/env node
// github_api_server.cjs - a local stand-in for api.github.com, for tests.
// Serves, on 127.0.0.1 only:
//   GET /users/:login/events?per_page=&page=  the login's events taken from
//        the GH Archive hour files of --archive DIR (`kiln gen gharchive`),
//        newest first, at most 300 (GitHub's window), paginated with Link;
//   GET /repos/:owner/:repo                   --api DIR/repos/OWNER/REPO.json
//   GET /repos/:o/:r/compare/:base...:head    --api DIR/compare/O/R/BASE...HEAD.json
//        (`kiln gen github-api`), commits paginated (per_page, default 250)
// with GitHub's headers: ETag (a strong hash of the body) and 304 on
// If-None-Match, X-RateLimit-Limit/Remaining/Reset/Used/Resource (a 304 does
// not spend the limit), X-Poll-Interval on events, Link rel="next"/"last".
// --token T: requests must carry "Authorization: Bearer T" (else 401).
// --limit N: primary limit per window (default 5000): spent -> 403 with
// Remaining 0 and Reset.
//
// Faults, queued by the test: GET /_control/fault?kind=K&count=N&seconds=S[&match=SUBSTR]
//   ratelimit  403 {"message":"API rate limit exceeded"}, Remaining 0, Reset now+S
//   secondary  403 "You have exceeded a secondary rate limit", Retry-After S
//   s429       429 with Retry-After S
//   s5xx       502
//   reset      the connection is closed without an answer
//   truncate   a 200 whose body stops half way (the connection is closed)
// GET /_control/patch?repo=O/R&field=F&value=V: /repos/O/R answers with F=V
// (V "null", "true", "false" or text) from now on (a new ETag: a change).
// GET /_control/status?match=SUBSTR&code=N: requests whose path holds SUBSTR
// answer N (404 gone, 451 blocked, 409 empty repository).
// --compare-per-page N: compare pages hold at most N commits (default 250).
// GET /_control/log: the requests seen [{method, path, status, inm, auth}]
// (auth: whether an Authorization header came; its value is never kept).
// GET /_control/reset: clear the log and the faults.
// GET /_control/reload: read --archive DIR again (hour files added since:
// new events, as a user's feed grows).
// --poll-interval S: the X-Poll-Interval of the events feed (default 60).
// Prints "PORT <n>" on stdout once listening (--port 0: a free port).
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const port = parseInt(args.port || '0', 10);
const archive = args.archive;
const apiDir = args.api;
const token = args.token;
let limit = parseInt(args.limit || '5000', 10);
const comparePerPage = parseInt(args['compare-per-page'] || '250', 10);
const patches = new Map(); // "owner/repo" -> {field: value}
const statuses = new Map(); // path substring -> status (404, 451, 409)
let remaining = limit;
let resetAt = Math.floor(Date.now() / 1000) + 3600;
const log = [];
let faults = [];

let byLogin = null;
function events() {
  if (byLogin) return byLogin;
  byLogin = new Map();
  if (!archive) return byLogin;
  for (const f of fs.readdirSync(archive).filter((f) => /\.json\.gz$/.test(f)).sort()) {
    const text = zlib.gunzipSync(fs.readFileSync(path.join(archive, f))).toString('utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      const e = JSON.parse(line);
      const l = e.actor && e.actor.login;
      if (!l) continue;
      if (!byLogin.has(l)) byLogin.set(l, []);
      byLogin.get(l).push(e);
    }
  }
  for (const list of byLogin.values())
    list.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : Number(BigInt(b.id) - BigInt(a.id))));
  return byLogin;
}

function rateHeaders(h) {
  const now = Math.floor(Date.now() / 1000);
  if (now >= resetAt) {
    remaining = limit;
    resetAt = now + 3600;
  }
  h['X-RateLimit-Limit'] = String(limit);
  h['X-RateLimit-Remaining'] = String(remaining);
  h['X-RateLimit-Used'] = String(limit - remaining);
  h['X-RateLimit-Reset'] = String(resetAt);
  h['X-RateLimit-Resource'] = 'core';
}

function send(req, res, status, body, headers, entry) {
  const h = Object.assign({ 'Content-Type': 'application/json; charset=utf-8' }, headers || {});
  const buf = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  h['Content-Length'] = String(buf.length);
  entry.status = status;
  res.writeHead(status, h);
  res.end(req.method === 'HEAD' ? undefined : buf);
}

function paginate(base, items, q, perDefault, perMax) {
  const per = Math.min(Math.max(parseInt(q.get('per_page') || String(perDefault), 10) || perDefault, 1), perMax);
  const page = Math.max(parseInt(q.get('page') || '1', 10) || 1, 1);
  const last = Math.max(Math.ceil(items.length / per), 1);
  const links = [];
  const mk = (p) => `<${base}?per_page=${per}&page=${p}>`;
  if (page < last) links.push(`${mk(page + 1)}; rel="next"`, `${mk(last)}; rel="last"`);
  if (page > 1) links.push(`${mk(1)}; rel="first"`, `${mk(page - 1)}; rel="prev"`);
  return { slice: items.slice((page - 1) * per, page * per), link: links.join(', ') };
}

function ok(req, res, body, extra, entry) {
  const text = JSON.stringify(body);
  const etag = '"' + crypto.createHash('sha256').update(text).digest('hex').slice(0, 40) + '"';
  const h = Object.assign({ ETag: etag }, extra || {});
  const inm = req.headers['if-none-match'];
  if (inm && inm.split(/\s*,\s*/).includes(etag)) {
    rateHeaders(h); // a 304 does not spend the limit
    delete h['Content-Type'];
    entry.status = 304;
    res.writeHead(304, h);
    return res.end();
  }
  if (remaining <= 0) {
    rateHeaders(h);
    return send(req, res, 403, { message: 'API rate limit exceeded for 127.0.0.1.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' }, h, entry);
  }
  remaining--;
  rateHeaders(h);
  send(req, res, 200, text, h, entry);
}

function notFound(req, res, entry) {
  const h = {};
  rateHeaders(h);
  send(req, res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }, h, entry);
}

function readJson(p) {
  try {
    return JSON.parse(fs.readFileSync(p, 'utf8'));
  } catch (e) {
    return null;
  }
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, `http://${req.headers.host}`);
  const entry = { method: req.method, path: u.pathname + u.search, status: 0, inm: !!req.headers['if-none-match'], auth: !!req.headers.authorization };
  if (u.pathname.startsWith('/_control/')) {
    const what = u.pathname.slice('/_control/'.length);
    if (what === 'log') return send(req, res, 200, log, {}, entry);
    if (what === 'reload') {
      byLogin = null;
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('reloaded\n');
    }
    if (what === 'reset') {
      log.length = 0;
      faults = [];
      remaining = limit;
      return send(req, res, 200, { ok: true }, {}, entry);
    }
    if (what === 'limit') {
      limit = parseInt(u.searchParams.get('n'), 10);
      remaining = limit;
      resetAt = Math.floor(Date.now() / 1000) + parseInt(u.searchParams.get('seconds') || '3600', 10);
      return send(req, res, 200, { ok: true }, {}, entry);
    }
    if (what === 'patch') {
      const r = u.searchParams.get('repo');
      const p = patches.get(r) || {};
      const v = u.searchParams.get('value');
      p[u.searchParams.get('field')] = v === 'null' ? null : v === 'true' ? true : v === 'false' ? false : v;
      patches.set(r, p);
      return send(req, res, 200, { ok: true }, {}, entry);
    }
    if (what === 'status') {
      statuses.set(u.searchParams.get('match'), parseInt(u.searchParams.get('code'), 10));
      return send(req, res, 200, { ok: true }, {}, entry);
    }
    if (what === 'fault') {
      faults.push({ kind: u.searchParams.get('kind'), count: parseInt(u.searchParams.get('count') || '1', 10), seconds: parseInt(u.searchParams.get('seconds') || '1', 10), match: u.searchParams.get('match') || '' });
      return send(req, res, 200, { ok: true }, {}, entry);
    }
    return send(req, res, 404, { message: 'no such control' }, {}, entry);
  }
  log.push(entry);
  if (token && req.headers.authorization !== `Bearer ${token}`)
    return send(req, res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' }, {}, entry);
  const f = faults.find((x) => x.count > 0 && entry.path.includes(x.match));
  if (f) {
    f.count--;
    const h = {};
    entry.fault = f.kind;
    if (f.kind === 'reset') {
      entry.status = -1;
      return req.socket.destroy();
    }
    if (f.kind === 's5xx') return send(req, res, 502, { message: 'Server Error' }, h, entry);
    if (f.kind === 'truncate') {
      // a 200 whose body stops half way (Content-Length promises more)
      const body = Buffer.from(JSON.stringify([{ id: '1', type: 'PushEvent' }, { id: '2', type: 'PushEvent' }]));
      entry.status = 200;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
      res.write(body.subarray(0, body.length >> 1));
      return setTimeout(() => req.socket.destroy(), 50);
    }
    if (f.kind === 'ratelimit') {
      rateHeaders(h);
      h['X-RateLimit-Remaining'] = '0';
      h['X-RateLimit-Reset'] = String(Math.floor(Date.now() / 1000) + f.seconds);
      return send(req, res, 403, { message: 'API rate limit exceeded for user ID 1.' }, h, entry);
    }
    if (f.kind === 'secondary' || f.kind === 's429') {
      rateHeaders(h);
      h['Retry-After'] = String(f.seconds);
      return send(req, res, f.kind === 's429' ? 429 : 403, { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' }, h, entry);
    }
  }
  for (const [k, code] of statuses)
    if (entry.path.includes(k)) {
      const h = {};
      rateHeaders(h);
      const msg = { 404: 'Not Found', 451: 'Repository access blocked', 409: 'Git Repository is empty.' }[code] || 'Error';
      return send(req, res, code, { message: msg }, h, entry);
    }
  const base = `http://${req.headers.host}${u.pathname}`;
  if (u.pathname.split('/').some((seg) => { const d = decodeURIComponent(seg); return d === '..' || d.includes('/'); }))
    return notFound(req, res, entry);
  let m;
  if (req.method === 'GET' && (m = u.pathname.match(/^\/users\/([^/]+)\/events$/))) {
    const login = decodeURIComponent(m[1]);
    const list = events().get(login);
    if (!list) return notFound(req, res, entry);
    const p = paginate(base, list.slice(0, 300), u.searchParams, 30, 100);
    const h = { 'X-Poll-Interval': String(args['poll-interval'] || '60') };
    if (p.link) h.Link = p.link;
    return ok(req, res, p.slice, h, entry);
  }
  if (req.method === 'GET' && (m = u.pathname.match(/^\/repos\/([^/]+)\/([^/]+)\/compare\/(.+)$/))) {
    const body = apiDir && readJson(path.join(apiDir, 'compare', decodeURIComponent(m[1]), decodeURIComponent(m[2]), decodeURIComponent(m[3]) + '.json'));
    if (!body) return notFound(req, res, entry);
    const commits = body.commits || [];
    const p = paginate(base, commits, u.searchParams, comparePerPage, comparePerPage);
    const h = {};
    if (p.link) h.Link = p.link;
    return ok(req, res, Object.assign({}, body, { commits: p.slice }), h, entry);
  }
  if (req.method === 'GET' && (m = u.pathname.match(/^\/repos\/([^/]+)\/([^/]+)$/))) {
    const body = apiDir && readJson(path.join(apiDir, 'repos', decodeURIComponent(m[1]), decodeURIComponent(m[2]) + '.json'));
    if (!body) return notFound(req, res, entry);
    const p = patches.get(`${decodeURIComponent(m[1])}/${decodeURIComponent(m[2])}`);
    return ok(req, res, p ? Object.assign({}, body, p) : body, {}, entry);
  }
  notFound(req, res, entry);
});

server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
