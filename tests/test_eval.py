"""`slm-edge eval`: corpora, llama.cpp's figure definitions, the cached reference, every engine, the
phone path through the emulated device, bad input, and what reads eval.json (recommend, Pareto)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from slm_edge.quality import figures
from slm_edge.quality.corpus import CORPORA_DIR, shipped_corpora
from slm_edge.quality.reference import decode, encode

from conftest import export_tiny, save_tiny_model
from helpers import run_cli, synthetic_trace, write_run

QUICK = ["--tokens", "96", "--context", "32"]


def eval_json(*args) -> dict:
    result = run_cli("eval", *args, "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- the shipped corpora -------------------------------------------------------------------------------

def test_shipped_corpora_are_what_their_sources_say():
    corpora = shipped_corpora()
    assert {"prose", "dialogue", "code"} <= set(corpora)
    genres = set()
    for name, entry in corpora.items():
        data = (CORPORA_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert entry["license"] in ("public-domain", "PSF-2.0") and entry["source_url"] and entry["license_note"]
        genres.add(entry["genre"])
    assert len(genres) >= 2
    assert corpora["prose"]["tokens_smollm2"] >= 20_000  # the eval tests below tokenize it with the same tokenizer


# --- figures: llama.cpp's definitions ------------------------------------------------------------------

def _scores(rng, chunks=3, length=63, vocab=50, noise=0.3):
    reference = [rng.normal(0, 3, (length, vocab)) for _ in range(chunks)]
    artifact = [r + rng.normal(0, noise, r.shape) for r in reference]
    targets = [rng.integers(0, vocab, length) for _ in range(chunks)]

    def logp(x):
        x = x - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    ref_lp, art_lp = [logp(r) for r in reference], [logp(a) for a in artifact]
    scores = figures.PositionScores(
        [-lp[np.arange(length), t] for lp, t in zip(ref_lp, targets)],
        [-lp[np.arange(length), t] for lp, t in zip(art_lp, targets)],
        [(np.exp(r) * (r - a)).sum(-1) for r, a in zip(ref_lp, art_lp)],
        [r.argmax(-1) for r in reference], [a.argmax(-1) for a in artifact])
    return scores


def test_summary_scores_the_second_half_with_llama_cpp_formulas():
    rng = np.random.default_rng(0)
    scores = _scores(rng)
    context = 64
    first = figures.first_scored(context)
    s = figures.summary(scores, first)
    # llama.cpp scores logits at first .. n_ctx-2: n_ctx - 1 - first tokens a chunk
    assert s["scored_tokens"] == 3 * (context - 1 - first)
    ref = np.concatenate([a[first:] for a in scores.reference_nll])
    art = np.concatenate([a[first:] for a in scores.artifact_nll])
    kl = np.concatenate([a[first:] for a in scores.kl])
    assert math.isclose(s["ppl_artifact"], math.exp(art.mean()))
    assert math.isclose(s["ppl_ratio"], math.exp(art.mean() - ref.mean()))
    assert math.isclose(s["kl_p99"], float(np.sort(kl)[int(0.99 * (len(kl) - 1))] * (1 - (0.99 * (len(kl) - 1)) % 1)
                                       + np.sort(kl)[int(0.99 * (len(kl) - 1)) + 1] * ((0.99 * (len(kl) - 1)) % 1)))
    assert math.isclose(s["kl_max"], kl.max()) and 0 < s["top1_agreement"] < 1
    # what happens before the scored half moves the by-position rows, never the headline figures
    scores.kl[0][:first] += 5
    assert figures.summary(scores, first) == s
    rows = figures.by_position(scores, context)
    assert rows[0]["positions"] == [0, 1] and rows[-1]["positions"][1] == context - 1
    assert sum(r["tokens"] for r in rows) == 3 * (context - 1)
    assert rows[0]["kl_mean"] > 5 / 3  # one chunk of three moved by 5


def test_identical_scores_mean_no_difference():
    scores = _scores(np.random.default_rng(1), noise=0.0)
    s = figures.summary(scores, 32)
    assert s["ppl_ratio"] == 1.0 and s["top1_agreement"] == 1.0 and abs(s["kl_mean"]) < 1e-12


def test_cached_reference_logits_keep_kl_below_1e_7():
    rng = np.random.default_rng(2)
    logits = (rng.normal(0, 4, (64, 4096)) + rng.normal(0, 10, (64, 1))).astype(np.float32)
    restored = decode(*encode(logits))

    def logp(x):
        x = x.astype(np.float64) - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    exact, rounded = logp(logits), logp(restored)
    assert (np.exp(exact) * (exact - rounded)).sum(-1).max() < 1e-7
    assert (exact.argmax(-1) == rounded.argmax(-1)).all()


# --- eval on this machine ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_with_tokenizer(tmp_path_factory) -> Path:
    """A tiny Llama with the default's real tokenizer (49,152 tokens), so real text is scored."""
    from slm_edge.model.sources import resolve_source

    folder = save_tiny_model(tmp_path_factory.mktemp("tiny-tokenizer"), "smollm2-135m", vocab_size=49152)
    for file in resolve_source("smollm2-135m").tokenizer_dir.iterdir():
        if file.name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(file, folder / file.name)
    return folder


