// Test environment for the real-peer browser tests: the server under test, the static page
// server, headless Debian Chromium; everything started here is killed in stop() and, as a last
// resort, when this process exits (children also get SIGKILL through PR_SET_PDEATHSIG).
//
// The server under test is chosen by environment:
//   IANUS_BIN=path/to/ianus   start Ianus with a generated TOML config on free loopback ports;
//                             as root, inside a network namespace of ours that has only `lo`
//                             (with the browser and the page server), so that no address outside
//                             127.0.0.0/8 is ever involved; IANUS_NETNS=0 keeps them all here.
//   JANUS_NETNS=1             start Debian's Janus 1.1.2 in a network namespace made here
//                             (needs root, iproute2, the janus package): Janus never gathers
//                             candidates on a loopback interface, so it gets a veth carrying
//                             127.0.0.2/32 and ice_enforce_list on it. The browser and the page
//                             server then run in that namespace too (media stays on 127.0.0.0/8,
//                             inside the namespace; nothing else is reachable from there).

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import dgram from 'node:dgram';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { waitReady } from './probe.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// testing.md: the flags that work on these machines.
export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
];

// ---------------------------------------------------------------------------------------------
// Process bookkeeping

const live = new Set(); // {name, child}
const cleanups = []; // synchronous last-resort cleanups (netns, tmp dirs)

function lastResort() {
  for (const p of live) {
    try { process.kill(-p.child.pid, 'SIGKILL'); } catch { /* gone */ }
    try { p.child.kill('SIGKILL'); } catch { /* gone */ }
  }
  live.clear();
  while (cleanups.length) {
    try { cleanups.pop()(); } catch { /* best effort */ }
  }
}
process.on('exit', lastResort);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { lastResort(); process.exit(128 + (os.constants.signals[sig] || 1)); });
}

class Ring {
  constructor(max = 400) { this.max = max; this.lines = []; }
  push(line) { this.lines.push(line); if (this.lines.length > this.max) this.lines.shift(); }
  tail(n = 80) { return this.lines.slice(-n).join('\n'); }
}

/**
 * Spawns a child in its own process group, with SIGKILL on our death, output to a log file and
 * a ring buffer. Returns {child, name, log, exited: Promise<code>, alive(), stop()}.
 */
export function spawnTracked(name, argv, { cwd, env, logFile, stdin = 'ignore' } = {}) {
  const full = ['--pdeathsig', 'KILL', '--', ...argv];
  const child = spawn('setpriv', full, {
    cwd, env: env || process.env, detached: true, stdio: [stdin, 'pipe', 'pipe'],
  });
  const log = new Ring();
  const file = logFile ? fs.createWriteStream(logFile) : null;
  const onLine = (prefix) => (line) => { log.push(prefix + line); file?.write(prefix + line + '\n'); };
  readline.createInterface({ input: child.stdout }).on('line', onLine(''));
  readline.createInterface({ input: child.stderr }).on('line', onLine(''));
  let exitCode = null;
  const rec = { name, child };
  live.add(rec);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code ?? signal;
      live.delete(rec);
      log.push(`[${name} exited: ${exitCode}]`);
      resolve(exitCode);
    });
    child.on('error', (e) => {
      exitCode = `spawn error: ${e.message}`;
      live.delete(rec);
      log.push(`[${name} failed to start: ${e.message}]`);
      resolve(exitCode);
    });
  });
  const alive = () => exitCode === null;
  const stop = async (graceMs = 5000) => {
    if (!alive()) return exitCode;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
    const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
    const code = await exited;
    clearTimeout(timer);
    file?.end();
    return code;
  };
  return { name, child, log, exited, alive, stop };
}

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr || e.message || '').toString().trim()}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Free ports (held open together so that they differ, then released)

