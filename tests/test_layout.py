"""The package layout holds: no import cycles, no oversized module, the device-side runner and the
shared contract free of host code. Read from the source with `ast`, so nothing here imports slm_edge."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import networkx  # installed with torch (one of its dependencies)

PACKAGE = Path(__file__).resolve().parent.parent / "slm_edge"
MAX_LINES = 500
# what the runner (it runs on the phone's side) must not pull in: the host's stages
HOST_ONLY = ("export", "quality", "device", "analysis", "report", "workflows", "cli")
# The stages in data-flow order (README "Layout", ARCHITECTURE.md): a module may import its own stage
# and the stages before it, never a later one. testing/ (the emulated phone) may use any stage but cli.
STAGES = (("contract", "errors", "cache", "progress", "__init__", "__main__"), ("records",), ("model",), ("export",),
          ("runtime",), ("runner",), ("quality",), ("device",), ("analysis",), ("report",), ("workflows",), ("cli",))


def find_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of the package at `root` (a package is its __init__)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(module: str, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that `module` imports anywhere in its body (functions and
    TYPE_CHECKING blocks too), relative imports resolved. `from pkg import sub` names the submodule
    when there is one, else pkg. Parent packages an import runs implicitly are not counted."""
    path = known[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def resolve(name: str) -> str | None:  # the deepest known module: slm_edge.x.Thing -> slm_edge.x
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {target for target in map(resolve, names) if target and target != module}
    return found


@cache
def modules() -> dict[str, Path]:
    return find_modules(PACKAGE)


def import_graph(known: dict[str, Path]) -> networkx.DiGraph:
    graph = networkx.DiGraph()
    for module in known:
        graph.add_node(module)
        graph.add_edges_from((module, target) for target in imports_of(module, known))
    return graph


def cycles_in(graph: networkx.DiGraph) -> list[str]:
    """Each strongly connected component of more than one module, with one loop through it."""
    described = []
    for members in sorted(sorted(c) for c in networkx.strongly_connected_components(graph) if len(c) > 1):
        loop = " -> ".join(edge[0] for edge in networkx.find_cycle(graph.subgraph(members)))
        described.append(f"{', '.join(members)}  (e.g. {loop} -> back)")
    return described


def test_no_import_cycles():
    cycles = cycles_in(import_graph(modules()))
    assert not cycles, "import cycles inside slm_edge (function-level imports count):\n  " + "\n  ".join(cycles)


def test_no_module_over_the_line_limit():
    lengths = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    too_long = [f"{name} ({n})" for name, n in sorted(lengths.items()) if n > MAX_LINES]
    assert not too_long, f"modules over {MAX_LINES} lines (split them by what they do): " + ", ".join(too_long)


def test_the_device_side_runner_imports_no_host_stage():
    """Not directly and not through another module: what the runner imports is loaded on the device side."""
    graph = import_graph(modules())
    runner = [module for module in graph if module.split(".")[:2] == ["slm_edge", "runner"]]
    offences = []
    for module in runner:
        for target in sorted(networkx.descendants(graph, module)):
            if target.split(".")[1:2] and target.split(".")[1] in HOST_ONLY:
                offences.append(" -> ".join(networkx.shortest_path(graph, module, target)))
    assert not offences, ("slm_edge.runner runs beside the app's runtime and must not import the host's stages "
                          f"({', '.join(HOST_ONLY)}):\n  " + "\n  ".join(offences))


def stage_of(module: str) -> int | None:
    """The position of a slm_edge module's stage in STAGES (None for testing/)."""
    top = module.split(".")[1] if "." in module else "__init__"
    for index, names in enumerate(STAGES):
        if top in names:
            return index
    return None


def test_imports_point_one_way_along_the_stages():
    graph = import_graph(modules())
    backwards = []
    for module, target in sorted(graph.edges):
        here, there = stage_of(module), stage_of(target)
        if module == "slm_edge.__main__" and target.startswith("slm_edge.cli"):
            continue  # `python -m slm_edge` is the CLI's entry point
        if here is None:  # testing/: anything but the CLI
            if there == len(STAGES) - 1:
                backwards.append(f"{module} -> {target}")
        elif there is not None and there > here or there is None:
            backwards.append(f"{module} -> {target}")
    assert not backwards, "imports against the data flow (see STAGES):\n  " + "\n  ".join(backwards)


def test_the_contract_imports_nothing():
    path = modules()["slm_edge.contract"]
    lines = [f"line {node.lineno}: {ast.unparse(node)}" for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, (ast.Import, ast.ImportFrom))
             and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")]
    assert not lines, ("slm_edge.contract (read by the host, the runner and the app's Contract test) imports:\n  "
                       + "\n  ".join(lines))


def test_the_import_reader_sees_every_kind_of_import(tmp_path):
    """The checks above are only as good as imports_of: absolute, relative, nested in a function,
    `from pkg import submodule` and `from module import name`; and a cycle is named."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from . import b\nfrom .sub import c\n",
        "b.py": "def late():\n    import pkg.sub.c\n",
        "sub/__init__.py": "from .c import NAME\n",
        "sub/c.py": "from ..a import x\nimport os\nNAME = 1\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    known = find_modules(root)
    assert imports_of("pkg.a", known) == {"pkg.b", "pkg.sub.c"}
    assert imports_of("pkg.b", known) == {"pkg.sub.c"}
    assert imports_of("pkg.sub", known) == {"pkg.sub.c"}
    assert imports_of("pkg.sub.c", known) == {"pkg.a"}
    [cycle] = cycles_in(import_graph(known))
    assert cycle.startswith("pkg.a, pkg.b, pkg.sub.c  (e.g. pkg.a -> ") and cycle.endswith(" -> back)"), cycle
