/** True in Node (and runtimes that present themselves as Node); false in browsers and workers. */
export function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}
