import { test } from 'uvu';
import { queueScenario } from '../support/queue-scenario.js';

// `npm run test:stress` runs the same scenario on 1,000 jobs (test/stress/queue.test.ts).
const JOBS = Number(process.env.GEOLENS_QUEUE_JOBS ?? 200);

test(`${JOBS} jobs on a real redis-server, two workers, one SIGKILLed mid-run: every result once, equal to locate(); corrupt images fail with their reason`, async () => {
  await queueScenario(JOBS);
});

test.run();
