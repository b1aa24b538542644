// The `geolens` command: one file per subcommand under commands/. Dawn keeps Node's event loop alive,
// so every command ends the process itself.
import { Command } from 'commander';
import { GeolensError } from '../runtime/errors.js';
import { registerBuildConcepts } from './commands/build-concepts.js';
import { registerCache } from './commands/cache.js';
import { registerEval } from './commands/eval.js';
import { registerConvert } from './commands/convert.js';
import { registerFitConcepts } from './commands/fit-concepts.js';
import { registerInfo } from './commands/info.js';
import { registerLocate } from './commands/locate.js';
import { registerQueue } from './commands/queue.js';
import { registerTune } from './commands/tune.js';
import { registerWorker } from './commands/worker.js';
import { GEOLENS_VERSION } from './version.js';
import { imageReadLimits } from '../image/read.js';

// --debug is taken out before commander sees it, so it works anywhere on the line, with any command.
const debug = process.argv.includes('--debug') || process.env.GEOLENS_DEBUG === '1';
const argv = process.argv.filter((arg) => arg !== '--debug');

// The image-URL timeouts for this process, in milliseconds (docs/LIMITS.md): slow links raise them, tests lower them.
const URL_TIMEOUTS = { GEOLENS_URL_CONNECT_MS: 'connectTimeoutMs', GEOLENS_URL_IDLE_MS: 'idleTimeoutMs', GEOLENS_URL_TOTAL_MS: 'totalTimeoutMs' } as const;
for (const [variable, limit] of Object.entries(URL_TIMEOUTS)) {
  const value = process.env[variable];
  if (value === undefined || value === '') continue;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms <= 0) {
    console.error(`geolens: ${variable}=${value} is not a positive number of milliseconds`);
    process.exit(1);
  }
  imageReadLimits[limit] = ms;
}

const program = new Command();
program.name('geolens').description('Where on Earth was this photo taken, and why (GeoCLIP + geographic concepts, in WGSL).').version(GEOLENS_VERSION);
program.addHelpText('after', '\nAny command also takes --debug: print the stack of an error, not only its one-line message.');
registerLocate(program);
registerFitConcepts(program);
registerBuildConcepts(program);
registerInfo(program);
registerQueue(program);
registerWorker(program);
registerEval(program);
registerCache(program);
registerTune(program);

/**
 * One line for people: `geolens: <what>`. Our errors say what went wrong and what to do; anything else
 * (a platform error that escaped) is shown by its first line with a pointer to --debug for the stack.
 */
function describeError(error: unknown, withStack: boolean): string {
  const e = error instanceof Error ? error : new Error(String(error));
  if (withStack) return `geolens: ${e.stack ?? e.message}`;
  const message = (e.message || e.name).split('\n').map((line) => line.trim()).filter(Boolean).join(' ');
  const what = e instanceof GeolensError ? `${e.name}: ${message}` : `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${message} (unexpected error; run again with --debug for the stack)`;
  return `geolens: ${what}`;
}
registerConvert(program);

async function main(): Promise<void> {
  try {
    await program.parseAsync(argv);
    process.exit(0);
  } catch (error) {
    console.error(describeError(error, debug));
    process.exit(1);
  }
}

// Errors that escape the command's promise chain (a rejected promise nobody awaited) end the same way.
process.on('unhandledRejection', (error) => {
  console.error(describeError(error, debug));
  process.exit(1);
});
process.on('uncaughtException', (error) => {
  console.error(describeError(error, debug));
  process.exit(1);
});

await main();
