// Loopback static server for the peer benchmark: streams files (ViT-L/14 weights are 1.2 GB) with Range
// support, and sends cross-origin-isolation headers so a page may use SharedArrayBuffer (wasm threads).
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

export interface PeerServer {
  url: string;
  close(): Promise<void>;
}

/** Serves `roots` (url prefix → folder) and `pages` (url path → HTML) on 127.0.0.1. */
export async function startPeerServer(roots: Record<string, string>, pages: Record<string, string>): Promise<PeerServer> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const headers: Record<string, string> = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Accept-Ranges': 'bytes' };
    if (pages[path] !== undefined) {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(pages[path]);
      return;
    }
    const prefix = Object.keys(roots).find((p) => path.startsWith(p));
    const file = prefix ? join(roots[prefix]!, normalize(path.slice(prefix.length)).replace(/^(\.\.[/\\])+/, '')) : '';
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404, headers).end('not found');
      return;
    }
    const size = statSync(file).size;
    const type = TYPES[/\.[a-z]+$/.exec(file)?.[0] ?? ''] ?? 'application/octet-stream';
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) {
        response.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` }).end();
        return;
      }
      response.writeHead(206, { ...headers, 'Content-Type': type, 'Content-Length': String(end - start + 1), 'Content-Range': `bytes ${start}-${end}/${size}` });
      createReadStream(file, { start, end }).pipe(response);
      return;
    }
    response.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': String(size) });
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
