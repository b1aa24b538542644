// `geolens queue add | status | results`: fill a BullMQ queue on Redis with images and collect what
// the workers (`geolens worker`) found. Logic in src/queue/.
import type { Command } from 'commander';
import { collectResults, enqueue, queueStatus, DEFAULT_QUEUE } from '../../queue/index.js';
import { positiveInteger } from '../options.js';
import { checkOutputTarget } from '../output-target.js';

export function redisOptions(command: Command): Command {
  return command
    .option('--redis <url>', 'Redis that holds the queue (default $GEOLENS_REDIS or redis://127.0.0.1:6379)', process.env.GEOLENS_REDIS)
    .option('--queue <name>', 'queue name, so collections can share one Redis', DEFAULT_QUEUE);
}

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('a job queue on Redis shared by `geolens worker` processes on any number of machines');

  redisOptions(
    queue
      .command('add')
      .description('queue one job per image (paths, folders, quoted globs, list files, URLs); adding again is a no-op')
      .argument('<inputs...>', 'images: workers elsewhere need the same absolute paths (shared storage) or URLs')
      .option('--attempts <n>', 'tries per job before it counts as failed (backoff 1 s, 2 s, 4 s …)', positiveInteger, 3),
  ).action(async (inputs: string[], flags: { redis?: string; queue: string; attempts: number }) => {
    const summary = await enqueue(inputs, { redis: flags.redis, queue: flags.queue, attempts: flags.attempts });
    console.log(`${summary.images} images: ${summary.queued} queued, ${summary.done} already done`);
  });

  redisOptions(queue.command('status').description('job counts, stored results and recent failures'))
    .option('--json', 'print JSON')
    .action(async (flags: { redis?: string; queue: string; json?: boolean }) => {
      const status = await queueStatus({ redis: flags.redis, queue: flags.queue });
      if (flags.json) return console.log(JSON.stringify(status));
      console.log(`waiting ${status.waiting}  active ${status.active}  delayed ${status.delayed}  failed ${status.failed}  results ${status.results}  errors ${status.errors}  workers ${status.workers}`);
      for (const failure of status.recentFailures) console.log(`  failed ${failure.image}: ${failure.reason}`);
    });

  redisOptions(
    queue
      .command('results')
      .description('write every stored result and error as JSON lines, the lines `geolens locate --out` writes (places merged and named, or raw rows when the workers ran with --no-merge --no-names); `image` is the absolute path or URL queued'),
  )
    .option('--out <results.jsonl>', 'file to write (replaced); default stdout')
    .action(async (flags: { redis?: string; queue: string; out?: string }) => {
      if (flags.out) await checkOutputTarget(flags.out, '--out');
      const counts = await collectResults({ redis: flags.redis, queue: flags.queue, out: flags.out });
      if (flags.out) console.error(`wrote ${counts.results} results and ${counts.errors} errors to ${flags.out}`);
    });
}
