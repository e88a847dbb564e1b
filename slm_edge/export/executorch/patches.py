"""Small run-time patches to the libraries' lowering, each written against the versions in PATCHED_FOR
(tests/test_export_executorch.py fails when an installed version differs, so each is re-checked on upgrade).
"""

from __future__ import annotations

from contextlib import contextmanager

PATCHED_FOR = {"torch": "2.13.0", "executorch": "1.5.1"}


FUNCTIONAL_MARK = "_slm_edge_functional"


def decompose_once(program, partitioners):
    """The program functionalized and decomposed in one re-trace, as far as `partitioners` allow.

    executorch 1.5.1's exir/program/_program.py:_gen_edge_manager_for_partitioners first functionalizes
    (run_decompositions({}), line 1152), then decomposes with the default table less the ops each
    partitioner keeps (lines 1170-1201): two re-traces of the whole program with fake tensors, 36 s
    each on the default (py-spy). One run_decompositions with that table does both; the program is
    marked, so skip_decompositions_that_match_nothing passes over its functionalization, and the
    partitioners' own tables then match nothing but aten.sym_size.int, which it skips too. An op a
    partitioner would keep only after its check_op (EDGE_DO_NOT_DECOMP) stays, as executorch's first
    pass leaves it, for executorch's second pass to judge."""
    from executorch.exir.tracer import _default_decomposition_table

    table = _default_decomposition_table()
    for partitioner in partitioners:
        kept, _ = partitioner.ops_to_not_decompose(program)
        for op in kept:
            table.pop(op, None)
    decomposed = program.run_decompositions(table)
    setattr(decomposed, FUNCTIONAL_MARK, True)
    return decomposed


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
    the open upstream PR pytorch/executorch#18496 applies everywhere. An empty table (functionalization)
    runs unless the program came out of decompose_once, the default (None) always. `counts` gets how
    many ran and were skipped.
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
        if decomp_table is not None and not decomp_table and getattr(self, FUNCTIONAL_MARK, False):
            tally["skipped"] += 1  # functionalization of a program decompose_once made: nothing to do
            return self
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


@contextmanager
def sort_partitioned_graph_in_place(counts: dict | None = None):
    """executorch 1.5.1's exir/lowered_backend_module.py:create_submodule_from_nodes ends every partition's
    fusion with torch.fx's legalize_graph(gm) on the *whole* top-level graph: it copies every node into a
    new Graph and assigning it recompiles the module's Python code. Once per partition (334 on the default
    at 8da4w) this was 104 s of a 490 s lowering (py-spy). Only the fused call and its neighbours are out of
    order, so a stable topological sort that moves just those nodes, in place, gives a valid graph at the
    cost of one walk over it; the module's code is regenerated once, when lowering ends."""
    import executorch.exir.lowered_backend_module as lowered_backend_module

    original = lowered_backend_module.legalize_graph
    tally = counts if counts is not None else {}
    tally.setdefault("nodes_moved", 0)
    touched: list = []

    def legalize_in_place(gm):
        tally["nodes_moved"] += stable_sort_in_place(gm.graph)
        touched.append(gm)
        return gm

    lowered_backend_module.legalize_graph = legalize_in_place
    try:
        yield tally
    finally:
        lowered_backend_module.legalize_graph = original
        for gm in {id(gm): gm for gm in touched}.values():
            gm.recompile()


def stable_sort_in_place(graph) -> int:
    """Reorders `graph` so every node follows its inputs, keeping the existing order wherever it is
    already valid; returns how many nodes moved. A node seen before one of its inputs waits for that
    input and is placed right after the last node placed once its inputs are all in place."""
    from collections import defaultdict

    placed: set = set()
    waiting: dict = defaultdict(list)
    pending = list(reversed(graph.nodes))
    previous = None
    moved = 0
    while pending:
        node = pending.pop()
        missing = [arg for arg in node.all_input_nodes if arg not in placed]
        if missing:
            waiting[missing[-1]].append(node)
            continue
        placed.add(node)
        if previous is not None and previous.next is not node:
            previous.append(node)
            moved += 1
        previous = node
        pending.extend(reversed(waiting.pop(node, ())))
    return moved


def _defines(pass_class, method: str) -> bool:
    """Whether `pass_class` or a base below executorch's ExportPass defines `method` (call: edits the
    graph, then re-traces it; call_operator: rewrites operators during the re-trace)."""
    from executorch.exir.pass_base import ExportPass

    return any(method in vars(k) for k in pass_class.__mro__ if issubclass(k, ExportPass) and k is not ExportPass)


