#!/usr/bin/env node
// node_agent — the Node.js mock agent (tests/mock_agent/README.md).
//
// Behaves like an agent written for Node: it tries child_process in every
// form, sockets to other hosts and host ports, secrets on disk, signals to
// the launcher; and checks what it needs: worker_threads, files, the
// allowed service, and the gateway through fetch with AGENTGW_TOKEN.
//
// One line per check, the same format as c_agent:
//     VERDICT LAYER KIND NAME DETAIL     (VERDICT judged for a confined run)
// then "node_agent: N passed, N failed, N skipped"; exit 1 when a check
// failed.  "# attempt" lines tell run.sh what the audit log must show.
// Node 18+ (global fetch); no npm packages.
'use strict';
const cp = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { Worker } = require('worker_threads');

const OPEN = 'open', BLOCKED = 'blocked', SKIPPED = 'skip';
const tally = { pass: 0, fail: 0, skip: 0 };

class Skip extends Error {}

function env(k) {
  const v = process.env[k];
  if (!v) throw new Skip(`${k} not set (run through tests/mock_agent/run.sh)`);
  return v;
}

function attempt(what) {
  console.log(`# attempt ${what}`);
}

function errText(e) {
  return e && e.code ? `${e.code} ${e.syscall || ''} ${e.message}`.replace(/\s+/g, ' ')
    : String(e);
}

// ------------------------------------------------------------ processes

function syncSpawn(what, fn) {
  attempt('fork');
  try {
    const r = fn();
    if (r && r.error) return [BLOCKED, `${what}: ${errText(r.error)}`];
    return [OPEN, `${what} ran a child (status ${r && r.status !== undefined ? r.status : 0})`];
  } catch (e) {
    return [BLOCKED, `${what}: ${errText(e)}`];
  }
}

function asyncChild(what, start) {
  attempt('fork');
  return new Promise((resolve) => {
    let done = false;
    const finish = (r) => { if (!done) { done = true; clearTimeout(t); resolve(r); } };
    const t = setTimeout(() => finish([BLOCKED, `${what}: no result in 20 s`]), 20000);
    let child;
    try {
      child = start((err, stdout) => {
        if (err && err.code !== 7) finish([BLOCKED, `${what}: ${errText(err)}`]);
        else finish([OPEN, `${what} ran a shell (status 7)`]);
      });
    } catch (e) {
      finish([BLOCKED, `${what}: ${errText(e)}`]);
      return;
    }
    if (child && child.on) {
      child.on('error', (e) => finish([BLOCKED, `${what}: 'error' event ${errText(e)}`]));
      child.on('exit', (code, sig) => {
        if (child.pid) finish([OPEN, `${what} made child ${child.pid} (exit ${code}${sig ? ' ' + sig : ''})`]);
      });
    }
  });
}

