/** WGSL sources are inlined as strings by esbuild's text loader (see build.mjs). */
declare module '*.wgsl' {
  const source: string;
  export default source;
}
