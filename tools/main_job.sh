#!/usr/bin/env bash
# The main job on the embedded default model (SmolLM2-135M-Instruct): export it to an ExecuTorch
# 8da4w artifact, check it against the PyTorch reference, profile it on the emulated device, and
# end with the report.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/setup.sh
artifact="out/smollm2-135m-executorch-8da4w"
run="runs/smollm2-135m-8da4w-$(date +%Y%m%d-%H%M%S)"
.venv/bin/slm-edge export smollm2-135m --quant 8da4w --group-size 32 --embedding-quant 8w --max-seq-len 1024 --out "$artifact"
.venv/bin/slm-edge verify "$artifact"
.venv/bin/slm-edge profile "$artifact" --emulated --prompt-lengths 32,128,512 --decode-tokens 64 --repeats 3 --warmup 1 --threads 2 --out "$run"
cat "$run/report.md"
