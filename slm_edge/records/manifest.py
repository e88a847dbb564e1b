"""manifest.json: what was built, from what, how, and what it should cost in memory.

`Manifest` is the typed record, checked against schemas/manifest.schema.json: `Manifest.read(folder)`
for an artifact folder, `Manifest.from_json` for a document.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Mapping

from slm_edge import __version__, cache
from slm_edge.contract import MANIFEST, MANIFEST_SCHEMA as SCHEMA, MANIFEST_SCHEMA_VERSION as SCHEMA_VERSION
from slm_edge.errors import BadInput
from slm_edge.records._json import EMPTY, JsonRecord, empty_mapping, first_error, mapping_of, optional, sub

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "tokenizer.model")
REEXPORT = "re-export the artifact with {force}"


def library_versions() -> dict:
    versions = {"python": platform.python_version(), "slm_edge": __version__}
    for package in ("torch", "executorch", "torchao", "transformers", "onnx", "onnxruntime"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _read_document(folder: Path) -> tuple[Path, Any]:
    """manifest.json of an artifact folder, parsed (not yet checked)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BadInput(f"artifact folder not found: {folder}", "pass the {out} folder of `slm-edge export`")
    if not path.is_file():
        raise BadInput(f"{folder} has no {MANIFEST}, so it is not an slm-edge artifact", "export it with `slm-edge export`")
    try:
        return path, json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path} is not valid JSON ({exc.msg})", REEXPORT) from exc
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} is not valid JSON (not UTF-8 text)", REEXPORT) from exc


def _check_version(document: Mapping, label) -> None:
    version = document.get("schema_version", 0)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise BadInput(f"{label} has manifest schema {document.get('schema_version')}, newer than this slm-edge "
                       f"reads ({SCHEMA_VERSION})", "upgrade slm-edge")


# --- the typed manifest -----------------------------------------------------------------------------
# The schema (schemas/manifest.schema.json) checks the whole document once in Manifest.from_json;
# the records below are its typed view. Parts only one engine reads (ONNX io, ExecuTorch delegation)
# stay read-only mappings.


@dataclass(frozen=True)
class Source(JsonRecord):
    name: str = ""
    kind: str = ""
    origin: str | None = None
    sha256: str = ""
    random_weights: bool = optional(False)
    seed: int | None = optional()
    trust_remote_code: bool = optional(False)
    notes: tuple[str, ...] = optional(())


# transformers families whose MLP is up → activation → down, two matrices (the rest gate it: three)
UNGATED_MLP_FAMILIES = frozenset({"gpt_neox", "bloom", "phi", "gpt2", "gptj", "opt", "falcon", "starcoder2"})


def _first_key(config: Mapping[str, Any], *keys: str) -> Any:
    """A config value under the first of its names present (BLOOM and GPT-2 name sizes their own way)."""
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    raise KeyError(keys[0])


def rotary_fraction(config: Mapping[str, Any]) -> float:
    """The part of each head RoPE rotates: Phi's `partial_rotary_factor` (inside `rope_parameters` as
    transformers 5 writes it), GPT-NeoX's `rotary_pct`; 1.0 when the config names none."""
    fraction = (config.get("partial_rotary_factor") or (config.get("rope_parameters") or {}).get("partial_rotary_factor")
                or config.get("rotary_pct"))
    return float(fraction) if fraction is not None else 1.0