const checks = [
  ['seccomp', 'execSync', true, () => syncSpawn('child_process.execSync("exit 0")',
    () => { cp.execSync('exit 0', { stdio: 'ignore' }); return { status: 0 }; })],
  ['seccomp', 'spawnSync', true, () => syncSpawn('child_process.spawnSync(/bin/true)',
    () => cp.spawnSync('/bin/true'))],
  ['seccomp', 'execFileSync', true, () => syncSpawn('child_process.execFileSync(/bin/true)',
    () => { cp.execFileSync('/bin/true'); return { status: 0 }; })],
  ['seccomp', 'exec', true, () => asyncChild('child_process.exec("exit 7")',
    (cb) => { cp.exec('exit 7', cb); return null; })],
  ['seccomp', 'spawn', true, () => asyncChild('child_process.spawn(/bin/true)',
    () => cp.spawn('/bin/true', [], { stdio: 'ignore' }))],
  ['seccomp', 'fork', true, () => asyncChild('child_process.fork(self --child)',
    () => cp.fork(__filename, ['--child'], { stdio: 'ignore' }))],
  ['process', 'kill-launcher', true, () => {
    let pid = env('MOCK_LAUNCHER_PID');
    if (pid.startsWith('@')) { // a deployment hook writes it there
      for (let k = 0; k < 200 && !(fs.existsSync(pid.slice(1)) && fs.readFileSync(pid.slice(1), 'utf8').trim()); k++)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      pid = fs.readFileSync(pid.slice(1), 'utf8').trim();
    }
    pid = Number(pid);
    try {
      process.kill(pid, 0);
      return [OPEN, `process.kill(${pid}, 0) succeeded: the launcher can be signalled`];
    } catch (e) {
      return [BLOCKED, `process.kill(${pid}, 0): ${errText(e)}`];
    }
  }],
  ['process', 'worker_threads', false, () => new Promise((resolve) => {
    const w = new Worker(
      'const { parentPort } = require("worker_threads");' +
      'let s = 0; for (let i = 0; i < 1e6; i++) s += i; parentPort.postMessage(s);',
      { eval: true });
    const t = setTimeout(() => { w.terminate(); resolve([BLOCKED, 'worker: no answer in 10 s']); }, 10000);
    w.on('message', (m) => {
      clearTimeout(t);
      w.terminate();
      resolve(m === 499999500000 ? [OPEN, `a worker thread computed ${m}`]
        : [BLOCKED, `worker answered ${m}`]);
    });
    w.on('error', (e) => { clearTimeout(t); resolve([BLOCKED, `worker error: ${errText(e)}`]); });
  })],
  ['process', 'compute', false, () => {
    const h = crypto.createHash('sha256').update(Buffer.alloc(1 << 20, 97)).digest('hex');
    return [OPEN, `sha256 of 1 MiB: ${h.slice(0, 16)}...`];
  }],
  ['network', 'tcp-outside-netns', true,
    () => connect(env('MOCK_OUTSIDE_ADDR'), env('MOCK_OUTSIDE_PORT'))],
  ['network', 'host-port-127.0.0.1', true, () => connect('127.0.0.1', env('MOCK_HOST_PORT'))],
  ['network', 'host-port-[::1]', true, () => connect('::1', env('MOCK_HOST_PORT'))],
  ['network', 'allowed-service', false, async () => {
    const port = env('MOCK_SERVICE_PORT'), want = env('MOCK_SERVICE_TEXT');
    const hp = process.env[`AGENTLAUNCH_SERVICE_${port}`];
    if (!hp) return [BLOCKED, `AGENTLAUNCH_SERVICE_${port} is not in the environment`];
    try {
      const r = await fetch(`http://${hp}/hello.txt`, { signal: AbortSignal.timeout(5000) });
      const body = await r.text();
      if (r.status === 200 && body.includes(want))
        return [OPEN, `fetch http://${hp}/hello.txt: 200 with the service's text`];
      return [BLOCKED, `fetch http://${hp}/hello.txt: ${r.status}`];
    } catch (e) {
      return [BLOCKED, `fetch http://${hp}/hello.txt: ${errText(e.cause || e)}`];
    }
  }],
  ['filesystem', 'read-/etc/shadow', true, () => readSecret('/etc/shadow')],
  ['filesystem', 'read-other-home', true,
    () => readSecret(path.join(env('MOCK_OTHER_HOME'), 'secret.txt'))],
  ['filesystem', 'workdir-read-write', false, () => roundtrip(process.cwd())],
  ['filesystem', 'tmp-read-write', false, () => roundtrip(os.tmpdir())],
  ['gateway', 'run-print', false, () => gw('/v1/run', { code: 'print(6*7)' }, 200,
    (d) => d.stdout === '42\n', "stdout '42'")],
  ['gateway', 'exec-echo', false, () => gw('/v1/exec', { command: 'echo node-agent-ok' }, 200,
    (d) => d.stdout === 'node-agent-ok\n', "stdout 'node-agent-ok'")],
  ['policy', 'cat-.env-403', false, () => gw('/v1/exec', { command: 'cat .env' }, 403,
    (d) => d.error && d.error.code === 'policy_denied' && d.matched_rule === 'deny_credentials',
    'policy_denied matched_rule deny_credentials')],
  ['policy', 'git-push-deny-403', false, () => gw('/v1/exec', { command: 'git push' }, 403,
    (d) => d.error && d.error.code === 'policy_denied' && d.matched_rule === null,
    'policy_denied matched_rule null (default deny)')],
];

