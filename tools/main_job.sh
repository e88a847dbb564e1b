#!/usr/bin/env bash
# The main job on the embedded default model: export SmolLM2-135M-Instruct to an ExecuTorch
# 8da4w artifact, then run it here against the PyTorch reference.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/setup.sh
out="${1:-out/smollm2-135m-executorch-8da4w}"
.venv/bin/slm-edge export smollm2-135m --quant 8da4w --group-size 32 --embedding-quant 8w --max-seq-len 1024 --out "$out"
.venv/bin/slm-edge verify "$out"