export async function freePorts(tcpCount, udpCount = 0, host = '127.0.0.1') {
  const servers = [];
  const sockets = [];
  try {
    const tcp = [];
    for (let i = 0; i < tcpCount; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise((res, rej) => { s.once('error', rej); s.listen(0, host, res); });
      tcp.push(s.address().port);
    }
    const udp = [];
    for (let i = 0; i < udpCount; i++) {
      const s = dgram.createSocket('udp4');
      sockets.push(s);
      await new Promise((res, rej) => { s.once('error', rej); s.bind(0, host, res); });
      udp.push(s.address().port);
    }
    return { tcp, udp };
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
    for (const s of sockets) s.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Servers under test

/** Deletes namespaces left by earlier runs of these harnesses that were SIGKILLed. */
function sweepStaleNetns() {
  let names = '';
  try { names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }); } catch { return; }
  for (const line of names.split('\n')) {
    const m = /^(ianus-(?:br|brj|ai)-(\d+))\b/.exec(line.trim());
    if (!m) continue;
    let alive = true;
    try { process.kill(Number(m[2]), 0); } catch (e) { alive = e.code === 'EPERM'; }
    if (!alive) {
      try { execFileSync('ip', ['netns', 'del', m[1]], { stdio: 'ignore' }); } catch { /* raced */ }
    }
  }
}

/** A network namespace of ours: lo up, optionally a veth pair carrying 127.0.0.2/32 (jv0). */
function createNetns(prefix, { veth }) {
  sweepStaleNetns();
  const ns = `${prefix}-${process.pid}`;
  sh('ip', ['netns', 'add', ns]);
  let deleted = false;
  const del = () => {
    if (deleted) return;
    deleted = true;
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
  };
  cleanups.push(del);
  const ipn = (...a) => sh('ip', ['-n', ns, ...a]);
  try {
    ipn('link', 'set', 'lo', 'up');
    if (veth) {
      ipn('link', 'add', 'jv0', 'type', 'veth', 'peer', 'name', 'jv1');
      // No IPv6 link-local addresses: they would appear (after DAD) while Chromium runs, and
      // Chromium fails loads in flight with ERR_NETWORK_CHANGED on such address changes.
      ipn('link', 'set', 'jv0', 'addrgenmode', 'none');
      ipn('link', 'set', 'jv1', 'addrgenmode', 'none');
      ipn('addr', 'add', '127.0.0.2/32', 'dev', 'jv0');
      ipn('link', 'set', 'jv0', 'up');
      ipn('link', 'set', 'jv1', 'up');
    }
  } catch (e) {
    del();
    throw e;
  }
  return { ns, wrap: ['ip', 'netns', 'exec', ns], del };
}

/** Waits for the server to answer, probing from inside its namespace when it has one. */
async function waitReadyIn(wrap, opts, tmp) {
  if (!wrap.length) return waitReady(opts);
  const probe = spawnTracked('probe', [...wrap, process.execPath, path.join(HERE, 'probe.js'),
    JSON.stringify({ httpUrl: opts.httpUrl, wsUrl: opts.wsUrl, timeoutMs: opts.timeoutMs })], { cwd: tmp });
  let stopped = false;
  const watch = setInterval(() => { if (!opts.isAlive() && !stopped) { stopped = true; probe.stop(500); } }, 200);
  const code = await probe.exited;
  clearInterval(watch);
  if (code !== 0) throw new Error(stopped ? 'server exited before it was ready' : probe.log.tail(5));
}

// Root + iproute2: run Ianus, the page server and Chromium in a namespace that has only `lo`, so
// that nothing (not even the browser's host candidates) involves an address outside 127.0.0.0/8.
// IANUS_NETNS=0 runs them in the current namespace instead.
function ianusInNetns() {
  if (process.env.IANUS_NETNS === '0') return false;
  if (process.env.IANUS_NETNS === '1') return true;
  return process.getuid?.() === 0 && (fs.existsSync('/usr/sbin/ip') || fs.existsSync('/sbin/ip'));
}

