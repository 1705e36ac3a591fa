// Readiness probe for a Janus-protocol server: HTTP `info` answered with `server_info`, and a
// WebSocket (subprotocol janus-protocol) on which `create` is answered with `success` (the
// session is destroyed again). Node 20 has no WebSocket client, so a minimal one is here.
//
// In-process: `await waitReady({httpUrl, wsUrl, timeoutMs})`.
// Child form (to probe inside a network namespace): `node probe.js '<json opts>'`, exit 0 = ready.

import http from 'node:http';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function httpJson(url, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': data.length },
      timeout: timeoutMs,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(new Error(`HTTP ${res.statusCode}: not JSON (${e.message})`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('HTTP request timed out')));
    req.on('error', reject);
    req.end(data);
  });
}

function wsFrame(text) {
  const payload = Buffer.from(text, 'utf8');
  const mask = crypto.randomBytes(4);
  let header;
  if (payload.length < 126) {
    header = Buffer.from([0x81, 0x80 | payload.length]);
  } else {
    header = Buffer.alloc(4);
    header[0] = 0x81; header[1] = 0x80 | 126; header.writeUInt16BE(payload.length, 2);
  }
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ mask[i % 4];
  return Buffer.concat([header, mask, masked]);
}

/** Opens a janus-protocol WebSocket; returns {send(obj), next(): Promise<obj>, close()}. */
export function wsConnect(wsUrl, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const u = new URL(wsUrl);
    const req = http.request({
      host: u.hostname, port: u.port || 80, path: u.pathname + u.search,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
        'Sec-WebSocket-Protocol': 'janus-protocol',
      },
      timeout: timeoutMs,
    });
    req.on('timeout', () => req.destroy(new Error('WebSocket upgrade timed out')));
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`)));
    req.on('upgrade', (res, socket, head) => {
      const proto = res.headers['sec-websocket-protocol'];
      if (proto !== 'janus-protocol') {
        socket.destroy();
        return reject(new Error(`WebSocket subprotocol is ${JSON.stringify(proto)}, expected janus-protocol`));
      }
      let buf = head || Buffer.alloc(0);
      const queue = [];
      const waiters = [];
      let closed = null;
      const pump = () => {
        for (;;) {
          if (buf.length < 2) return;
          const op = buf[0] & 0x0f;
          let len = buf[1] & 0x7f;
          let off = 2;
          if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
          else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
          if (buf.length < off + len) return;
          const payload = buf.subarray(off, off + len);
          buf = buf.subarray(off + len);
          if (op === 0x1) {
            let msg;
            try { msg = JSON.parse(payload.toString('utf8')); } catch { msg = { unparsable: payload.toString('utf8') }; }
            if (waiters.length) waiters.shift().resolve(msg); else queue.push(msg);
          } else if (op === 0x8) {
            closed = new Error('WebSocket closed by server');
            while (waiters.length) waiters.shift().reject(closed);
          }
        }
      };
      socket.on('data', (d) => { buf = Buffer.concat([buf, d]); pump(); });
      socket.on('close', () => {
        closed = closed || new Error('WebSocket connection closed');
        while (waiters.length) waiters.shift().reject(closed);
      });
      socket.on('error', () => {});
      pump();
      resolve({
        send: (obj) => socket.write(wsFrame(JSON.stringify(obj))),
        next: (ms = timeoutMs) => {
          if (queue.length) return Promise.resolve(queue.shift());
          if (closed) return Promise.reject(closed);
          return new Promise((res2, rej2) => {
            const w = { resolve: (m) => { clearTimeout(t); res2(m); }, reject: (e) => { clearTimeout(t); rej2(e); } };
            const t = setTimeout(() => {
              const i = waiters.indexOf(w); if (i >= 0) waiters.splice(i, 1);
              rej2(new Error('no WebSocket message in time'));
            }, ms);
            waiters.push(w);
          });
        },
        close: () => { try { socket.end(Buffer.from([0x88, 0x80, 0, 0, 0, 0])); } catch { /* gone */ } socket.destroy(); },
      });
    });
    req.end();
  });
}

/** One probe round; throws with the reason when not ready. */
export async function probeOnce({ httpUrl, wsUrl }, timeoutMs = 3000) {
  const info = await httpJson(httpUrl, { janus: 'info', transaction: 'probe-info' }, timeoutMs);
  if (info.janus !== 'server_info') throw new Error(`HTTP info answered ${JSON.stringify(info).slice(0, 200)}`);
  const ws = await wsConnect(wsUrl, timeoutMs);
  try {
    ws.send({ janus: 'create', transaction: 'probe-create' });
    const created = await ws.next(timeoutMs);
    if (created.janus !== 'success') throw new Error(`WS create answered ${JSON.stringify(created).slice(0, 200)}`);
    const sid = created.session_id || created.data?.id;
    if (sid) {
      ws.send({ janus: 'destroy', session_id: sid, transaction: 'probe-destroy' });
      await ws.next(timeoutMs).catch(() => {});
    }
  } finally {
    ws.close();
  }
  return info;
}

/** Polls until the server answers on both transports, or throws at the deadline. */
export async function waitReady({ httpUrl, wsUrl, timeoutMs = 30000, isAlive = () => true }) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`server exited before it was ready (${last?.message || 'no answer yet'})`);
    try {
      return await probeOnce({ httpUrl, wsUrl }, Math.min(3000, Math.max(500, deadline - Date.now())));
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200)); // poll interval
  }
  throw new Error(`server not ready after ${timeoutMs} ms: ${last?.message}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = JSON.parse(process.argv[2] || '{}');
  try {
    await waitReady(opts);
    process.exit(0);
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
}
