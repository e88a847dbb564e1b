"""The real embedded default (SmolLM2-135M-Instruct) through the 8da4w fast path. Minutes: marked slow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_default_answers_the_france_question_through_8da4w(tmp_path):
    out = tmp_path / "default-8da4w"
    exported = subprocess.run(
        [sys.executable, "-m", "slm_edge", "export", "smollm2-135m", "--quant", "8da4w", "--group-size", "32",
         "--embedding-quant", "8w", "--max-seq-len", "256", "--out", str(out)],
        capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["kind"] == "default" and manifest["export_path"] == "executorch-llm"
    assert manifest["architecture"]["layers"] == 30 and manifest["architecture"]["vocab_size"] == 49152
    verified = subprocess.run([sys.executable, "-m", "slm_edge", "verify", str(out)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    result = json.loads((out / "verify.json").read_text())
    assert "Paris" in result["artifact_text"]
    assert result["mean_kl"] < 0.5
