import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
// @ts-expect-error: a plain .mjs script without declarations.
import { checkImports } from '../../scripts/check-imports.mjs';

type Check = { files: number; edges: number; problems: string[] };

/** A throwaway src/ tree: path → source text. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'geolens-imports-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function check(files: Record<string, string>): Check {
  const root = tree(files);
  try {
    return checkImports(root) as Check;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('the repository: rooms in order, no cycles', () => {
  const { files, edges, problems } = checkImports(process.cwd()) as Check;
  assert.equal(problems, []);
  assert.ok(files > 100 && edges > 300, `${files} files, ${edges} imports`);
});

test('an upward import is named by its edge; a downward one is fine', () => {
  const { problems } = check({
    'src/runtime/a.ts': "import { m } from '../model/m.js';\nexport const a = m;\n",
    'src/model/m.ts': "export const m = 1;\n",
    'src/api/x.ts': "import { m } from '../model/m.js';\nexport const x = m;\n",
  });
  assert.equal(problems, ['src/runtime/a.ts → src/model/m.ts: upward import (runtime sits below model)']);
});

test('a cycle is found through dynamic and type-only imports, and comments are not imports', () => {
  const { problems } = check({
    'src/model/a.ts': "// import { c } from './c.js';\nexport async function a() { return (await import('./b.js')).b; }\n",
    'src/model/b.ts': "import type { C } from './c.js';\nexport const b: C = 1;\n",
    'src/model/c.ts': "export { a } from './a.js';\nexport type C = number;\n",
  });
  assert.equal(problems, ['cycle of files: src/model/a.ts → src/model/b.ts → src/model/c.ts → src/model/a.ts']);
});

test('sibling folders leaning on each other are a cycle even without a file cycle', () => {
  const { problems } = check({
    'src/weights/formats/f.ts': "import { h } from '../hub/h.js';\nexport const f = h;\n",
    'src/weights/formats/g.ts': "export const g = 1;\n",
    'src/weights/hub/h.ts': "export const h = 1;\n",
    'src/weights/hub/i.ts': "import { g } from '../formats/g.js';\nexport const i = g;\n",
  });
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^cycle of folders: src\/weights\/(formats|hub) → /);
});

test('an import of a missing file and a folder outside the room order are problems', () => {
  const { problems } = check({
    'src/model/a.ts': "import { z } from './z.js';\nexport const a = z;\n",
    'src/attic/old.ts': "export const old = 1;\n",
  });
  assert.equal(problems.sort(), [
    "src/attic/old.ts: room 'attic' is not in ROOM_ORDER (scripts/check-imports.mjs)",
    'src/model/a.ts → ./z.js: no such file',
  ]);
});

test.run();
