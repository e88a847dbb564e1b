"""Per-op latency from onnxruntime's own profiler, grouped into the survey's categories
(embedding, attention, FFN, norms, LM head, other), separately for prefill and decode."""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

from slm_edge.contract import ET_OP_CATEGORIES as ET_CATEGORIES, ONNX_SCOPE_KEY as SCOPE_KEY, OP_CATEGORIES as CATEGORIES  # noqa: E402,F401


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


# --- ExecuTorch: ETDump events (Inspector) mapped to graph nodes through the ETRecord -------------

_FRAMEWORK_EVENTS = ("Method::execute", "Method::init", "Program::load_method")
# executorch's LLM custom ops (SDPA, in-place KV-cache update): their events name no graph node of
# the ETRecord's edge program (replaced after it was recorded), so they are placed by name
_OPS_WITHOUT_NODE = {"llama::custom_sdpa": "attention", "llama::update_cache": "attention",
                     "llama::update_quantized_cache": "attention", "llama::custom_quantized_sdpa": "attention"}


def module_category(path: str, op_type: str = "") -> str:
    """A module path (layers.0.attention.wq, model.layers.0.mlp.up_proj) → category. executorch's
    Llama calls its LM head `output`, transformers `lm_head`."""
    if path.split(".")[-1] == "output":
        return "lm_head"
    return category(path.replace(".", "/"), op_type)


def _node_categories(event) -> set[str]:
    """Categories of the graph nodes an event ran (one node for a portable/custom op, all of a
    delegated block's nodes for an XNNPACK call), from each node's module stack."""
    found = set()
    for node, stack in event.module_hierarchy.items():
        paths = [value[0] for value in (stack or {}).values() if isinstance(value, (tuple, list)) and value[0]]
        found.add(module_category(paths[-1] if paths else ""))
    return found


def _event_category(categories: set[str]) -> str:
    # module-less glue (views, shape arithmetic at the top level) does not make a block mixed
    real = categories - {"other"}
    if not real:
        return "other"
    return real.pop() if len(real) == 1 else "mixed"


def etdump_runs(etdump: Path, etrecord: Path) -> list[dict]:
    """One dict per execution of `forward`, in order: per-category µs (delegated part apart),
    XNNPACK's own per-op timers, Method::execute µs, and each op event's time."""
    import logging
    import re
    import warnings

    from executorch.devtools import Inspector

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deserializer warns about every unbacked symbol
        level = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            inspector = Inspector(etdump_path=str(etdump), etrecord=str(etrecord))
        finally:
            logging.disable(level)
    # forward's block is the one with op events; constant methods (get_max_seq_len...) get their own
    block = max(inspector.event_blocks, key=lambda b: sum(e.name in ("OPERATOR_CALL", "DELEGATE_CALL") for e in b.events))
    # Inspector merges the same event across executions: perf_data.raw[i] is execution i (ms)
    names: dict[int, str] = {}  # instruction id → the kernel's name (native_call_X / custom op)
    for event in block.events:
        if not event.is_delegated_op and event.name not in ("OPERATOR_CALL", "DELEGATE_CALL") + _FRAMEWORK_EVENTS:
            names[event._instruction_id] = event.name.removeprefix("native_call_")
    executions = max(len(e.perf_data.raw) for e in block.events if e.perf_data)
    if any(len(e.perf_data.raw) != executions for e in block.events
           if e.perf_data and e.name in ("OPERATOR_CALL", "DELEGATE_CALL", "Method::execute")):
        from slm_edge.errors import RuntimeFailure

        raise RuntimeFailure("the ETDump's op events do not repeat once per execution, so they cannot be split "
                             "into prefill and decode steps", "profile again with {ops}; report it if it persists")
    runs = [{"categories": defaultdict(float), "delegated": defaultdict(float), "xnnpack_ops": defaultdict(float),
             "delegate_calls": 0, "method_us": 0.0, "ops": defaultdict(float)} for _ in range(executions)]
    for event in block.events:
        if not event.perf_data:
            continue
        raw = [ms * 1000 for ms in event.perf_data.raw]
        if event.name == "Method::execute":
            for run, us in zip(runs, raw):
                run["method_us"] = us
        elif event.name == "DELEGATE_CALL":
            key = _event_category(_node_categories(event))
            kinds = sorted({(op.split(".") + [op])[1] for op in event.op_types})  # aten.linear.default → linear
            label = (f"{event.delegate_backend_name or 'delegate'}[{', '.join(kinds[:3])}"
                     + (f" +{len(kinds) - 3} more" if len(kinds) > 3 else "") + "]")
            for run, us in zip(runs, raw):
                run["categories"][key] += us
                run["delegated"][key] += us
                run["delegate_calls"] += 1
                run["ops"][(label, key, True)] += us
        elif event.is_delegated_op:  # the delegate's own per-op timers, inside a DELEGATE_CALL's time
            kind = re.sub(r"\s*#\d+$", "", event.name)
            for run, us in zip(runs, raw):
                run["xnnpack_ops"][kind] += us
        elif event.name == "OPERATOR_CALL":  # one kernel call, the interpreter's dispatch included
            name = names.get(event._instruction_id) or (event.op_types[0] if event.op_types else "unnamed op")
            base = name.split(".")[0]
            key = (_event_category(_node_categories(event)) if event.module_hierarchy
                   else _OPS_WITHOUT_NODE.get(base, "other"))
            for run, us in zip(runs, raw):
                run["categories"][key] += us
                run["ops"][(base, key, False)] += us
    return runs


