// serve_common.mjs - start and stop `kiln serve` for the serve_* tests:
// binds 127.0.0.1 on a port the kernel picks (--listen 127.0.0.1:0) and
// reads the port from the "listening on" line, so tests never race for
// ports. Every server started here is killed when the process exits.
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';

const live = new Set();
process.on('exit', () => { for (const p of live) try { p.kill('SIGKILL'); } catch {} });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

export const run = promisify(execFile);

export function startServer(bin, args, env = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['serve', '--listen', '127.0.0.1:0', ...args], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    let out = '', err = '';
    const exited = new Promise(r => proc.on('exit', (code, signal) => { live.delete(proc); r({ code, signal }); }));
    proc.stderr.on('data', d => { err += d; });
    proc.stdout.on('data', d => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:(\d+))/);
      if (m) resolve({ url: m[1], port: +m[2], proc, exited, stderr: () => err,
        stop: async (sig = 'SIGTERM') => { proc.kill(sig); return exited; } });
    });
    proc.on('exit', code => reject(new Error(`kiln serve exited (${code}) before listening: ${err}`)));
  });
}

export function check(cond, msg) {
  if (!cond) throw new Error(msg);
}
