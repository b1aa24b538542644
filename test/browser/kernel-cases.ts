// Every kernel family, on seeded inputs, for the Node-vs-Chromium comparison (browser.test.ts). Shapes are
// odd on purpose (not multiples of any tile) and small enough that the page finishes in seconds.
import { attention } from '../../src/kernels/attention.js';
import { conceptProbabilities } from '../../src/kernels/concept.js';
import { visionEmbeddings } from '../../src/kernels/embeddings.js';
import { forceGemmVariant, GEMM_VARIANTS, linear, type Activation } from '../../src/kernels/gemm.js';
import { l2Normalize } from '../../src/kernels/l2-normalize.js';
import { layerNorm } from '../../src/kernels/layernorm.js';
import { locationFeatures, uploadGps } from '../../src/kernels/location-features.js';
import { patchEmbed } from '../../src/kernels/patch-embed.js';
import { searchTopK } from '../../src/kernels/search.js';
import { softmax } from '../../src/kernels/softmax.js';
import { floatsToHalves, type Gpu, type Tensor } from '../../src/runtime/index.js';
import { randomArray } from '../support/numeric.js';
import { registerCase } from './cases.js';
import './quantized-cases.js';

function input(gpu: Gpu, shape: number[], seed: number, scale = 1): Tensor {
  return gpu.upload(randomArray(shape.reduce((a, b) => a * b, 1), seed, scale), shape);
}

const activations: Activation[] = ['none', 'relu', 'gelu', 'quick_gelu'];
for (const variant of GEMM_VARIANTS.filter((v) => !v.minSubgroup)) { // subgroup kernels need 8-lane subgroups; SwiftShader has 4
  registerCase(`linear.${variant.name}`, async (gpu) => {
    forceGemmVariant(gpu, variant.name);
    try {
      const activation = activations[GEMM_VARIANTS.indexOf(variant) % activations.length]!;
      return linear(input(gpu, [3, 37, 45], 10), input(gpu, [29, 45], 11, 0.2), { bias: input(gpu, [29], 12), activation });
    } finally {
      forceGemmVariant(gpu, null);
    }
  });
}
registerCase('linear.f16-weights', async (gpu) => {
  const weight = gpu.upload(floatsToHalves(randomArray(29 * 44, 13, 0.2)), [29, 44], 'f16');
  return linear(input(gpu, [37, 44], 14), weight, { activation: 'quick_gelu' });
});
registerCase('layerNorm', async (gpu) => layerNorm(input(gpu, [3, 17, 65], 20, 3), input(gpu, [65], 21), input(gpu, [65], 22)));
registerCase('softmax', async (gpu) => softmax(input(gpu, [5, 77], 30, 8)));
registerCase('l2Normalize', async (gpu) => l2Normalize(input(gpu, [7, 512], 40)));
registerCase('attention', async (gpu) => attention(input(gpu, [2, 13, 3 * 64], 50), 4));
registerCase('attention.causal', async (gpu) => attention(input(gpu, [1, 11, 3 * 32], 51), 2, { causal: true }));
registerCase('patchEmbed+visionEmbeddings', async (gpu) => {
  const patches = patchEmbed(input(gpu, [2, 3, 16, 16], 60), input(gpu, [24, 3, 8, 8], 61, 0.1), 8);
  return visionEmbeddings(patches, input(gpu, [24], 62), input(gpu, [5, 24], 63));
});
registerCase('locationFeatures', async (gpu) => {
  const gps = uploadGps(gpu, new Float32Array([21.9, -159.5, -33.9, 151.2, 48.85, 2.35, 0, 0, -89.9, 179.9]));
  const [a, b, c] = locationFeatures(gps, input(gpu, [3, 256, 2], 70, 3));
  const out = new Float32Array([...(await a.read()), ...(await b.read()), ...(await c.read())]);
  return out;
});
registerCase('searchTopK', async (gpu) => {
  const gallery = l2Normalize(input(gpu, [3001, 64], 80));
  const queries = l2Normalize(input(gpu, [2, 64], 81));
  const result = await searchTopK(queries, gallery, { k: 7, scale: 39.7 });
  return new Float32Array([...result.indices, ...result.logits, ...result.logSumExp, ...result.probabilities]);
});
registerCase('conceptProbabilities', async (gpu) =>
  conceptProbabilities(l2Normalize(input(gpu, [6, 64], 90)), l2Normalize(input(gpu, [9, 64], 91)), { tau: 0.05 }),
);