async function startIanus(tmp) {
  const bin = path.resolve(process.env.IANUS_BIN);
  if (!fs.existsSync(bin)) throw new Error(`IANUS_BIN=${bin} does not exist (cargo build --release first)`);
  const netns = ianusInNetns() ? createNetns('ianus-br', { veth: false }) : null;
  const wrap = netns ? netns.wrap : [];
  // Chosen free here; a fresh namespace has every port free anyway.
  const { tcp: [httpPort, wsPort, adminHttpPort, adminWsPort], udp: [mediaPort] } = await freePorts(4, 1);
  const config = [
    '# generated by tests/browser/lib/harness.js',
    '[http]', `port = ${httpPort}`, '',
    '[websockets]', `port = ${wsPort}`, '',
    // test_hooks: the Admin `test_loss` request the loss test uses (tests only).
    '[admin]', `http_port = ${adminHttpPort}`, `ws_port = ${adminWsPort}`, 'test_hooks = true', '',
    '[media]', 'ip = "127.0.0.1"', `port = ${mediaPort}`, '',
  ].join('\n');
  const configFile = path.join(tmp, 'ianus.toml');
  fs.writeFileSync(configFile, config);
  const proc = spawnTracked('ianus', [...wrap, bin, '--config', configFile], {
    cwd: tmp, logFile: path.join(tmp, 'server.log'),
  });
  const httpUrl = `http://127.0.0.1:${httpPort}/janus`;
  const wsUrl = `ws://127.0.0.1:${wsPort}`;
  try {
    await waitReadyIn(wrap, { httpUrl, wsUrl, timeoutMs: 30000, isAlive: proc.alive }, tmp);
  } catch (e) {
    await proc.stop();
    netns?.del();
    throw new Error(`Ianus not ready: ${e.message}\n--- ianus log ---\n${proc.log.tail(60)}\n--- config ---\n${config}`);
  }
  return {
    mode: 'ianus', proc, httpUrl, wsUrl, wrap,
    info: { configFile, ns: netns?.ns, httpPort, wsPort, adminHttpPort, adminWsPort, mediaPort },
    stop: async () => { await proc.stop(); netns?.del(); },
  };
}

function editJanusConfig(dir) {
  const file = path.join(dir, 'janus.jcfg');
  let text = fs.readFileSync(file, 'utf8');
  const edits = [
    [/^(\s*)configs_folder\s*=.*$/m, `$1configs_folder = "${dir}"`],
    [/^(\s*)#?\s*ignore_mdns\s*=.*$/m, '$1ignore_mdns = true'],
    [/^(\s*)#?\s*ice_enforce_list\s*=\s*"eth0"\s*$/m, '$1ice_enforce_list = "jv0"'],
    // plugins { disable }: the script plugins need scripts we don't have
    [/^(\s*)#?\s*disable\s*=\s*"libjanus_voicemail\.so,libjanus_recordplay\.so"\s*$/m,
      '$1disable = "libjanus_lua.so,libjanus_duktape.so"'],
    // transports { disable }: only HTTP and WebSockets
    [/^(\s*)#?\s*disable\s*=\s*"libjanus_rabbitmq\.so"\s*$/m,
      '$1disable = "libjanus_rabbitmq.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so"'],
  ];
  for (const [re, rep] of edits) {
    if (!re.test(text)) throw new Error(`janus.jcfg: could not apply ${re} (unexpected /etc/janus/janus.jcfg)`);
    text = text.replace(re, rep);
  }
  fs.writeFileSync(file, text);
}

async function startJanusInNetns(tmp) {
  if (process.getuid && process.getuid() !== 0) throw new Error('JANUS_NETNS=1 needs root (ip netns)');
  for (const f of ['/usr/bin/janus', '/etc/janus/janus.jcfg']) {
    if (!fs.existsSync(f)) throw new Error(`${f} missing: apt-get install -y janus janus-demos`);
  }
  const { ns, wrap, del: delNs } = createNetns('ianus-brj', { veth: true });

  const conf = path.join(tmp, 'janus-conf');
  fs.mkdirSync(conf);
  for (const f of fs.readdirSync('/etc/janus')) {
    if (f.endsWith('.jcfg')) fs.copyFileSync(path.join('/etc/janus', f), path.join(conf, f));
  }
  editJanusConfig(conf);
  // A fresh namespace: Janus's default ports are free there.
  const httpUrl = 'http://127.0.0.1:8088/janus';
  const wsUrl = 'ws://127.0.0.1:8188';
  const proc = spawnTracked('janus', [...wrap, '/usr/bin/janus', '-F', conf, '-C', path.join(conf, 'janus.jcfg'),
    '-o', '-i', '127.0.0.2'], { cwd: tmp, logFile: path.join(tmp, 'server.log') });

  try {
    await waitReadyIn(wrap, { httpUrl, wsUrl, timeoutMs: 30000, isAlive: proc.alive }, tmp);
  } catch (e) {
    await proc.stop();
    delNs();
    throw new Error(`Janus not ready in netns ${ns}: ${e.message}\n--- janus log ---\n${proc.log.tail(60)}`);
  }
  return {
    mode: 'janus', proc, httpUrl, wsUrl, wrap, info: { ns },
    stop: async () => { await proc.stop(); delNs(); },
  };
}

export function findDemosDir() {
  if (process.env.JANUS_DEMOS_DIR) return process.env.JANUS_DEMOS_DIR;
  try {
    const files = sh('dpkg', ['-L', 'janus-demos']).split('\n');
    const echo = files.find((f) => f.endsWith('/echotest.html'));
    if (echo) return path.dirname(echo);
  } catch { /* not installed */ }
  return null;
}

async function startStatic(target, tmp, demosDir) {
  const opts = { wsUrl: target.wsUrl, httpUrl: target.httpUrl, demosDir };
  const proc = spawnTracked('static', [...target.wrap, process.execPath, path.join(HERE, 'static-server.js'),
    JSON.stringify(opts)], { cwd: tmp, stdin: 'pipe' });
  const port = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.child.stdout });
    rl.once('line', (line) => { try { resolve(JSON.parse(line).port); } catch (e) { reject(e); } });
    proc.exited.then((c) => reject(new Error(`static server exited (${c}): ${proc.log.tail(10)}`)));
  });
  return { proc, base: `http://127.0.0.1:${port}`, stop: () => proc.stop(2000) };
}

