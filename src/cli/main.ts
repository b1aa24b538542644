// The `geolens` command: one file per subcommand under commands/. Dawn keeps Node's event loop alive,
// so every command ends the process itself.
import { Command } from 'commander';
import { GeolensError } from '../runtime/errors.js';
import { registerBuildConcepts } from './commands/build-concepts.js';
import { registerConvert } from './commands/convert.js';
import { registerFitConcepts } from './commands/fit-concepts.js';
import { registerInfo } from './commands/info.js';
import { registerLocate } from './commands/locate.js';

const program = new Command();
program.name('geolens').description('Where on Earth was this photo taken, and why (GeoCLIP + geographic concepts, in WGSL).');
registerLocate(program);
registerFitConcepts(program);
registerBuildConcepts(program);
registerInfo(program);
registerConvert(program);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
    process.exit(0);
  } catch (error) {
    const e = error as Error;
    // Our errors carry a message meant for people; anything else gets its stack.
    console.error(e instanceof GeolensError ? `geolens: ${e.name}: ${e.message}` : e.stack ?? String(e));
    process.exit(1);
  }
}

await main();
