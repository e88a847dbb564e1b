#!/usr/bin/env bash
# The main job on the embedded default model (SmolLM2-135M-Instruct): export it to an ONNX int4
# artifact (onnxruntime-genai's builder: seconds), check it against the PyTorch reference, profile
# it on the emulated device with plain onnxruntime and our own KV-cache loop (what the phone runs),
# and end with the report. The ExecuTorch 8da4w export takes ~10 minutes on 2 cores: see README.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/setup.sh
artifact="out/smollm2-135m-onnx-int4"
run="runs/smollm2-135m-onnx-int4-$(date +%Y%m%d-%H%M%S)"
.venv/bin/slm-edge export --recipe export_recipes/default-onnx-int4.yaml --out "$artifact"
.venv/bin/slm-edge verify "$artifact"
.venv/bin/slm-edge eval "$artifact"  # perplexity, KL and top-1 vs PyTorch over the shipped prose corpus
.venv/bin/slm-edge profile "$artifact" --emulated --engine onnxruntime --prompt-lengths 32,128,512 --decode-tokens 64 \
    --repeats 3 --warmup 1 --threads 2 --out "$run"
cat "$run/report.md"
