// TypeDoc drives TypeScript's JavaScript API, which TypeScript 7 (native, the repository's `typescript`)
// no longer has; 5 is kept as `typescript-5`. Registered with `node --import`, this hands TypeDoc that
// one, so `npm run docs:api` needs no second copy of the compiler.
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

// Loaded twice: by --import on the main thread (which registers it), then as the hooks module in the
// loader's own thread (which only needs resolve below).
if (isMainThread) register(import.meta.url, import.meta.url);

export async function resolve(specifier, context, next) {
  if (specifier === 'typescript' && context.parentURL?.includes('/node_modules/typedoc/')) return next('typescript-5', context);
  return next(specifier, context);
}