async function launchBrowser(target, tmp, extraFlags = []) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: apt-get install -y chromium`);
  let executablePath = CHROMIUM;
  if (target.wrap.length) {
    executablePath = path.join(tmp, 'chromium-in-netns.sh');
    fs.writeFileSync(executablePath, `#!/bin/sh\nexec ${target.wrap.join(' ')} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  }
  return chromium.launch({
    executablePath, headless: true, chromiumSandbox: false, args: [...CHROMIUM_FLAGS, ...extraFlags], timeout: 30000,
  });
}

// ---------------------------------------------------------------------------------------------

/** Flag that makes headless Chromium answer getDisplayMedia with a synthetic 1280x720 screen. */
export const SCREEN_CAPTURE_FLAGS = ['--auto-select-desktop-capture-source=Entire screen'];

/**
 * Starts the server under test, the page server and Chromium (with `chromiumFlags` added to
 * CHROMIUM_FLAGS, e.g. SCREEN_CAPTURE_FLAGS).
 */
export async function startEnvironment({ chromiumFlags = [] } = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ianus-browser-'));
  if (!process.env.KEEP_TMP) cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
  let target = null;
  let statik = null;
  let browser = null;
  const demosDir = findDemosDir();
  const env = {
    tmp,
    async stop() {
      const errs = [];
      for (const f of [() => browser?.close(), () => statik?.stop(), () => target?.stop()]) {
        try { await f(); } catch (e) { errs.push(e); }
      }
      browser = null; statik = null; target = null;
      if (!process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
      if (errs.length) throw errs[0];
    },
  };
  try {
    if (process.env.IANUS_BIN) target = await startIanus(tmp);
    else if (process.env.JANUS_NETNS === '1') target = await startJanusInNetns(tmp);
    else throw new Error('set IANUS_BIN=path/to/ianus (the Ianus binary) or JANUS_NETNS=1 (Debian Janus in a netns)');
    statik = await startStatic(target, tmp, demosDir);
    browser = await launchBrowser(target, tmp, chromiumFlags);
  } catch (e) {
    await env.stop().catch(() => {});
    throw e;
  }
  Object.assign(env, {
    mode: target.mode,
    target,
    demosDir,
    staticBase: statik.base,
    browser,
    serverUrl: (transport) => (transport === 'ws' ? target.wsUrl : target.httpUrl),
    serverLog: (n = 80) => (target ? target.proc.log.tail(n) : '(stopped)'),
    /**
     * ffmpeg receiving one SRTP stream (SDES key in the SDP's a=crypto line, RFC 4568) in the
     * server's network namespace and decoding it; stopped after the test. `rtpmap` is e.g.
     * "100 VP8/90000"; `suite` "AES_CM_128_HMAC_SHA1_80" or "_32"; `keyB64` the inline key;
     * without `suite`, plain RTP. Returns {port, frames(), size(), log()}: frames() is the
     * count of frames ffmpeg decoded so far, size() the decoded video size ({width, height},
     * from the stream ffmpeg reports once it has decoded a keyframe) or null before.
     */
    async ffmpegSrtpSink(t, { media = 'video', rtpmap, suite, keyB64 }) {
      // An even port (RTCP on port + 1), random: the namespace has nothing else on it.
      const port = 40000 + 2 * Math.floor(Math.random() * 9000);
      const pt = rtpmap.split(' ')[0];
      const sdp = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=srtp forwarder', 'c=IN IP4 127.0.0.1', 't=0 0',
        `m=${media} ${port} ${suite ? 'RTP/SAVP' : 'RTP/AVP'} ${pt}`, `a=rtpmap:${rtpmap}`,
        ...(suite ? [`a=crypto:1 ${suite} inline:${keyB64}`] : []), ''].join('\r\n');
      const file = path.join(tmp, `srtp-${port}.sdp`);
      fs.writeFileSync(file, sdp);
      const proc = spawnTracked('ffmpeg-srtp', [...target.wrap, 'ffmpeg', '-hide_banner', '-nostdin',
        '-protocol_whitelist', 'file,udp,rtp,srtp', '-i', file, '-progress', 'pipe:1', '-f', 'null', '-'],
      { cwd: tmp });
      t.after(() => proc.stop(2000));
      let frames = 0;
      let size = null;
      readline.createInterface({ input: proc.child.stdout }).on('line', (line) => {
        const m = /^frame=(\d+)/.exec(line);
        if (m) frames = Number(m[1]);
      });
      readline.createInterface({ input: proc.child.stderr }).on('line', (line) => {
        const m = /Stream #\d+:\d+.*Video: .*?(\d{2,5})x(\d{2,5})/.exec(line);
        if (m && !size) size = { width: Number(m[1]), height: Number(m[2]) };
      });
      return { port, frames: () => frames, size: () => size, log: () => proc.log.tail(30), alive: proc.alive };
    },
    /**
     * A UDP receiver (lib/udp-sink.js) in the server's network namespace, so that the server's
     * plain RTP (rtp_forward) reaches it; stopped after the test. Returns {port, packets}
     * where packets fills with the RTP header fields of each datagram received.
     */
    async udpSink(t) {
      const proc = spawnTracked('udp-sink', [...target.wrap, process.execPath, path.join(HERE, 'udp-sink.js')],
        { cwd: tmp, stdin: 'pipe' });
      t.after(() => proc.stop(2000));
      const packets = [];
      const port = await new Promise((resolve, reject) => {
        const rl = readline.createInterface({ input: proc.child.stdout });
        rl.on('line', (line) => {
          let v;
          try { v = JSON.parse(line); } catch { return; }
          if (v.port !== undefined && v.len === undefined) resolve(v.port);
          else packets.push(v);
        });
        proc.exited.then((c) => reject(new Error(`udp sink exited (${c}): ${proc.log.tail(10)}`)));
      });
      return { port, packets };
    },
    /**
     * A page in a fresh context; closed after the test. Console output kept for diagnostics.
     * trackPcs: every RTCPeerConnection the page creates is kept in window.__pcs (for
     * getStats() on PCs a demo keeps private).
     */
    async newPage(t, { trackPcs = false } = {}) {
      const context = await browser.newContext();
      const page = await context.newPage();
      if (trackPcs) await page.addInitScript(() => {
        const Orig = window.RTCPeerConnection;
        if (!Orig || Orig.__tracked) return;
        window.__pcs = [];
        class Tracked extends Orig {
          constructor(...args) { super(...args); window.__pcs.push(this); }
        }
        Tracked.__tracked = true;
        window.RTCPeerConnection = Tracked;
      });
      const consoleLog = new Ring(300);
      page.on('console', (m) => consoleLog.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => consoleLog.push(`[pageerror] ${e.message}`));
      page.on('requestfailed', (r) => consoleLog.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText}`));
      page.consoleLog = consoleLog;
      t.after(() => context.close().catch(() => {}));
      return page;
    },
  });
  return env;
}
