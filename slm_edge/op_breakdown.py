"""Per-op latency from onnxruntime's own profiler, grouped into the survey's categories
(embedding, attention, FFN, norms, LM head, other), separately for prefill and decode."""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

CATEGORIES = ("embedding", "attention", "ffn", "norm", "lm_head", "other")
SCOPE_KEY = "pkg.torch.onnx.name_scopes"  # torch.onnx's module path of each node


def node_scopes(model_path: Path) -> dict[str, str]:
    """Node name → the module path it came from: torch.onnx's name scopes where it recorded them,
    else the node name itself (the builder names nodes by module path, e.g. /model/layers.0/attn/...)."""
    import onnx

    scopes = {}
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        props = {p.key: p.value for p in node.metadata_props}
        if SCOPE_KEY in props:
            try:
                scopes[node.name] = "/".join(ast.literal_eval(props[SCOPE_KEY])[:-1])
                continue
            except (ValueError, SyntaxError):
                pass
        scopes[node.name] = node.name
    return scopes


def category(scope: str, op_type: str) -> str:
    text = scope.lower()
    if "lm_head" in text:
        return "lm_head"
    if "embed" in text or op_type in ("GatherBlockQuantized",) and "layers" not in text:
        return "embedding"
    if "norm" in text or "LayerNormalization" in op_type:
        return "norm"
    if "attn" in text or "attention" in text or "rotary" in text:
        return "attention"
    if "mlp" in text or "ffn" in text or "feed_forward" in text:
        return "ffn"
    return "other"


def parse_profile(path: Path, scopes: dict[str, str]) -> list[dict[str, float]]:
    """One dict per model run, in order: category → microseconds of kernel time."""
    events = json.loads(Path(path).read_text())
    runs: list[dict[str, float]] = []
    current: dict[str, float] | None = None
    for event in sorted(events, key=lambda e: e.get("ts", 0)):
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            continue
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        node = event["name"].removesuffix("_kernel_time")
        op_type = event.get("args", {}).get("op_name", "")
        if current is None or node in current.get("__nodes__", set()):
            current = {"__nodes__": set()}
            runs.append(current)
        current["__nodes__"].add(node)
        key = category(scopes.get(node, node), op_type)
        current[key] = current.get(key, 0.0) + event["dur"]
    return [{k: v for k, v in run.items() if k != "__nodes__"} for run in runs]


def summarize_phases(runs: list[dict[str, float]]) -> dict:
    """First run = prefill, the rest = decode steps (mean per step); shares of each phase's total."""
    out = {}
    for phase, chosen in (("prefill", runs[:1]), ("decode", runs[1:])):
        if not chosen:
            continue
        totals = defaultdict(float)
        for run in chosen:
            for key, value in run.items():
                totals[key] += value / len(chosen)
        whole = sum(totals.values())
        out[phase] = {"steps": len(chosen), "kernel_us": whole,
                      "categories": {c: {"us": totals.get(c, 0.0), "share": totals.get(c, 0.0) / whole if whole else 0.0}
                                     for c in CATEGORIES}}
    return out
