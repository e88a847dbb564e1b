"""eval.json beside the artifact: every eval's figures keyed by what decides them (the corpus's and
the chunks' hashes, the engine, how tokens were fed), so a re-run with other settings adds an entry
and one with the same settings replaces its own. Reports, sweeps and `recommend` read `latest`."""

from __future__ import annotations

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


def entry_key(chunks: Chunks, engine: str, feed: str) -> str:
    return cache.sha256_json({"corpus": chunks.corpus_sha256, "chunks": chunks.chunks, "engine": engine,
                              "feed": feed})[:16]


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
    manifest_sha = cache.sha256_file(folder / MANIFEST)
    document = read(folder)
    if document is None or document.get("manifest_sha256") != manifest_sha:
        document = {"schema": EVAL_SCHEMA, "schema_version": EVAL_SCHEMA_VERSION, "manifest_sha256": manifest_sha,
                    "latest": None, "results": {}}
    key = entry_key(chunks, entry["engine"], entry["feed"])
    entry = {"key": key, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "backend": manifest.backend, "scheme": manifest.quantization.scheme, **entry}
    previous = document["results"].get(key, {})
    if "device_runs" in previous:  # the phone's runs against these same settings stay
        entry["device_runs"] = previous["device_runs"]
    document["results"][key] = entry
    document["latest"] = key
    cache.atomic_write_text(folder / EVAL_FILE, json.dumps(document) + "\n")
    return entry


def add_device_run(folder: Path, key: str, device_run: dict) -> None:
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


def latest_summary(folder: Path) -> dict | None:
    """The newest eval's headline figures with what they were measured on (no per-position arrays),
    for reports and `recommend`; None when the artifact was never evaluated (or was re-exported since)."""
    document = read(folder)
    if document is None or not document.get("latest"):
        return None
    try:
        if document.get("manifest_sha256") != cache.sha256_file(Path(folder) / MANIFEST):
            return None
    except FileNotFoundError:
        return None
    entry = document["results"][document["latest"]]
    return {"engine": entry["engine"], "corpus": entry["corpus"]["name"], "context": entry["context"],
            "feed": entry["feed"], **{k: entry["summary"][k] for k in
                                     ("scored_tokens", "ppl_reference", "ppl_artifact", "ppl_ratio", "kl_mean",
                                      "kl_p99", "kl_max", "top1_agreement")}}