@pytest.fixture(scope="module")
def text_onnx(tiny_with_tokenizer, tmp_path_factory) -> Path:
    return export_tiny(tiny_with_tokenizer, tmp_path_factory.mktemp("eval") / "text-onnx", backend="onnx",
                       quant="fp32", max_seq_len=64)


def test_fp32_onnx_matches_its_reference_over_real_text_and_caches_the_reference(text_onnx):
    first = eval_json(text_onnx, *QUICK)
    s = first["summary"]
    assert s["kl_mean"] < 1e-4 and s["top1_agreement"] >= 0.999 and abs(s["ppl_ratio"] - 1) < 1e-3
    assert first["corpus"]["name"] == "prose" and first["note"] is None and first["feed"] == "prefill"
    assert s["scored_tokens"] >= 96 and first["chunks"] == math.ceil(96 / (32 - 1 - 16))
    assert not first["timing"]["reference_cached"]
    stored = json.loads((text_onnx / "eval.json").read_text())
    assert stored["latest"] == first["key"] and "scores" in stored["results"][first["key"]]
    # the same settings again: the reference's logits come from the cache, the figures are the same,
    # one token a step gives the prefill's figures (another entry)
    again = eval_json(text_onnx, *QUICK)
    assert again["timing"]["reference_cached"] and again["summary"]["kl_mean"] == pytest.approx(s["kl_mean"], abs=1e-9)
    steps = eval_json(text_onnx, *QUICK, "--feed", "steps")
    assert steps["key"] != first["key"] and steps["summary"]["top1_agreement"] >= 0.999
    code = eval_json(text_onnx, *QUICK, "--corpus", "code")
    assert code["corpus"]["name"] == "code" and code["summary"]["ppl_reference"] != s["ppl_reference"]
    assert len(json.loads((text_onnx / "eval.json").read_text())["results"]) == 3


def test_user_text_and_jsonl_prompts(text_onnx, tmp_path):
    text = tmp_path / "mine.txt"
    text.write_text((CORPORA_DIR / "dialogue.txt").read_text()[:20_000])
    plain = eval_json(text_onnx, "--text", text, *QUICK)
    assert plain["corpus"]["name"] == "mine"
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps({"text": line}) for line in [
        "How do I reset my phone to factory settings without losing my photos?",
        "Write a short poem about the sea at night, in four lines.",
        "What is the difference between RAM and storage on a phone?"]) + "\n")
    per_prompt = eval_json(text_onnx, "--text", prompts, "--context", "32")
    assert per_prompt["chunks"] == 3 and per_prompt["first_scored_position"] == 0  # a prompt is scored whole
    assert per_prompt["summary"]["top1_agreement"] >= 0.999


def test_one_prompt_jsonl_is_a_prompt_and_text_needs_a_tokenizer(text_onnx, tiny_llama_onnx, tmp_path):
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps("Why is the sky blue during the day but red at sunset?") + "\n")
    entry = eval_json(text_onnx, "--text", one, "--context", "32")
    assert entry["chunks"] == 1 and entry["first_scored_position"] == 0 and entry["summary"]["scored_tokens"] > 5
    refused = run_cli("eval", tiny_llama_onnx, "--text", one, timeout=300)
    assert refused.returncode == 2 and "has no tokenizer, so no text can be scored" in refused.stderr


