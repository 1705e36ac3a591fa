// A UDP receiver for forwarded RTP, run as a child process so that it can live in the server's
// network namespace: `node udp-sink.js [host]` binds host (default 127.0.0.1) on a free port,
// prints `{"port":N}`, then one JSON line per received datagram with its RTP header fields
// ({len, v, pt, marker, seq, ts, ssrc}), at most MAX_LINES of them. Exits when stdin closes.

import dgram from 'node:dgram';

const MAX_LINES = 2000;
const host = process.argv[2] || '127.0.0.1';
const sock = dgram.createSocket('udp4');
let n = 0;
sock.on('message', (m) => {
  if (n >= MAX_LINES) return;
  n++;
  const h = m.length >= 12
    ? { len: m.length, v: m[0] >> 6, pt: m[1] & 0x7f, marker: m[1] >> 7, seq: m.readUInt16BE(2),
      ts: m.readUInt32BE(4), ssrc: m.readUInt32BE(8) }
    : { len: m.length };
  process.stdout.write(JSON.stringify(h) + '\n');
});
sock.bind(0, host, () => {
  process.stdout.write(JSON.stringify({ port: sock.address().port }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
