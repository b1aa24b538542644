#!/usr/bin/env bash
# The GPU suite on whatever adapter Dawn finds (GEMM ladder, the tuner at the ViT shapes, ViT GEMMs and
# attention as tuned, copy bandwidth,
# gallery search, ViT-B/32 and ViT-L/14 image embeddings), each kernel as a fraction of the adapter's
# measured ceiling (FMA or copy bandwidth, whichever bounds it) and of the card's fp32 peak; JSON under bench/results/gpu-<adapter>.json names the adapter. Under 8 minutes on a hardware GPU.
#
#   bench/gpu.sh            full suite
#   bench/gpu.sh --quick    smoke test (small shapes, B/32 only): runs end to end on SwiftShader
#
# GEOLENS_PEAK_GFLOPS / GEOLENS_PEAK_GBS override the peak table (bench/gpu/peaks.ts); GPU_BENCH_OUT
# names the JSON file.
set -euo pipefail
cd "$(dirname "$0")/.."
node build.mjs --bench gpu/ >/dev/null
exec node --enable-source-maps "${GEOLENS_BUILD_DIR:-.build}/bench/gpu/gpu.bench.mjs" "$@"
