import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import * as assert from 'uvu/assert';
import { startServer, type TestServer } from './server.js';

/** Debian's Chromium, on SwiftShader: the same software Vulkan device Dawn uses in Node. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--use-angle=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Where `node build.mjs --tests` put the bundle of a test page, e.g. pageBundle('model/image-browser'). */
export function pageBundle(name: string): string {
  return join(process.env.GEOLENS_BUILD_DIR || '.build', 'test', `${name}.page.js`);
}

/** url path → file for every file under `dir`, for serving a built folder. */
export function filesUnder(prefix: string, dir: string): Record<string, string> {
  const walk = (d: string): string[] => readdirSync(d).flatMap((name) => (statSync(join(d, name)).isDirectory() ? walk(join(d, name)) : [join(d, name)]));
  return Object.fromEntries(walk(dir).map((file) => [`${prefix}${relative(dir, file)}`, file]));
}

export interface BrowserRun {
  page: Page;
  server: TestServer;
  /** Uncaught exceptions on the page. */
  errors: string[];
  /** console.error lines, including the browser's own reports of failed requests. */
  consoleErrors: string[];
}

/**
 * Serves `files` (url path → bytes or a file path, read now so a concurrent rebuild cannot pull them
 * away) on 127.0.0.1 with Range support, opens `path` in headless Chromium and hands the page to `use`;
 * everything is closed afterwards, pass or fail.
 */
export async function withBrowserPage<T>(files: Record<string, string | Uint8Array>, path: string, use: (run: BrowserRun) => Promise<T>): Promise<T> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  const server = await startServer(files);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    const consoleErrors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (line) => line.type() === 'error' && consoleErrors.push(line.text()));
    await page.goto(`${server.url}${path}`);
    return await use({ page, server, errors, consoleErrors });
  } finally {
    await browser.close();
    await server.close();
  }
}

/** An HTML page that loads one module script. */
export function modulePage(script: string): Uint8Array {
  return new TextEncoder().encode(`<!doctype html><meta charset="utf-8"><script type="module" src="${script}"></script>`);
}

/** Waits until the page sets `window[name]` and returns it; a `{ error }` result fails the test with its message. */
export async function pageResult<T>(run: BrowserRun, name: string, timeout = 240_000): Promise<T> {
  await run.page.waitForFunction((key) => (window as unknown as Record<string, unknown>)[key] !== undefined, name, { timeout });
  const result = await run.page.evaluate((key) => (window as unknown as Record<string, unknown>)[key], name);
  assert.equal(run.errors, [], 'page errors');
  if (result && typeof result === 'object' && 'error' in result) assert.unreachable(`browser run failed: ${(result as { error: string }).error}`);
  return result as T;
}