def _graph_fingerprint(graph_module) -> tuple:
    """What an XNNPACK pass can change in a partition's graph: its nodes, their order, targets and arguments."""
    return tuple((node, node.op, node.target, node.args, tuple(node.kwargs.items())) for node in graph_module.graph.nodes)


@contextmanager
def skip_xnnpack_retraces_that_change_nothing(counts: dict | None = None):
    """executorch 1.5.1's backends/xnnpack/_passes/__init__.py:XNNPACKPassManager.transform runs 17 passes
    on every partition (XnnpackBackend.preprocess). Most are written as "edit the graph, then
    super().call(graph_module)", and that ExportPass.call re-traces the partition with fake tensors
    whether or not the edit found anything (Conv1dUnsqueezePass on a graph without convolutions, ...):
    178 s of the default's 490 s lowering for ~300 partitions (py-spy). Here such a pass's re-trace is
    skipped when the graph is exactly as it was before the pass, and the pass reports no change, as
    executorch's own passes do when they have nothing to do. Passes that do their work inside the
    re-trace (call_operator: ConstPropPass, DimOrderOpsRevertPass) are not armed; they run unless the
    partition has none of what they rewrite."""
    from executorch.backends.xnnpack import _passes as xnnpack_passes
    from executorch.backends.xnnpack._passes.convert_to_sdpa import ConvertToSDPAPass
    from executorch.backends.xnnpack._passes.convert_to_upsample_bilinear2d import ConvertToUpsampleBilinear2d
    from executorch.backends.xnnpack.partition.graphs import bilinear_2d as bilinear_2d_graphs, sdpa as sdpa_graphs
    from executorch.exir.pass_base import ExportPass, _ExportPassBase
    from executorch.exir.passes.const_prop_pass import ConstPropPass
    from executorch.exir.passes.dim_order_ops_registry import MemoryFormatOpsMap
    from executorch.exir.passes.memory_format_ops_pass import DimOrderOpsRevertPass
    from executorch.exir.program._program import _transform
    from torch.fx.passes.infra.pass_base import PassResult

    tally = counts if counts is not None else {}
    tally.setdefault("retraces_skipped", 0)
    tally.setdefault("passes_skipped", 0)
    def has_dim_order_ops(gm) -> bool:
        # the ops DimOrderOpsRevertPass.call_operator rewrites (its own table)
        return any(node.op == "call_function" and node.target in MemoryFormatOpsMap for node in gm.graph.nodes)

    def has_input_free_ops(gm) -> bool:
        # ConstPropPass folds only ops none of whose arguments come from another node
        return any(node.op == "call_function" and not node.all_input_nodes for node in gm.graph.nodes)

    def can_match_one_of(patterns):
        # a SubgraphMatcher match needs every operator of its pattern in the graph; these passes build
        # the whole partition's print_readable() for a debug log even when nothing matches
        needed = [{n.target for n in pattern.graph.nodes if n.op == "call_function"} for pattern in patterns()]

        def check(gm) -> bool:
            present = {node.target for node in gm.graph.nodes if node.op == "call_function"}
            return any(targets <= present for targets in needed)
        return check

    only_when = {DimOrderOpsRevertPass: has_dim_order_ops, ConstPropPass: has_input_free_ops,
                 ConvertToSDPAPass: can_match_one_of(sdpa_graphs.get_graphs),
                 ConvertToUpsampleBilinear2d: can_match_one_of(bilinear_2d_graphs.get_graphs)}
    original_call = _ExportPassBase.call
    original_transform = xnnpack_passes.XNNPACKPassManager.transform
    armed: list = []  # the fingerprint taken before the running pass, when its re-trace may be skipped

    def rewrites_then_retraces(pass_class) -> bool:
        return _defines(pass_class, "call") and not _defines(pass_class, "call_operator")

    def call(self, graph_module):
        if armed and armed[-1] is not None and armed[-1] == _graph_fingerprint(graph_module):
            tally["retraces_skipped"] += 1
            return PassResult(graph_module, False)
        return original_call(self, graph_module)

    def transform(self):
        if not all(issubclass(pass_class, ExportPass) for pass_class in self.passes):
            return original_transform(self)  # a pass of a kind this patch was not written for
        ep = self.exported_program
        for pass_class in self.passes:
            if pass_class in only_when and not only_when[pass_class](ep.graph_module):
                tally["passes_skipped"] += 1
                continue
            transform_pass = pass_class(ep) if issubclass(pass_class, xnnpack_passes.XNNPACKPass) else pass_class()
            armed.append(_graph_fingerprint(ep.graph_module) if rewrites_then_retraces(pass_class) else None)
            try:
                ep = _transform(ep, transform_pass)
            finally:
                armed.pop()
        return ep

    _ExportPassBase.call = call
    xnnpack_passes.XNNPACKPassManager.transform = transform
    try:
        yield tally
    finally:
        _ExportPassBase.call = original_call
        xnnpack_passes.XNNPACKPassManager.transform = original_transform


