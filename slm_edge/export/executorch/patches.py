"""Small run-time patches to the libraries' lowering, each written against the versions in PATCHED_FOR
(tests/test_export_executorch.py fails when an installed version differs, so each is re-checked on upgrade).
"""

from __future__ import annotations

from contextlib import contextmanager

PATCHED_FOR = {"torch": "2.13.0", "executorch": "1.5.1"}


@contextmanager
def skip_decompositions_that_match_nothing(counts: dict | None = None):
    """torch.export.ExportedProgram.run_decompositions(table) re-traces the whole program with fake
    tensors even when nothing in it would be decomposed. executorch 1.5.1's
    exir/program/_program.py:_gen_edge_manager_for_partitioners calls it twice per partitioner
    (lines 1201 and 1214) after functionalizing the graph (line 1152). With dynamic shapes every such
    table "matches" the graph through aten.sym_size.int alone, whose entry in the table
    (torch/_decomp) traces back to the same sym_size node: nothing changes, yet each call re-traces
    (3-4 s of a 2-layer tiny model's ~16 s of decompositions). Such a call returns the program
    unchanged, the rule executorch itself applies at line 1186 (`contains_any_call_fn_target_op`) and
    the open upstream PR pytorch/executorch#18496 applies everywhere. An empty table
    (functionalization) and the default (None) always run. `counts` gets how many ran and were skipped.
    """
    import torch
    from executorch.exir.graph_module import contains_any_call_fn_target_op
    from torch.export import ExportedProgram

    original = ExportedProgram.run_decompositions
    tally = counts if counts is not None else {}
    tally.setdefault("ran", 0)
    tally.setdefault("skipped", 0)
    unchanged = {torch.ops.aten.sym_size.int}

    def run_decompositions(self, decomp_table=None, decompose_custom_triton_ops=False):
        if decomp_table and not decompose_custom_triton_ops and not contains_any_call_fn_target_op(
                self.graph_module, [op for op in decomp_table if op not in unchanged]):
            tally["skipped"] += 1
            return self
        tally["ran"] += 1
        return original(self, decomp_table, decompose_custom_triton_ops)

    ExportedProgram.run_decompositions = run_decompositions
    try:
        yield tally
    finally:
        ExportedProgram.run_decompositions = original
