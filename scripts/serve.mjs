// A small static file server for the demo page (localhost only).
// Usage: node scripts/serve.mjs [port] [root] — or import { serve } for tests.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json',
  '.png': 'image/png', '.safetensors': 'application/octet-stream', '.ts': 'text/plain',
};

/** Serves `mounts` ({ '/url/prefix': '/dir' }, longest prefix wins) on 127.0.0.1:port. */
export function serve(mounts, port = 0) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server = createServer((req, res) => {
    // A bug in the handler must cost one request, never the whole server.
    handle(req, res).catch(() => {
      if (res.headersSent) return res.destroy();
      reply(res, 500, 'internal error');
    });
  });

  async function handle(req, res) {
    // The raw request target up to any query, not `new URL(...)`: that would read a
    // leading `//x` as a host name.
    let path;
    try {
      path = decodeURIComponent(req.url.replace(/[?#].*$/s, ''));
    } catch {
      return reply(res, 400, 'malformed percent-escape in path');
    }
    // The file system would stop at a NUL (or reject it); either way it's never a real name.
    if (path.includes('\0')) return reply(res, 400, 'NUL byte in path');
    const prefix = prefixes.find((p) => path.startsWith(p));
    if (prefix === undefined) return reply(res, 404, 'not found: ' + path);
    // Decoding can turn `%2f`, `%5c` and `%2e` into separators and `..` segments, so the
    // check is on the resolved file: it must be the mount root or lie under it. A plain
    // prefix test would let `/www-other` pass for root `/www`, hence the trailing separator.
    const root = resolve(mounts[prefix]);
    let file = resolve(join(root, path.slice(prefix.length)));
    if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) {
      return reply(res, 403, 'forbidden');
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      reply(res, 404, 'not found: ' + path);
    }
  }

  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

function reply(res, status, text) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] || 8080);
  const root = resolve(process.argv[3] || join(fileURLToPath(import.meta.url), '../../www'));
  await serve({ '/': root }, port);
  console.log(`serving ${root} at http://127.0.0.1:${port}/  (Ctrl-C to stop)`);
}