def _one_pass_of(*pass_classes):
    """One ExportPass that sends each operator through `pass_classes`' call_operator in their order, in a
    single re-trace: inheriting them in that order chains their super().call_operator calls (Python's
    method resolution order) down to ExportPass, which emits the node."""
    from executorch.exir.pass_base import ExportPass
    from torch.fx.passes.infra.pass_base import PassResult

    def call(self, graph_module):
        # the first class's own call() may report only its own changes (ScalarToTensorPass): say changed
        return PassResult(super(fused, self).call(graph_module).graph_module, True)

    fused = type("+".join(c.__name__ for c in pass_classes), (*pass_classes, ExportPass), {"call": call})
    return fused


@contextmanager
def fuse_operator_rewrites(counts: dict | None = None):
    """executorch 1.5.1's exir/program/_program.py:_generate_edge_program turns ATen into Edge IR with
    passes (exir/passes/__init__.py base_pre_op_replace_passes, then RemoveMixedTypeOperators and
    OpReplacePass) of which six rewrite one operator at a time (call_operator) and each re-trace the
    whole program with fake tensors: ~1.2 s each on the default cut to 4 layers. Runs of such passes that
    stand next to each other compose operator by operator, so each run becomes one pass
    (_one_pass_of): NormalizeTransposePass, ReplaceBrokenOpsWithFunctionalOpsPass, ScalarToTensorPass and
    SymToTensorPass; RemoveMixedTypeOperators and OpReplacePass. The passes between them (RemoveNoopPass,
    ...) edit the graph directly and stay where they are. _get_aten_to_edge_passes and OpReplacePass are
    the names both of its callers (_to_edge and _generate_edge_program) look up at call time."""
    import executorch.exir.program._program as program_module
    from executorch.exir.passes.remove_mixed_type_operators import RemoveMixedTypeOperators

    tally = counts if counts is not None else {}
    original_passes, original_op_replace = program_module._get_aten_to_edge_passes, program_module.OpReplacePass

    def pass_of(entry):
        return getattr(entry, "__wrapped__", entry)  # the list holds torch.fx's pass_result_wrapper(pass)

    def per_operator(entry) -> bool:
        pass_class = type(pass_of(entry))
        # ScalarToTensorPass's own call() only tracks whether it changed something around the re-trace
        return _defines(pass_class, "call_operator") and (
            not _defines(pass_class, "call") or pass_class.__name__ == "ScalarToTensorPass")

    def fused_passes(config):
        pre, post = original_passes(config)
        if not pre or type(pass_of(pre[-1])) is not RemoveMixedTypeOperators:
            return pre, post  # not the list this patch was written for: leave it alone
        grouped, run = [], []
        for instance in [*pre[:-1], None]:
            if instance is not None and per_operator(instance):
                run.append(type(pass_of(instance)))
                continue
            if run:
                grouped.append(_one_pass_of(*run)() if len(run) > 1 else run[0]())
                tally["rewrites_fused"] = tally.get("rewrites_fused", 0) + len(run) - 1
                run = []
            if instance is not None:
                grouped.append(instance)
        return grouped, post

    program_module._get_aten_to_edge_passes = fused_passes
    program_module.OpReplacePass = _one_pass_of(RemoveMixedTypeOperators, original_op_replace)
    try:
        yield tally
    finally:
        program_module._get_aten_to_edge_passes = original_passes
        program_module.OpReplacePass = original_op_replace


@contextmanager
def faster_lowering(counts: dict | None = None):
    """Every lowering patch of this module at once; `counts` gets what each did."""
    tally = counts if counts is not None else {}
    with skip_decompositions_that_match_nothing(tally), sort_partitioned_graph_in_place(tally), \
            skip_xnnpack_retraces_that_change_nothing(tally), fuse_operator_rewrites(tally):
        yield tally
