#!/usr/bin/env bash
# Runs inside android-emulator-runner with the emulator booted: export a tiny random-weight model,
# install the APK with slm-edge, profile on the emulator, leave the report in ci-out/report.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out="$root/ci-out"
mkdir -p "$out"
serial="${ANDROID_SERIAL:-emulator-5554}"
slm=".venv/bin/slm-edge"

# A tiny model with a real architecture (SmolLM2's Llama layout, 2 layers, hidden 64, vocab 320):
# the emulator runs it in seconds, and the whole host/app/trace path is exercised.
.venv/bin/python - "$out/tiny-model" <<'PY'
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from slm_edge.model.cards import load_card

config = dict(load_card("smollm2-135m").config)
config.update(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
              intermediate_size=128, vocab_size=320, max_position_embeddings=256, bos_token_id=1, eos_token_id=2)
model_type = config.pop("model_type")
torch.manual_seed(0)
AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **config)).save_pretrained(sys.argv[1])
PY
"$slm" export "$out/tiny-model" --backend executorch --quant fp32 --max-seq-len 128 --out "$out/tiny-pte" 2>&1 | tee "$out/export.log"

apk="android_app/app/build/outputs/apk/release/app-release.apk"
"$slm" app install --device "$serial" --apk "$apk" 2>&1 | tee "$out/install.log"

# The installed app states its identity without running anything (android_app/README.md).
adb -s "$serial" shell am instrument -w -r -e query identity dev.slmedge.profiler/.ProfilerInstrumentation \
    | tr -d '\r' | tee "$out/identity.log"
grep -q '^INSTRUMENTATION_RESULT: identity={' "$out/identity.log" && grep -q '^INSTRUMENTATION_CODE: -1$' "$out/identity.log" \
    || { echo "the app did not answer -e query identity" >&2; exit 1; }

"$slm" profile "$out/tiny-pte" --device "$serial" --prompt-lengths 8,32 --decode-tokens 16 \
    --repeats 2 --warmup 1 --threads 2 --timeout 900 --out "$out/report" 2>&1 | tee "$out/profile.log"

test -s "$out/report/trace.json" || { echo "no trace came back" >&2; exit 1; }