def _merged(runs: list[dict]) -> list[dict]:
    """The executions of one prefill fed in chunks (a ring program takes at most its chunk a forward)
    as one execution: every figure summed."""
    if len(runs) <= 1:
        return runs
    merged = {key: defaultdict(float) for key in ("categories", "delegated", "xnnpack_ops", "ops")}
    for run in runs:
        for key, table in merged.items():
            for name, us in run[key].items():
                table[name] += us
    return [{**merged, "delegate_calls": sum(r["delegate_calls"] for r in runs),
             "method_us": sum(r["method_us"] for r in runs)}]


def summarize_et_phases(runs: list[dict], skip: int = 0, top: int = 8, prefill_executions: int = 1) -> dict:
    """Drop `skip` warm-up executions; then the next `prefill_executions` are the prefill (one per
    chunk, summed), the rest decode steps (mean per step). Shares are of the op time (portable/custom
    kernels + delegate calls)."""
    runs = runs[skip:]
    out = {}
    for phase, chosen in (("prefill", _merged(runs[:prefill_executions])), ("decode", runs[prefill_executions:])):
        if not chosen:
            continue
        n = len(chosen)

        def mean(field: str) -> dict:
            totals = defaultdict(float)
            for run in chosen:
                for key, value in run[field].items():
                    totals[key] += value / n
            return totals

        categories, delegated, ops = mean("categories"), mean("delegated"), mean("ops")
        whole = sum(categories.values())
        delegated_total = sum(delegated.values())
        out[phase] = {
            "steps": n,
            "kernel_us": whole,
            "method_us": sum(r["method_us"] for r in chosen) / n,
            "categories": {c: {"us": categories.get(c, 0.0), "share": categories.get(c, 0.0) / whole if whole else 0.0,
                               "delegated_us": delegated.get(c, 0.0)} for c in ET_CATEGORIES},
            "delegated": {"us": delegated_total, "share": delegated_total / whole if whole else 0.0,
                          "calls_per_step": sum(r["delegate_calls"] for r in chosen) / n},
            "xnnpack_ops_us": dict(sorted(mean("xnnpack_ops").items(), key=lambda kv: -kv[1])),
            "top_ops": [{"op": name, "category": key, "delegated": is_delegated, "us": us}
                        for (name, key, is_delegated), us in sorted(ops.items(), key=lambda kv: -kv[1])[:top]],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m slm_edge.runner.ops ETDUMP ETRECORD --skip N [--prefill-executions K]`: the phases as JSON on stdout.
    The runner calls this in a child process so the Inspector's imports and the deserialized graph
    never count toward the runner's own peak memory."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m slm_edge.runner.ops")
    parser.add_argument("etdump", type=Path)
    parser.add_argument("etrecord", type=Path)
    parser.add_argument("--skip", type=int, default=0, help="warm-up executions to leave out")
    parser.add_argument("--prefill-executions", type=int, default=1, help="forwards the traced prefill took")
    args = parser.parse_args(argv)
    json.dump(summarize_et_phases(etdump_runs(args.etdump, args.etrecord), args.skip,
                                  prefill_executions=args.prefill_executions), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
