"""Which runtime can read an artifact: the program format facts written into the manifest at export,
and the check, made before anything is pushed, that the profiler app's runtimes read them.

ExecuTorch promises backward compatibility only: a runtime loads programs written by the same or an
older ExecuTorch, not by a newer one (runtime/COMPATIBILITY.md in pytorch/executorch). onnxruntime
refuses a model whose IR version or opset is newer than the ones it was built with (its
docs/reference/compatibility.md lists them per release).
"""

from __future__ import annotations

import re
from pathlib import Path

from slm_edge.records.manifest import Manifest, Program, library_versions

# The .pte is a flatbuffer: a 4-byte root offset, then the schema's 4-byte file identifier
# ("ET12" for every 1.x release); an extended header ("eh00") may follow at byte 8.
PTE_IDENTIFIER_SLICE = slice(4, 8)
PTE_EXTENDED_HEADER_MAGIC = b"eh00"


def pte_program_facts(pte: Path) -> dict:
    with open(pte, "rb") as f:
        head = f.read(16)
    return {
        "format": "executorch-pte",
        "flatbuffer_identifier": head[PTE_IDENTIFIER_SLICE].decode("ascii", errors="replace"),
        "extended_header": head[8:12] == PTE_EXTENDED_HEADER_MAGIC,
        "exported_with": {"executorch": library_versions()["executorch"]},
    }


# Every ExecuTorch release from 0.7.0 to 1.5.1 writes and accepts exactly this identifier
# (schema/program.fbs at each tag; a .pte patched to "ET13" fails: "Program identifier 'ET13' != expected 'ET12'").
PTE_IDENTIFIERS_READ = ("ET12",)

# The newest ONNX IR version and default-domain opset each onnxruntime release loads. 1.17-1.20 from
# onnxruntime's docs/reference/compatibility.md (its table stops at 1.20); the later rows were
# measured on 2026-12-01 by loading one-Relu models of rising IR/opset in that release (PyPI wheels
# and the desktop Java jars: same native core as onnxruntime-android of the same version).
ORT_READS = (  # (release, max IR version, max ai.onnx opset), oldest first
    ((1, 17), 9, 20), ((1, 18), 10, 21), ((1, 21), 10, 22), ((1, 23), 11, 23),
    ((1, 24), 13, 25), ((1, 25), 13, 26), ((1, 32), 14, 28),
)
# IR and opset are necessary, not sufficient: the builder's com.microsoft ops changed inside opset 1.
# Measured the same day: builder graphs fail before 1.23 (GroupQueryAttention "input size 12 not in
# range [min=7, max=11]"; GatherBlockQuantized "Unrecognized attribute: bits") and load from 1.23.2 on.
BUILDER_MIN_ORT = (1, 23)
BUILDER_CONTRIB_OPS = ("com.microsoft.GroupQueryAttention", "com.microsoft.GatherBlockQuantized")


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """'1.5.1' or '1.29.0+cu' → (1, 5, 1) / (1, 29, 0); None when unreadable."""
    if not text:
        return None
    parts = []
    for piece in str(text).split("+")[0].split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
        if digits.end() < len(piece):  # '0-rc1': a pre-release ends the number
            break
    return tuple(parts) or None


def _ort_limits(version: tuple[int, ...]) -> tuple[int, int] | None:
    known = [(ir, opset) for release, ir, opset in ORT_READS if version[:2] >= release]
    return known[-1] if known else None


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def app_cannot_read(manifest: Manifest, runtimes: dict) -> str | None:
    """Why an app whose runtimes are `runtimes` ({"executorch": "1.5.1", "onnxruntime": "1.29.0"})
    cannot load this artifact, or None. The reason names both versions."""
    runtime = manifest.runtime
    program = runtime.program or Program()
    if manifest.backend == "executorch":
        app = parse_version(runtimes.get("executorch"))
        exported = parse_version(program.exported_with.get("executorch") or manifest.versions.get("executorch"))
        if app is None:
            return "the app does not say which ExecuTorch runtime it links"
        identifier = program.flatbuffer_identifier
        if identifier and identifier not in PTE_IDENTIFIERS_READ:
            return (f"the program's format is {identifier!r} and executorch-android {_dotted(app)} reads "
                    f"{', '.join(PTE_IDENTIFIERS_READ)}")
        if exported and exported[:2] > app[:2]:
            # runtime/COMPATIBILITY.md: "ExecuTorch does not make guarantees about forward compatibility"
            return (f"the artifact was exported with executorch {_dotted(exported)} and the app runs executorch-android "
                    f"{_dotted(app)}; ExecuTorch loads programs from the same or older releases, not newer ones")
        return None
    app = parse_version(runtimes.get("onnxruntime"))
    if app is None:
        return "the app does not say which onnxruntime it links"
    limits = _ort_limits(app)
    if limits is None:
        return f"onnxruntime-android {_dotted(app)} is older than any release slm-edge knows the limits of (1.17+)"
    max_ir, max_opset = limits
    ir = program.ir_version
    opset = (program.opset or runtime.opset or {}).get("ai.onnx")
    if ir is not None and ir > max_ir:
        return f"the model's ONNX IR version is {ir} and onnxruntime-android {_dotted(app)} reads up to {max_ir}"
    if opset is not None and opset > max_opset:
        return f"the model uses ONNX opset {opset} and onnxruntime-android {_dotted(app)} reads up to opset {max_opset}"
    contrib = [op for op in BUILDER_CONTRIB_OPS if op in (runtime.op_types or {})]
    if contrib and app[:2] < BUILDER_MIN_ORT:
        return (f"the model's {', '.join(op.split('.')[-1] for op in contrib)} need onnxruntime "
                f"{_dotted(BUILDER_MIN_ORT)} or newer and the app runs onnxruntime-android {_dotted(app)}")
    return None
