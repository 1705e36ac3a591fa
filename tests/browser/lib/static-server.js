// A tiny static HTTP server (node:http) for the browser tests.
//
// Serves, on 127.0.0.1 and a free port:
//   /page/...        our own pages (tests/browser/page: EchoTest, AudioBridge)
//   /vendor/...      tests/browser/node_modules (janus-gateway, webrtc-adapter from npm)
//   /demos-ws/...    Debian's janus-demos, unchanged, except settings.js pointing at the WS URL
//   /demos-http/...  the same, with settings.js pointing at the HTTP URL
//
// Used in-process (startStaticServer) or as a child process (`node static-server.js '<json>'`),
// which prints `{"port":N}` on its first stdout line and exits when its stdin closes; the child
// form lets it run inside the network namespace of the server under test.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BROWSER_DIR = path.resolve(HERE, '..');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.eot': 'application/vnd.ms-fontobject',
  '.wav': 'audio/wav',
};

/** Debian's settings.js, unchanged, plus the lines the tests need (see testing.md). */
function demoSettings(demosDir, serverUrl) {
  let original = '';
  try {
    original = fs.readFileSync(path.join(demosDir, 'settings.js'), 'utf8');
  } catch {
    original = 'var server = null;\nvar iceServers = null;\n';
  }
  return `${original}\n// --- appended by the Ianus test harness ---\n` +
    `server = ${JSON.stringify(serverUrl)};\nvar token, apisecret;\niceServers = [];\n`;
}

/**
 * @param {{wsUrl: string, httpUrl: string, demosDir?: string|null, host?: string}} opts
 * @returns {Promise<{port: number, close: () => Promise<void>}>}
 */
export function startStaticServer(opts) {
  const roots = {
    '/page/': path.join(BROWSER_DIR, 'page'),
    '/vendor/': path.join(BROWSER_DIR, 'node_modules'),
  };
  const demos = {};
  if (opts.demosDir) {
    demos['/demos-ws/'] = opts.wsUrl;
    demos['/demos-http/'] = opts.httpUrl;
  }

  const server = http.createServer((req, res) => {
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      return send(400, 'bad url');
    }
    if (pathname.includes('\0')) return send(400, 'bad url');
    if (pathname === '/favicon.ico') { res.writeHead(204); return res.end(); }

    let base = null;
    let dir = null;
    let demoServer = null;
    for (const [prefix, d] of Object.entries(roots)) {
      if (pathname.startsWith(prefix)) { base = prefix; dir = d; }
    }
    for (const [prefix, url] of Object.entries(demos)) {
      if (pathname.startsWith(prefix)) { base = prefix; dir = opts.demosDir; demoServer = url; }
    }
    if (!base) return send(404, 'not found');

    const rel = path.posix.normalize(pathname.slice(base.length));
    if (rel.startsWith('..') || path.isAbsolute(rel)) return send(403, 'forbidden');
    if (demoServer && rel === 'settings.js') {
      return send(200, demoSettings(dir, demoServer), MIME['.js']);
    }
    let file = path.join(dir, rel === '.' ? '' : rel);
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        file = path.join(file, 'index.html');
      }
      fs.readFile(file, (err2, data) => {
        if (err2) return send(404, 'not found');
        send(200, req.method === 'HEAD' ? '' : data, MIME[path.extname(file).toLowerCase()] || 'application/octet-stream');
      });
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host || '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        port,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

// Child-process form.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = JSON.parse(process.argv[2] || '{}');
  const srv = await startStaticServer(opts);
  process.stdout.write(JSON.stringify({ port: srv.port }) + '\n');
  // Exit with the parent: our stdin is a pipe from it.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
}
