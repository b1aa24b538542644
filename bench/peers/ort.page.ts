// The onnxruntime-web page of the peer benchmark: loads ORT's WebGPU build (which also runs the wasm EP)
// from the loopback server and exposes window.peer = OrtWork for the EP named in the page's ?ep=.
import type * as Ort from 'onnxruntime-common';
import { OrtWork, type Ep } from './ort-work.js';

const ep = (new URLSearchParams(location.search).get('ep') ?? 'webgpu') as Ep;
const ortUrl = '/ort/ort.webgpu.min.mjs';
const ort = (await import(/* @vite-ignore */ ortUrl)) as typeof Ort;
ort.env.wasm.wasmPaths = '/ort/';
// One thread, as a page without cross-origin isolation gets (and as ORT's default falls back to here).
ort.env.wasm.numThreads = Number(new URLSearchParams(location.search).get('threads') ?? 1);
ort.env.logLevel = 'error';
(window as unknown as { peer: OrtWork }).peer = new OrtWork(ort, ep);
(window as unknown as { ready: boolean }).ready = true;
