import { test } from 'uvu';
import { queueScenario } from '../support/queue-scenario.js';

// The full 200 jobs run in `npm run test:stress` (test/stress/queue.test.ts); here a shorter queue, the same checks.
const JOBS = Number(process.env.GEOLENS_QUEUE_JOBS ?? 48);

test(`${JOBS} jobs on a real redis-server, two workers, one SIGKILLed mid-run: every result once, equal to locate(); corrupt images fail with their reason`, async () => {
  await queueScenario(JOBS);
});

test.run();
