import { isNode } from '../runtime/env.js';

/**
 * In a browser (page, worker or extension), a location without a scheme — '/models/config.json',
 * './w.safetensors' — is a URL relative to the document (document.baseURI) or the worker script
 * (location.href), as it is for fetch and <img src>; it comes back absolute. In Node, and for anything
 * with a scheme (https:, hf:, blob:, data:), the location is returned as it is.
 */
export function resolveAgainstPage(location: string): string {
  if (isNode() || /^[a-z][a-z0-9+.-]*:/i.test(location)) return location;
  const scope = globalThis as { document?: { baseURI?: string }; location?: { href?: string } };
  const base = scope.document?.baseURI ?? scope.location?.href;
  return base ? new URL(location, base).href : location;
}
