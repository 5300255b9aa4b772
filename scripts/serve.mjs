// A small static file server for the demo page (localhost only).
// Usage: node scripts/serve.mjs [port] [root] — or import { serve } for tests.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json',
  '.png': 'image/png', '.safetensors': 'application/octet-stream', '.ts': 'text/plain',
};

/** Serves `mounts` ({ '/url/prefix': '/dir' }, longest prefix wins) on 127.0.0.1:port. */
export function serve(mounts, port = 0) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const prefix = prefixes.find((p) => path.startsWith(p));
    const rel = normalize(path.slice(prefix.length)).replace(/^(\.\.[/\\])+/, '');
    let file = join(mounts[prefix], rel);
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: ' + path);
    }
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] || 8080);
  const root = resolve(process.argv[3] || join(fileURLToPath(import.meta.url), '../../www'));
  await serve({ '/': root }, port);
  console.log(`serving ${root} at http://127.0.0.1:${port}/  (Ctrl-C to stop)`);
}