def test_profile_after_eval_records_the_figures_in_its_reports(text_onnx, tmp_path):
    folder = tmp_path / "artifact"
    shutil.copytree(text_onnx, folder)
    eval_json(folder, "--tokens", "96", "--context", "32")  # a smoke test: not a figure reports compare on
    entry = eval_json(folder, "--tokens", "1024")  # the default corpus and context: comparable
    result = run_cli("profile", folder, "--emulated", "--prompt-lengths", "8", "--decode-tokens", "4", "--repeats", "1",
                     "--warmup", "0", "--threads", "1", "--out", tmp_path / "run", timeout=600)
    assert result.returncode == 0, result.stderr
    quality = json.loads((tmp_path / "run" / "trace.json").read_text())["host"]["artifact"]["quality"]
    assert quality["kl_mean"] == entry["summary"]["kl_mean"] and quality["context"] == 64
    assert "Quality (`slm-edge eval`, corpus prose, " in (tmp_path / "run" / "report.md").read_text()


def test_every_engine(tiny_llama_onnx, tiny_llama_pte):
    """No tokenizer (random weights): a fixed token stream is scored, and the result says so. Engines
    that return every position's logits take a chunk in one forward; a .pte without them steps."""
    for artifact, engine, feed in ((tiny_llama_pte, "executorch", "steps"),
                                   (tiny_llama_onnx, "onnxruntime", "prefill"),
                                   (tiny_llama_onnx, "onnxruntime-genai", "prefill"),
                                   (tiny_llama_onnx, "onnxruntime-genai", "steps")):
        entry = eval_json(artifact, *QUICK, "--engine", engine, *(["--feed", feed] if feed == "steps" else []))
        assert entry["engine"] == engine and entry["corpus"]["name"] == "fixed-token-stream"
        assert entry["feed"] == feed and "no tokenizer" in entry["note"]
        assert entry["summary"]["kl_mean"] < 1e-4 and entry["summary"]["top1_agreement"] >= 0.999, engine
    refused = run_cli("eval", tiny_llama_pte, *QUICK, "--feed", "prefill", timeout=300)
    assert refused.returncode == 2 and "returns the last position's logits only" in refused.stderr
    assert "--full-logits" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_a_pte_with_full_logits_scores_a_chunk_in_one_forward(tiny_llama, tmp_path):
    """executorch's generate_full_logits: forward returns [1, n, vocab]; one forward per chunk gives the
    figures one token a step gives, and the profile (which takes the last position) still runs."""
    import torch

    from slm_edge.records.manifest import Manifest
    from slm_edge.runtime.executorch_llm import EtLlm

    folder = export_tiny(tiny_llama, tmp_path / "full", quant="fp32", embedding_quant="none", max_seq_len=64,
                         full_logits=True)
    manifest = Manifest.read(folder)
    assert manifest.runtime.full_logits and "every position" in manifest.runtime.outputs[0]
    chunk = list(range(3, 35))
    llm = EtLlm(folder / manifest.model_file, full_logits=True)
    at_once, stepped = llm.logits_along(chunk), llm.logits_along(chunk, "steps")
    assert at_once.shape == stepped.shape == (31, manifest.architecture.vocab_size)
    assert torch.allclose(at_once, stepped, atol=1e-4) and not torch.allclose(at_once[0], at_once[1])
    entry = eval_json(folder, *QUICK)
    assert entry["feed"] == "prefill" and entry["summary"]["kl_mean"] < 1e-4
    result = run_cli("profile", folder, "--emulated", "--prompt-lengths", "8", "--decode-tokens", "4", "--repeats", "1",
                     "--warmup", "0", "--threads", "1", "--out", tmp_path / "run", timeout=600)
    assert result.returncode == 0, result.stderr
    assert "exported with --full-logits, for eval" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--text", "{empty}"], "is empty"),
    (["--text", "{binary}"], "is binary"),
    (["--text", "{latin1}"], "is not UTF-8"),
    (["--text", "{short}"], "fewer than one chunk of 32"),
    (["--context", "65"], "longer than the artifact's max length 64"),
    (["--corpus", "poetry"], "no shipped corpus named 'poetry'"),
    (["--text", "{short}", "--corpus", "prose"], "both --text and --corpus"),
    (["--text", "{missing}"], "text file not found"),
    (["--tokens", "0"], "use --tokens between 1 and"),
    (["--context", "2"], "leaves nothing to score"),
    (["--text", "{blank_prompts}"], "every prompt of"),
])
def test_bad_input_is_one_line_and_writes_nothing(text_onnx, tmp_path, args, message):
    files = {"empty": b"  \n", "binary": b"\x7fELF\x00\x01", "latin1": "café".encode("latin-1"),
             "short": b"Only a few words here.", "blank_prompts.jsonl": b'{"text": ""}\n""\n'}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    folder = tmp_path / "artifact"
    shutil.copytree(text_onnx, folder)
    (folder / "eval.json").unlink(missing_ok=True)
    result = run_cli("eval", folder, "--context", "32",
                     *[a.format(**{n.split(".")[0]: tmp_path / n for n in [*files, "missing"]}) for a in args], timeout=300)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (folder / "eval.json").exists()


