"""Shared ExecuTorch lowering: an exported program → XNNPACK-delegated .pte, with what memory planning decided."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from slm_edge.progress import StageTimer
from slm_edge.records.manifest import Architecture
from slm_edge.contract import ETRECORD_FILE  # noqa: F401
from slm_edge.export.executorch.patches import decompose_once, faster_lowering


@dataclass
class LoweredProgram:
    pte: Path
    planned_activation_bytes: int
    runtime_metadata: dict
    delegation: dict = field(default_factory=dict)
    etrecord: Path | None = None
    source_grids: dict = field(default_factory=dict)  # weights kept on the source's grid (source_grids.py)
    sliding_window_slots: int | None = None  # the ring each sliding-window layer keeps (hybrid.py), if any


def drop_provenance(graph_module: torch.fx.GraphModule) -> None:
    """Drop each node's provenance chain (`meta["from_node"]`).

    Every fx pass deep-copies it and it grows with every pass, which made lowering SmolLM2-135M
    spend minutes in copy.deepcopy (py-spy, see benchmarks/). Nothing downstream reads it.
    """
    for module in graph_module.modules():
        if isinstance(module, torch.fx.GraphModule):
            for node in module.graph.nodes:
                node.meta.pop("from_node", None)


def _placeholder(tensor: torch.Tensor) -> torch.Tensor:
    """Same shape and dtype, one element of storage (stride 0): torch.save writes 1 element."""
    return torch.zeros((), dtype=tensor.dtype).expand(tensor.shape)


def save_etrecord(program_manager, path: Path) -> Path:
    """Write the ETRecord without the weights.

    The Inspector maps ETDump events to graph nodes (op types, module stack) through the edge
    program's graph and the program's debug-handle/delegate maps; it reads no weight. A full ETRecord
    holds two more copies of every weight (ATen and edge program): as large again as an fp32 .pte.
    So the ATen program is left out (it serves only numeric comparisons) and the edge program's
    tensors become shape-only placeholders.
    """
    etrecord = program_manager.get_etrecord()
    etrecord.exported_program, etrecord.export_graph_id, etrecord.graph_map = None, None, None
    edge = etrecord.edge_dialect_program  # a deep copy made for the record: safe to change
    for table in (edge.state_dict, edge.constants):
        for name, value in list(table.items()):
            if isinstance(value, torch.Tensor):
                table[name] = (torch.nn.Parameter(_placeholder(value.data), requires_grad=False)
                               if isinstance(value, torch.nn.Parameter) else _placeholder(value))
    etrecord.save(str(path))
    return path


def lower_to_pte(exported, runtime_metadata: dict, pte: Path, timer: StageTimer,
                 etrecord: Path | None = None) -> LoweredProgram:
    from executorch.backends.xnnpack._passes.convert_to_linear import ConvertToLinearPass
    from executorch.exir import EdgeCompileConfig, ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass
    from executorch.exir.passes.sym_shape_eval_pass import ConstraintBasedSymShapeEvalPass
    from executorch.extension.llm.export.partitioner_lib import get_xnnpack_partitioner

    drop_provenance(exported.graph_module)
    with timer.stage("lower to XNNPACK"):
        # Dynamically quantized linears first, then everything else XNNPACK can take
        # (the order executorch's LLM export uses).
        partitioners = [
            get_xnnpack_partitioner(dynamic_quant_only_partitioner=True),
            get_xnnpack_partitioner(dynamic_quant_only_partitioner=False),
        ]
        with faster_lowering():
            edge = to_edge_transform_and_lower(
                decompose_once(exported, partitioners),
                partitioner=partitioners,
                compile_config=EdgeCompileConfig(_check_ir_validity=False, _skip_dim_order=True),
                constant_methods=runtime_metadata,
                generate_etrecord=etrecord is not None,
            )
        edge = edge.transform([ConvertToLinearPass()])
    with timer.stage("plan memory and emit .pte"):
        program = edge.to_executorch(
            ExecutorchBackendConfig(
                extract_delegate_segments=True,
                do_quant_fusion_and_const_prop=True,
                memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False),
                sym_shape_eval_pass=ConstraintBasedSymShapeEvalPass(),
            )
        )
        with open(pte, "wb") as f:
            program.write_to_file(f)
    if etrecord is not None:
        with timer.stage("write ETRecord (for profile --ops)"):
            save_etrecord(program, etrecord)
    plan = program._emitter_output.program.execution_plan[0]
    return LoweredProgram(
        pte=pte,
        planned_activation_bytes=int(sum(plan.non_const_buffer_sizes)),
        runtime_metadata=dict(runtime_metadata),
        delegation={
            "delegate_calls": len(plan.delegates),
            "backends": sorted({d.id for d in plan.delegates}),
            "ops_outside_delegates": sorted(
                {op.name for op in plan.operators if op.name != "executorch_call_delegate"}
            ),
        },
        etrecord=etrecord,
    )


def runtime_metadata_for(config: dict, max_seq_len: int, *, sdpa_with_kv_cache: bool, max_chunk: int | None = None) -> dict:
    """Constant methods the C++ runner (and the Android LlmModule) read from the .pte. As in
    executorch's llama export, get_max_seq_len is the most tokens one forward takes (its runner feeds
    a longer prompt in chunks of it) and get_max_context_len the positions the cache holds."""
    eos = config.get("eos_token_id")
    eos_ids = eos if isinstance(eos, list) else ([eos] if eos is not None else [])
    meta = {
        "get_max_seq_len": max_chunk or max_seq_len,
        "get_max_context_len": max_seq_len,
        "get_n_layers": Architecture.from_hf_config(config).layers,
        "get_vocab_size": config["vocab_size"],
        "use_kv_cache": True,
        "use_sdpa_with_kv_cache": sdpa_with_kv_cache,
        "enable_dynamic_shape": True,
        "get_eos_ids": eos_ids,
    }
    if config.get("bos_token_id") is not None:
        meta["get_bos_id"] = config["bos_token_id"]
    return meta
