import { test } from 'uvu';
import { queueScenario } from '../support/queue-scenario.js';

// `npm run test:stress`: the queue scenario of test/queue (200 jobs in `npm test`) on 1,000 jobs.
test('1,000 jobs on a real redis-server, two workers, one SIGKILLed mid-run: every result once, equal to locate(); corrupt images fail with their reason', async () => {
  await queueScenario(1000);
});

test.run();
