"""What an ONNX artifact's graph takes and gives, written into the manifest so that a KV-cache loop
(Python here, Java on the phone) feeds it without guessing: every input and output with its
role, shape (symbolic dims by name), dtype and, for the cache, its layer and sequence axis."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from slm_edge.errors import RuntimeFailure

_KV = re.compile(r"^(past_key_values|present)\.(\d+)\.(key|value)$")
_PLAIN_ROLES = {"input_ids": "input_ids", "attention_mask": "attention_mask", "position_ids": "position_ids",
                "logits": "logits"}
KV_SEQUENCE_AXIS = 2  # [batch, kv_heads, sequence, head_dim]


def _tensor(value) -> dict:
    import onnx

    kind = value.type.tensor_type
    dims = [d.dim_param if d.dim_param else d.dim_value for d in kind.shape.dim]
    return {"name": value.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type).name, "shape": dims}


def _role(name: str, past: bool) -> dict:
    match = _KV.match(name)
    if match:
        prefix, layer, part = match.groups()
        if (prefix == "past_key_values") != past:
            raise RuntimeFailure(f"graph {'input' if past else 'output'} {name} is on the wrong side",
                                 "export with slm-edge, whose graphs follow the past_key_values/present naming")
        return {"role": f"{'past' if past else 'present'}_{part}", "layer": int(layer)}
    if name in _PLAIN_ROLES:
        return {"role": _PLAIN_ROLES[name]}
    raise RuntimeFailure(f"the ONNX graph has an input/output slm-edge does not know: {name}",
                         "export with slm-edge's builder or generic path, whose graphs it can drive")


def describe_graph(model_path: Path) -> dict:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    graph = model.graph
    inputs = [{**_tensor(v), **_role(v.name, past=True)} for v in graph.input]
    outputs = [{**_tensor(v), **_role(v.name, past=False)} for v in graph.output]
    roles = {entry["role"] for entry in inputs + outputs}
    for needed in ("input_ids", "logits", "past_key", "past_value", "present_key", "present_value"):
        if needed not in roles:
            raise RuntimeFailure(f"the ONNX graph lacks its {needed} tensors", "re-export the artifact with slm-edge")
    external = sorted({entry.value for init in graph.initializer if init.data_location == onnx.TensorProto.EXTERNAL
                       for entry in init.external_data if entry.key == "location"})
    matmul_inputs = {name for n in graph.node if n.op_type == "MatMulNBits" for name in n.input}
    gathers = [n for n in graph.node if n.op_type == "GatherBlockQuantized"]
    return {
        # the builder's int4/int8 embedding reads the LM head's quantized weights (tied models)
        "embedding_shares_lm_head": any(set(n.input) & matmul_inputs for n in gathers),
        "opset": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        # what a runtime must read: an older onnxruntime (the phone's) refuses a newer IR or opset
        "ir_version": model.ir_version,
        "op_types": dict(sorted(Counter(f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in graph.node).items())),
        "external_data": external,
        "io": {
            "inputs": inputs,
            "outputs": outputs,
            "kv_cache": {
                "layout": "[batch, kv_heads, sequence, head_dim]",
                "sequence_axis": KV_SEQUENCE_AXIS,
                "layers": len([e for e in inputs if e["role"] == "past_key"]),
                "semantics": "present = past + this call's tokens along the sequence axis; feed present as "
                             "the next call's past (start with sequence length 0)",
            },
            "attention_mask": "int64 ones over past + new tokens" if "attention_mask" in roles else None,
            "position_ids": "int64 positions of the new tokens (past length ..)" if "position_ids" in roles else None,
            "logits": "[batch, new tokens, vocab]: the last row predicts the next token",
        },
    }