# --- on the phone: the emulated device -----------------------------------------------------------------

def test_eval_on_the_emulated_device_runs_the_apps_java_and_compares_with_this_machine(text_onnx, tmp_path):
    folder = tmp_path / "artifact"
    shutil.copytree(text_onnx, folder)
    entry = eval_json(folder, *QUICK, "--emulated", "--runner", "app", "--out", tmp_path / "run")
    device = entry["device_run"]
    assert device["producer"] == "slm-edge-profiler-core" and device["status"] == "complete"
    assert device["chunks_scored"] == device["chunks"] == entry["chunks"]
    d = device["summary"]
    # the app's onnxruntime (1.29.0 jar) against this machine's: the same fp32 graph, one token a step
    assert d["top1_agreement_vs_host"] >= 0.99 and d["logprob_abs_diff_vs_host_max"] < 1e-3
    assert d["top1_agreement_vs_reference"] >= 0.99 and abs(d["ppl_ratio_vs_reference"] - 1) < 1e-3
    assert entry["feed"] == "steps"
    stored = json.loads((folder / "eval.json").read_text())["results"][entry["key"]]
    assert stored["device_runs"][0]["summary"] == d


def test_eval_on_the_emulated_device_with_executorch_runs_the_linux_runner(tiny_llama_pte, tmp_path):
    entry = eval_json(tiny_llama_pte, *QUICK, "--emulated", "--out", tmp_path / "run")
    device = entry["device_run"]
    assert device["producer"] == "slm_edge.runner" and device["chunks_scored"] == entry["chunks"]
    assert device["summary"]["top1_agreement_vs_host"] == 1.0
    assert device["summary"]["logprob_abs_diff_vs_host_max"] < 1e-5


# --- what reads the figures ----------------------------------------------------------------------------

def _with_quality(trace: dict, kl: float, ratio: float) -> dict:
    trace["host"]["artifact"]["quality"] = {"engine": "onnxruntime", "corpus": "prose", "context": 512, "feed": "prefill",
                                            "scored_tokens": 4096, "ppl_reference": 10.0, "ppl_artifact": 10 * ratio,
                                            "ppl_ratio": ratio, "kl_mean": kl, "kl_p99": kl * 4, "kl_max": kl * 9,
                                            "top1_agreement": 0.9}
    return trace


def test_recommend_judges_kl_and_perplexity_ratio(tmp_path):
    good = _with_quality(synthetic_trace("m", 10**8, "onnx", "int8", decode_tok_s={2: 50}, prefill_ms=20, peak_mib=200,
                                         quality=None), 0.01, 1.02)
    poor = _with_quality(synthetic_trace("m", 10**8, "onnx", "int4", decode_tok_s={2: 80}, prefill_ms=15, peak_mib=120,
                                         quality=None), 0.4, 1.35)
    unknown = synthetic_trace("m", 10**8, "executorch", "8da4w", decode_tok_s={2: 90}, prefill_ms=15, peak_mib=120,
                              quality=0.9)
    runs = [write_run(tmp_path / name, trace) for name, trace in (("good", good), ("poor", poor), ("unknown", unknown))]
    out = tmp_path / "verdicts.json"
    result = run_cli("recommend", *runs, "--max-kl", "0.1", "--max-ppl-ratio", "1.1", "--json", out)
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(out.read_text())
    assert [c["run"] for c in verdicts["fits"]] == ["good"]
    reasons = {c["run"]: " ".join(c["reasons"]) for c in verdicts["fails"]}
    assert "mean KL 0.4 exceeds 0.1" in reasons["poor"] and "×1.350" in reasons["poor"]
    assert "run `slm-edge eval`" in reasons["unknown"]


def test_pareto_front_takes_kl_as_its_third_axis():
    from slm_edge.analysis.compare import pareto_front

    points = [{"decode_tok_s": 100, "peak_memory_bytes": 100, "quality": 0.4, "quality_metric": "kl_mean"},
              {"decode_tok_s": 100, "peak_memory_bytes": 100, "quality": 0.01, "quality_metric": "kl_mean"},
              {"decode_tok_s": 50, "peak_memory_bytes": 100, "quality": 0.001, "quality_metric": "kl_mean"}]
    flags, objectives = pareto_front(points)
    assert "quality" in objectives and flags == [False, True, True]  # lower KL is better
