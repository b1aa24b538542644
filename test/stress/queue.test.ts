import { test } from 'uvu';
import { queueScenario } from '../support/queue-scenario.js';

// `npm run test:stress`: the queue scenario at full size (test/queue runs a shorter one in `npm test`).
test('200 jobs on a real redis-server, two workers, one SIGKILLed mid-run: every result once, equal to locate(); corrupt images fail with their reason', async () => {
  await queueScenario(200);
});

test.run();