@dataclass(frozen=True)
class Architecture(JsonRecord):
    """The facts of a decoder-only transformer's Hugging Face config that sizing and memory use."""

    model_type: str | None = None
    architectures: tuple[str, ...] | None = None
    parameters: int = 0
    layers: int = 0
    hidden_size: int = 0
    attention_heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    ffn_size: int = 0
    vocab_size: int = 0
    tied_embeddings: bool = False
    max_position_embeddings: int | None = None
    # 2 for an MLP of up → activation → down (GPT-NeoX, BLOOM, Phi-1/2); absent for the gated form's 3
    ungated_mlp_matrices: int | None = optional()

    @property
    def mlp_matrices(self) -> int:
        return self.ungated_mlp_matrices or 3

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any], parameters: int = 0) -> Architecture:
        hidden = _first_key(config, "hidden_size", "n_embed", "n_embd")
        heads = _first_key(config, "num_attention_heads", "n_head")
        architectures = config.get("architectures")
        return cls(
            model_type=config.get("model_type"),
            architectures=tuple(architectures) if isinstance(architectures, (list, tuple)) else architectures,
            parameters=parameters,
            layers=_first_key(config, "num_hidden_layers", "n_layer"),
            hidden_size=hidden,
            attention_heads=heads,
            kv_heads=config.get("num_key_value_heads") or heads,
            head_dim=config.get("head_dim") or hidden // heads,
            # BLOOM's MLP is 4 x hidden whatever its config holds (transformers' BloomMLP)
            ffn_size=4 * hidden if config.get("model_type") == "bloom"
            else config.get("intermediate_size") or config.get("n_inner") or 4 * hidden,
            vocab_size=config["vocab_size"],
            tied_embeddings=bool(config.get("tie_word_embeddings", config.get("model_type") == "bloom")),
            max_position_embeddings=config.get("max_position_embeddings"),
            ungated_mlp_matrices=2 if config.get("model_type") in UNGATED_MLP_FAMILIES else None,
        )

    def hf_config(self) -> dict:
        """The Hugging Face config keys these facts came from (what the memory model takes)."""
        return {"num_hidden_layers": self.layers, "hidden_size": self.hidden_size,
                "num_attention_heads": self.attention_heads, "num_key_value_heads": self.kv_heads,
                "head_dim": self.head_dim, "intermediate_size": self.ffn_size, "vocab_size": self.vocab_size,
                "tie_word_embeddings": self.tied_embeddings}


@dataclass(frozen=True)
class Quantization(JsonRecord):
    scheme: str = ""
    description: str = ""
    group_size: int | None = None
    embedding: str = "none"
    accuracy_level: int | None = optional()  # ONNX only
    source_grids: Mapping[str, object] | None = optional()  # ExecuTorch 8da4w: weights kept on a GGUF grid


@dataclass(frozen=True)
class Program(JsonRecord):
    """The program format facts the device checks against the app's runtimes (records.program_format)."""

    format: str = ""
    flatbuffer_identifier: str | None = optional()  # executorch-pte
    extended_header: bool | None = optional()
    ir_version: int | None = optional()  # onnx
    opset: Mapping[str, int] | None = optional()
    exported_with: Mapping[str, str | None] = optional(EMPTY)


@dataclass(frozen=True)
class Runtime(JsonRecord):
    engine: str = ""
    engines: tuple[str, ...] | None = optional()  # the first is the default (older manifests: engine alone)
    program: Program | None = sub(Program, omit_none=True)
    # ExecuTorch
    metadata: Mapping[str, Any] | None = optional()  # the program's constant methods
    inputs: tuple[str, ...] | None = optional()
    outputs: tuple[str, ...] | None = optional()
    delegation: Mapping[str, Any] | None = optional()
    full_logits: bool | None = optional()  # forward returns every position's logits (export --full-logits)
    kv_cache: Mapping[str, Any] | None = optional()  # {sliding_window_slots, max_chunk}: a ring program's limits
    # ONNX
    execution_provider: str | None = optional()
    opset: Mapping[str, int] | None = optional()
    op_types: Mapping[str, int] | None = optional()
    external_data: tuple[str, ...] | None = optional()
    genai_config: str | None = optional()
    io: Mapping[str, Any] | None = optional()  # the graph's inputs/outputs by role, and the KV cache's shape

    @property
    def engine_names(self) -> tuple[str, ...]:
        return tuple(self.engines or (self.engine,))


