import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.csv': 'text/csv',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

export interface ServedFile {
  body: Uint8Array;
  /** Close the connection after sending this many body bytes (once per file, then serve normally). */
  cutAfter?: number;
}

export interface TestServer {
  url: string;
  files: Map<string, ServedFile>;
  /** Every request seen: method, path and Range header. */
  log: { method: string; path: string; range: string | null; status: number }[];
  /** When false the server ignores Range and always answers 200. */
  ranges: boolean;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 with Range support, serving in-memory files; for reader and download tests. */
export async function startServer(files: Record<string, string | Uint8Array> = {}): Promise<TestServer> {
  const served = new Map<string, ServedFile>();
  for (const [path, source] of Object.entries(files)) served.set(path, { body: typeof source === 'string' ? new Uint8Array(readFileSync(source)) : source });
  const state: TestServer = { url: '', files: served, log: [], ranges: true, close: async () => {} };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const file = served.get(path);
    const range = request.headers.range ?? null;
    const respond = (status: number): void => void state.log.push({ method: request.method ?? 'GET', path, range, status });
    if (!file) {
      respond(404);
      response.writeHead(404).end('not found');
      return;
    }
    const size = file.body.byteLength;
    const etag = `"${createHash('sha1').update(file.body).digest('hex').slice(0, 16)}"`;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const match = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
    const ifRange = request.headers['if-range'];
    if (state.ranges && match && (!ifRange || ifRange === etag)) {
      start = Number(match[1]);
      end = match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
      if (start >= size) {
        respond(416);
        response.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
    }
    respond(status);
    const type = path === '/' ? 'text/html' : (CONTENT_TYPES[/\.[a-z]+$/.exec(path)?.[0] ?? ''] ?? 'application/octet-stream');
    const headers: Record<string, string> = { 'Content-Length': String(end - start + 1), 'Content-Type': type, ETag: etag, 'Accept-Ranges': state.ranges ? 'bytes' : 'none' };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    response.writeHead(status, headers);
    const body = file.body.subarray(start, end + 1);
    if (file.cutAfter !== undefined && file.cutAfter < body.byteLength) {
      const cut = file.cutAfter;
      file.cutAfter = undefined;
      // Send part of the body, then drop the connection: an interrupted download.
      response.write(body.subarray(0, cut), () => setTimeout(() => request.socket.destroy(), 20));
      return;
    }
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}`;
  state.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return state;
}
