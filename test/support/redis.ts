// The Redis the queue tests run on. CI (.ci/run) starts one redis-server on a loopback port of its own and
// names it in GEOLENS_TEST_REDIS; each test then takes a queue name of its own there and deletes its keys
// when it stops. Without it (a plain `npm test`), a private redis-server is started on a free loopback port
// with a temp folder and no persistence, and stopped by stop(). Debian's redis-server (scripts/install.sh).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  url: string;
  /** A queue name no other test run uses on this server. */
  queue: string;
  /** Which server it is, for the test's log. */
  origin: string;
  stop(): Promise<void>;
}

export function redisServerPath(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
  });
}

export async function startRedis(): Promise<TestRedis> {
  const queue = `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const shared = process.env.GEOLENS_TEST_REDIS;
  return shared ? sharedRedis(shared, queue) : privateRedis(queue);
}

async function sharedRedis(url: string, queue: string): Promise<TestRedis> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  await client.connect().catch((error: Error) => {
    client.disconnect();
    throw new Error(`GEOLENS_TEST_REDIS=${url} does not answer: ${error.message}`);
  });
  return {
    url,
    queue,
    origin: 'GEOLENS_TEST_REDIS',
    async stop() {
      // BullMQ's keys and the result hashes of this queue (and of queues named after it), nothing else.
      for (const pattern of [`bull:${queue}*`, `geolens:${queue}*`]) {
        const keys: string[] = [];
        for await (const batch of client.scanStream({ match: pattern, count: 500 })) keys.push(...(batch as string[]));
        for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
      }
      await client.quit();
    },
  };
}

async function privateRedis(queue: string): Promise<TestRedis> {
  const binary = redisServerPath();
  if (!binary) throw new Error('redis-server is not installed (scripts/install.sh installs it: apt-get install redis-server)');
  const dir = mkdtempSync(join(tmpdir(), 'geolens-redis-'));
  const port = await freePort();
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'yes'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await answersPing(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start on 127.0.0.1:${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    queue,
    origin: 'started by the test',
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
