#!/usr/bin/env bash
# Installs everything geolens needs on Debian/Ubuntu, then the npm dependencies. Safe to run again.
#   chromium             ships SwiftShader (the software WebGPU device) and runs the browser tests
#   libvulkan1           the Vulkan loader Dawn opens
#   redis-server         the queue tests (BullMQ): .ci/run starts one on a loopback port, or each test its own
#   python3-torch/numpy/pil + libopenblas0-pthread
#                        regenerate the golden fixtures that are too big to commit (a few seconds)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(chromium libvulkan1 redis-server python3-torch python3-numpy python3-pil python3-regex libopenblas0-pthread)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# onnxruntime-node (peer benchmarks only) ships its CPU binary; its install script would fetch GPU builds.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