function connect(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port), timeout: 2000 });
    const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    s.on('connect', () => { s.destroy(); resolve([OPEN, `connected to ${shown}`]); });
    s.on('timeout', () => { s.destroy(); resolve([BLOCKED, `connect ${shown}: ETIMEDOUT`]); });
    s.on('error', (e) => resolve([BLOCKED, `connect ${shown}: ${errText(e)}`]));
  });
}

function readSecret(p) {
  try {
    const b = fs.readFileSync(p);
    if (b.length === 0) return [BLOCKED, `${p} reads as empty (masked)`];
    return [OPEN, `read ${b.length} bytes of ${p}`];
  } catch (e) {
    return [BLOCKED, `readFileSync(${p}): ${errText(e)}`];
  }
}

function roundtrip(dir) {
  const p = path.join(dir, `node_agent-${process.pid}.txt`);
  try {
    fs.writeFileSync(p, 'node_agent was here\n');
    const ok = fs.readFileSync(p, 'utf8') === 'node_agent was here\n';
    fs.unlinkSync(p);
    return ok ? [OPEN, `wrote, read back and removed ${p}`] : [BLOCKED, `${p}: bad content`];
  } catch (e) {
    return [BLOCKED, `${p}: ${errText(e)}`];
  }
}

async function gw(p, body, want, check, what) {
  const url = env('AGENTGW_URL').replace(/\/$/, '') + p;
  const token = env('AGENTGW_TOKEN');
  let r, d;
  try {
    r = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(60000),
    });
    d = await r.json();
  } catch (e) {
    return [BLOCKED, `POST ${p}: ${errText(e.cause || e)}`];
  }
  if (r.status !== want || !check(d))
    return [BLOCKED, `POST ${p} ${JSON.stringify(body)}: ${r.status} (want ${want}, ${what}): ` +
      JSON.stringify(d).slice(0, 200)];
  return [OPEN, `POST ${p} ${JSON.stringify(body)}: ${r.status} ${what}`];
}

function report(c, outcome, detail) {
  const [layer, name, escape] = c;
  let v;
  if (outcome === SKIPPED) { v = 'SKIP'; tally.skip++; }
  else if ((outcome === BLOCKED) === escape) { v = 'PASS'; tally.pass++; }
  else { v = 'FAIL'; tally.fail++; }
  if (outcome === OPEN && escape) detail = 'ESCAPED: ' + detail;
  console.log(`${v} ${layer.padEnd(10)} ${(escape ? 'escape' : 'works').padEnd(6)} ` +
    `${('node.' + name).padEnd(28)} ${detail}`);
}

async function main() {
  if (process.argv[2] === '--child') return 0;
  if (process.argv[2] === '--list') {
    for (const [l, n, e] of checks) console.log(l, n, e ? 'escape' : 'works');
    return 0;
  }
  for (const c of checks) {
    let r;
    try {
      r = await c[3]();
    } catch (e) {
      if (e instanceof Skip) r = [SKIPPED, e.message];
      else {
        console.log(`FAIL ${c[0].padEnd(10)} ${(c[2] ? 'escape' : 'works').padEnd(6)} ` +
          `${('node.' + c[1]).padEnd(28)} BROKEN: the check threw ${errText(e)}`);
        tally.fail++;
        continue;
      }
    }
    report(c, r[0], r[1]);
  }
  console.log(`node_agent: ${tally.pass} passed, ${tally.fail} failed, ${tally.skip} skipped`);
  return tally.fail ? 1 : 0;
}

main().then((rc) => { process.exitCode = rc; }, (e) => {
  console.log(`FAIL process    works  node.main                    BROKEN: ${errText(e)}`);
  process.exitCode = 1;
});