@dataclass(frozen=True)
class PredictedMemory(JsonRecord):
    weight_bytes: int = 0
    kv_cache_bytes: int = 0
    kv_cache_at_tokens: int | None = None
    kv_cache_sliding_window_slots: int | None = optional()  # the window layers' ring, where they keep one
    planned_arena_bytes: int | None = None
    activation_bytes: int | None = None
    load_transient_bytes: int | None = optional()  # ExecuTorch: XNNPACK's buffer for packing the LM head at load
    total_bytes: int = 0
    method: str = ""
    onnxruntime: Mapping[str, Any] | None = optional()  # model.memory.onnx_run_model's coefficients


@dataclass(frozen=True)
class ExportFacts(JsonRecord):
    wall_seconds: float = 0.0
    stage_seconds: Mapping[str, float] = empty_mapping()
    # the exporting process's peak RSS (VmHWM): since the export began ("export"), or since the process
    # began where the kernel would not reset the peak ("process")
    peak_rss_bytes: int | None = optional()
    peak_rss_scope: str | None = optional()
    slm_edge_version: str = ""
    slm_edge_code_sha256: str | None = optional()


@dataclass(frozen=True)
class FileEntry(JsonRecord):
    bytes: int = 0
    sha256: str = ""


@dataclass(frozen=True)
class Manifest(JsonRecord):
    """manifest.json, typed. `Manifest.read(folder)` for an artifact folder, `from_json` for a document."""

    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION
    created_utc: str = ""
    cache_key: str = ""
    source: Source = sub(Source, Source())
    architecture: Architecture = sub(Architecture, Architecture())
    backend: str = ""
    export_path: str = ""
    export_path_reason: str = ""
    quantization: Quantization = sub(Quantization, Quantization())
    max_seq_len: int = 0
    model_file: str = ""
    tokenizer: str | None = None
    runtime: Runtime = sub(Runtime, Runtime())
    predicted_memory: PredictedMemory = sub(PredictedMemory, PredictedMemory())
    export: ExportFacts = sub(ExportFacts, ExportFacts())
    files: Mapping[str, FileEntry] = mapping_of(FileEntry)
    versions: Mapping[str, str | None] = empty_mapping()

    @classmethod
    def from_json(cls, document, label: str = "manifest") -> Manifest:
        """The manifest in `document`, checked against the schema (a one-line BadInput when it is not one)."""
        if not isinstance(document, Mapping) or document.get("schema") != SCHEMA:
            raise BadInput(f"{label} is not an slm-edge manifest", REEXPORT)
        _check_version(document, label)
        problem = first_error(document, "manifest")
        if problem:
            raise BadInput(f"{label} is not an slm-edge manifest ({problem})", REEXPORT)
        return cls.from_doc(document)

    @classmethod
    def read(cls, folder: Path, *, checked: bool = True) -> Manifest:
        """The manifest of an artifact folder, checked against the schema unless `checked` is False
        (the device-side runner: the host checked it before pushing)."""
        path, document = _read_document(folder)
        return cls.from_json(document, str(path)) if checked else cls.from_doc(document)

    def check_files(self, folder: Path) -> None:
        """Every file the manifest lists is present with the recorded size and sha256."""
        for name, entry in self.files.items():
            path = Path(folder) / name
            if not path.is_file():
                raise BadInput(f"artifact file missing: {path}", "re-export the artifact (`slm-edge export ... {force}`)")
            if path.stat().st_size != entry.bytes or cache.sha256_file(path) != entry.sha256:
                raise BadInput(f"artifact file {path} does not match its manifest hash (changed or corrupted)",
                               "re-export the artifact (`slm-edge export ... {force}`)")

    @property
    def engines(self) -> tuple[str, ...]:
        """The engines that run this artifact, its default first."""
        return self.runtime.engine_names

    @property
    def model_bytes(self) -> int:
        return sum(entry.bytes for name, entry in self.files.items() if name.startswith("model."))
