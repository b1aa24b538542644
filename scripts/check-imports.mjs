#!/usr/bin/env node
// Reads every import in src/ (static, dynamic, `import type`, `export … from`) and fails on an import
// that points up the room order below or on any cycle, printing each offending edge as
// `from → to`. The order is the architecture (docs/ARCHITECTURE.md): a room may import its own files
// and the rooms before it, never one after it.
//
//   node scripts/check-imports.mjs          # exits 1 and lists the edges when the house is out of order
//
// Type-only imports count: a type that lives in a higher room still ties the lower room to it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Lowest first. */
export const ROOM_ORDER = ['runtime', 'io', 'kernels', 'weights', 'image', 'model', 'geo', 'api', 'batch', 'queue', 'eval', 'cli'];

/** Files counted in a room other than their folder's (none today: every file sits in its room). */
const ROOM_OF_FILE = {};

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every relative import and re-export in `text` (comments removed first): its specifier, and whether it is type-only. */
export function importsOf(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const found = [];
  for (const match of code.matchAll(/\b(import|export)\b([^'"`;]*?)\bfrom\s*['"]([^'"]+)['"]/g)) {
    const clause = match[2].trim();
    const names = /^\{([^}]*)\}$/.exec(clause)?.[1].split(',').map((n) => n.trim()).filter(Boolean);
    const typeOnly = clause.startsWith('type ') || (names !== undefined && names.length > 0 && names.every((n) => n.startsWith('type ')));
    found.push({ specifier: match[3], typeOnly });
  }
  for (const match of code.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ specifier: match[1], typeOnly: false });
  for (const match of code.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) found.push({ specifier: match[1], typeOnly: false });
  return found.filter((f) => f.specifier.startsWith('.'));
}

/**
 * Type-only imports allowed to close a cycle, each with its reason. Types are erased at build time, so
 * these are no load-order cycle; they are listed so that no other one slips in.
 */
const ALLOWED_TYPE_CYCLES = [
  // A tensor knows the device that made it (tensor.gpu.empty, .dispatch…); the device makes tensors.
  ['src/runtime/tensor.ts', 'src/runtime/gpu.ts'],
];

const posix = (path) => path.split(sep).join('/');

/** The room of a repository path: its first folder under src/ (or the override), null outside src/. */
export function roomOf(path) {
  if (ROOM_OF_FILE[path]) return ROOM_OF_FILE[path];
  const match = /^src\/([^/]+)\//.exec(path);
  return match ? match[1] : null;
}

/** Sub-room: the folder a file sits in (src/weights/formats, src/model/clip, …). */
const subRoomOf = (path) => (ROOM_OF_FILE[path] ? `src/${ROOM_OF_FILE[path]}` : posix(dirname(path)));

export function checkImports(root = repo) {
  const files = sourceFiles(join(root, 'src')).map((f) => posix(relative(root, f)));
  const known = new Set(files);
  const edges = [];
  const problems = [];
  for (const file of files) {
    for (const { specifier, typeOnly } of importsOf(readFileSync(join(root, file), 'utf8'))) {
      const target = posix(relative(root, resolve(root, dirname(file), specifier))).replace(/\.js$/, '.ts');
      if (!target.startsWith('src/')) continue; // shaders/*.wgsl, package.json
      const resolved = known.has(target) ? target : known.has(`${target}/index.ts`) ? `${target}/index.ts` : null;
      if (!resolved) {
        problems.push(`${file} → ${specifier}: no such file`);
        continue;
      }
      edges.push([file, resolved, typeOnly]);
    }
  }
  for (const file of files) {
    if (!ROOM_ORDER.includes(roomOf(file))) problems.push(`${file}: room '${roomOf(file)}' is not in ROOM_ORDER (scripts/check-imports.mjs)`);
  }
  for (const [from, to] of edges) {
    const a = ROOM_ORDER.indexOf(roomOf(from));
    const b = ROOM_ORDER.indexOf(roomOf(to));
    if (b > a) problems.push(`${from} → ${to}: upward import (${roomOf(from)} sits below ${roomOf(to)})`);
  }
  const allowed = (from, to, typeOnly) => typeOnly && ALLOWED_TYPE_CYCLES.some(([a, b]) => a === from && b === to);
  const counted = edges.filter(([from, to, typeOnly]) => !allowed(from, to, typeOnly));
  for (const cycle of cycles(counted)) problems.push(`cycle of files: ${cycle.join(' → ')}`);
  // Folders: sibling rooms (weights/formats, weights/hub) must not lean on each other; a folder and the
  // folder it sits in share files both ways (a room's index re-exports, its sub-rooms use its dtypes).
  const related = (a, b) => a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
  const folderEdges = counted.map(([from, to]) => [subRoomOf(from), subRoomOf(to)]).filter(([a, b]) => a !== b && !related(a, b));
  for (const cycle of cycles(folderEdges)) {
    const witness = cycle.slice(1).map((to, i) => counted.find(([f, t]) => subRoomOf(f) === cycle[i] && subRoomOf(t) === to).slice(0, 2).join(' → '));
    problems.push(`cycle of folders: ${cycle.join(' → ')} (${witness.join('; ')})`);
  }
  return { files: files.length, edges: edges.length, problems };
}

/** One cycle per strongly connected component with more than one node (or a self-loop), as a closed path. */
function cycles(edges) {
  const next = new Map();
  for (const [a, b] of edges) {
    if (!next.has(a)) next.set(a, new Set());
    next.get(a).add(b);
    if (!next.has(b)) next.set(b, new Set());
  }
  // Tarjan's algorithm, iterative so deep import chains cannot overflow the stack.
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  let counter = 0;
  for (const start of next.keys()) {
    if (index.has(start)) continue;
    const work = [[start, [...next.get(start)], 0]];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length) {
      const frame = work[work.length - 1];
      const [node, children] = frame;
      if (frame[2] < children.length) {
        const child = children[frame[2]++];
        if (!index.has(child)) {
          index.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push([child, [...next.get(child)], 0]);
        } else if (onStack.has(child)) low.set(node, Math.min(low.get(node), index.get(child)));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(node)));
      }
      if (low.get(node) === index.get(node)) {
        const component = [];
        let member;
        do {
          member = stack.pop();
          onStack.delete(member);
          component.push(member);
        } while (member !== node);
        if (component.length > 1 || next.get(node).has(node)) components.push(component);
      }
    }
  }
  return components.map((component) => closedPath(component, next));
}

/** A shortest cycle through the component's first file by name, found by breadth-first search inside it. */
function closedPath(component, next) {
  const inside = new Set(component);
  const start = [...component].sort()[0]; // the same cycle always starts at the same file
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const node = queue.shift();
    for (const child of next.get(node)) {
      if (!inside.has(child)) continue;
      if (child === start) {
        const path = [start];
        for (let at = node; at !== start; at = previous.get(at)) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!previous.has(child)) {
        previous.set(child, node);
        queue.push(child);
      }
    }
  }
  return [start, start];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { files, edges, problems } = checkImports();
  if (problems.length) {
    console.error(`check-imports: ${problems.length} problem(s) in ${files} files:`);
    for (const problem of problems) console.error(`  ${problem}`);
    process.exit(1);
  }
  console.log(`check-imports: ${files} files, ${edges} imports, rooms in order (${ROOM_ORDER.join(' → ')}), no cycles`);
}
