declare const __GEOLENS_VERSION__: string | undefined;

/** package.json's version, inlined by build.mjs; unbundled runs (tsc, tests from source) say so. */
export const GEOLENS_VERSION: string = typeof __GEOLENS_VERSION__ === 'string' ? __GEOLENS_VERSION__ : '0.0.0-unbundled';
