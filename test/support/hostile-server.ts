// An HTTP server on 127.0.0.1 that misbehaves the ways image URLs do in the wild: a body that trickles,
// one that never ends, a Content-Length of 10 GB, a server that never answers. For the reader, batch,
// CLI and queue tests of readImage()'s limits.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HostileServer {
  url: string;
  /** Body bytes the server has sent so far, over all requests. */
  sent(): number;
  close(): Promise<void>;
}

/** `good` is served at /good.png; `trickleMs` is the gap between the single bytes of /trickle.png. */
export async function startHostileServer(good: Uint8Array, trickleMs = 300): Promise<HostileServer> {
  let sent = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setInterval>>();
  const chunk = new Uint8Array(64 << 10).fill(0x42);
  // Streams chunks for as long as the client reads (respecting backpressure), forever.
  const flood = (response: ServerResponse) => {
    const pump = () => {
      while (!response.destroyed) {
        sent += chunk.length;
        if (!response.write(chunk)) return void response.once('drain', pump);
      }
    };
    pump();
  };
  const every = (ms: number, response: ServerResponse, bytes: Uint8Array) => {
    const timer = setInterval(() => {
      if (response.destroyed) return void clearInterval(timer);
      sent += bytes.length;
      response.write(bytes);
    }, ms);
    timers.add(timer);
    response.on('close', () => clearInterval(timer));
  };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    // Pages served from another loopback port (the browser tests) may read it.
    response.setHeader('Access-Control-Allow-Origin', '*');
    if (path === '/good.png') return void response.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': good.length }).end(good);
    if (path === '/silent.png') return; // accepted, never answered
    if (path === '/trickle.png') {
      response.writeHead(200, { 'Content-Type': 'image/png' });
      response.write(good.subarray(0, 1));
      sent++;
      return every(trickleMs, response, new Uint8Array([0]));
    }
    if (path === '/steady.png') {
      // 4 KiB every 100 ms: never idle, but never done.
      response.writeHead(200, { 'Content-Type': 'image/png' });
      return every(100, response, new Uint8Array(4096));
    }
    if (path === '/endless.png') {
      response.writeHead(200, { 'Content-Type': 'image/png' });
      return flood(response);
    }
    if (path === '/huge.png') {
      response.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(10 * 1024 ** 3) });
      return flood(response);
    }
    response.writeHead(404).end('not found');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearInterval(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
