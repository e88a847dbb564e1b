"""eval.json beside the artifact: every eval's figures keyed by what decides them (the corpus's and
the chunks' hashes, the engine, how tokens were fed), so a re-run with other settings adds an entry
and one with the same settings replaces its own. Reports, sweeps and `recommend` read `latest`."""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from pathlib import Path

import numpy as np

from slm_edge import cache
from slm_edge.contract import EVAL_FILE, MANIFEST
from slm_edge.errors import BadInput
from slm_edge.quality.corpus import Chunks
from slm_edge.quality.figures import PositionScores
from slm_edge.records.manifest import Manifest

EVAL_SCHEMA = "slm-edge/eval"
EVAL_SCHEMA_VERSION = 1


MIN_COMPARABLE_TOKENS = 1024  # fewer scored tokens: a smoke test, not a figure to rank artifacts on
FIGURES_VERSION = 1  # bump when figures.py computes anything differently: older entries are not reused
RUNTIME_PACKAGES = {"executorch": "executorch", "onnxruntime": "onnxruntime", "onnxruntime-genai": "onnxruntime-genai"}


def runtime_version(engine: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(RUNTIME_PACKAGES[engine])
    except metadata.PackageNotFoundError:
        return None


def entry_key(chunks: Chunks, engine: str, feed: str) -> str:
    """What decides an eval's figures: the text's chunks, the engine and its version, how tokens were fed."""
    return cache.sha256_json({"corpus": chunks.corpus_sha256, "chunks": chunks.chunks, "engine": engine,
                              "runtime": runtime_version(engine), "feed": feed, "figures": FIGURES_VERSION})[:16]


@contextlib.contextmanager
def _locked(folder: Path):
    """One writer of eval.json at a time (two evals of one artifact: other corpora, a device run)."""
    with open(Path(folder) / (EVAL_FILE + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def pack_scores(scores: PositionScores) -> dict:
    """Per-position arrays as JSON (6 decimals: far below any difference the figures show)."""
    def floats(arrays):
        return [np.round(a, 6).tolist() for a in arrays]

    return {"reference_nll": floats(scores.reference_nll), "artifact_nll": floats(scores.artifact_nll),
            "kl": floats(scores.kl), "reference_argmax": [a.tolist() for a in scores.reference_argmax],
            "artifact_argmax": [a.tolist() for a in scores.artifact_argmax]}


def unpack_scores(packed: dict) -> PositionScores:
    def arrays(name, dtype):
        return [np.asarray(a, dtype=dtype) for a in packed[name]]

    return PositionScores(arrays("reference_nll", np.float64), arrays("artifact_nll", np.float64),
                          arrays("kl", np.float64), arrays("reference_argmax", np.int64),
                          arrays("artifact_argmax", np.int64))


def read(folder: Path) -> dict | None:
    """eval.json's document, or None when there is none or it is unreadable (it is a cache of figures)."""
    path = Path(folder) / EVAL_FILE
    try:
        document = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict) or document.get("schema") != EVAL_SCHEMA:
        return None
    return document


def save(folder: Path, manifest: Manifest, chunks: Chunks, entry: dict) -> dict:
    """Add (or replace) this eval's entry; figures of another manifest (a re-export) are dropped."""
    folder = Path(folder)
    with _locked(folder):
        return _save(folder, manifest, chunks, entry)


def _save(folder: Path, manifest: Manifest, chunks: Chunks, entry: dict) -> dict:
    manifest_sha = cache.sha256_file(folder / MANIFEST)
    document = read(folder)
    if document is None or document.get("manifest_sha256") != manifest_sha:
        document = {"schema": EVAL_SCHEMA, "schema_version": EVAL_SCHEMA_VERSION, "manifest_sha256": manifest_sha,
                    "latest": None, "results": {}}
    key = entry_key(chunks, entry["engine"], entry["feed"])
    entry = {"key": key, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "backend": manifest.backend, "scheme": manifest.quantization.scheme,
             "runtime_version": runtime_version(entry["engine"]), **entry}
    previous = document["results"].get(key, {})
    if "device_runs" in previous:  # the phone's runs against these same settings stay
        entry["device_runs"] = previous["device_runs"]
    document["results"][key] = entry
    document["latest"] = key
    cache.atomic_write_text(folder / EVAL_FILE, json.dumps(document) + "\n")
    return entry


def add_device_run(folder: Path, key: str, device_run: dict) -> None:
    with _locked(folder):
        _add_device_run(folder, key, device_run)


def _add_device_run(folder: Path, key: str, device_run: dict) -> None:
    document = read(folder)
    if document is None or key not in document["results"]:
        raise BadInput(f"{folder / EVAL_FILE} lost the host's eval this phone run compares with",
                       "run the eval again")
    runs = document["results"][key].setdefault("device_runs", [])
    runs.append(device_run)
    cache.atomic_write_text(Path(folder) / EVAL_FILE, json.dumps(document) + "\n")


def find(folder: Path, chunks: Chunks, engine: str, feed: str) -> dict | None:
    document = read(folder)
    if document is None or document.get("manifest_sha256") != cache.sha256_file(Path(folder) / MANIFEST):
        return None
    return document["results"].get(entry_key(chunks, engine, feed))


def latest_summary(folder: Path, engine: str | None = None) -> dict | None:
    """The headline figures reports, sweeps and `recommend` compare artifacts on: the newest eval over
    the default corpus (the fixed token stream for a model without a tokenizer) at the default context,
    at least MIN_COMPARABLE_TOKENS scored (so two artifacts are judged on the same text), on
    `engine` when it has one, with what they were measured on; None when there is no such eval (or the
    artifact was re-exported since)."""
    from slm_edge.quality.corpus import DEFAULT_CORPUS, FIXED_STREAM

    document = read(folder)
    if document is None:
        return None
    try:
        if document.get("manifest_sha256") != cache.sha256_file(Path(folder) / MANIFEST):
            return None
    except FileNotFoundError:
        return None
    comparable = [e for e in document["results"].values()
                  if e["corpus"]["name"] in (DEFAULT_CORPUS, FIXED_STREAM) and e["tokens_requested"] >= MIN_COMPARABLE_TOKENS
                  and e["context"] == min(512, e.get("max_seq_len") or 512)]
    comparable = [e for e in comparable if e["engine"] == engine] or comparable
    if not comparable:
        return None
    entry = max(comparable, key=lambda e: e["measured_at"])
    return {"engine": entry["engine"], "corpus": entry["corpus"]["name"], "context": entry["context"],
            "feed": entry["feed"], **{k: entry["summary"][k] for k in
                                     ("scored_tokens", "ppl_reference", "ppl_artifact", "ppl_ratio", "kl_mean",
                                      "kl_p99", "kl_max", "top1_agreement")}}
