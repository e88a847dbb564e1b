"""The export settings, declared once: each field's type, default and help text, in the section it
belongs to (common, ExecuTorch, ONNX). The CLI's `export` options and the recipe keys are made from
these declarations; CLI options and recipe YAML both give a flat mapping of setting name → value,
and `ExportConfig.from_settings` turns it into sections that validate themselves.

Checks that need the model (a group size must divide its layers, the length must fit its positions)
are in `slm_edge.export.validate`; the sections check what they can alone (`check`), and an
ExportConfig checks the ONNX section only for ONNX exports.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields, make_dataclass, replace
from typing import Any, Mapping

from slm_edge.errors import BadInput
from slm_edge.model.quant import (EMBEDDING_QUANT, ONNX_ACCURACY_LEVELS, ONNX_BLOCK_SIZES, ONNX_EXECUTION_PROVIDERS,
                                  SCHEMES, scheme_for)

BACKENDS = tuple(SCHEMES)
PATH_CHOICES = ("auto", "fast", "generic")
DEFAULT_QUANT = {"executorch": "8da4w", "onnx": "int4"}
DEFAULT_MAX_SEQ_LEN = 1024
MIN_SEQ_LEN = 8


def setting(default: Any, help: str, *, choices: tuple | None = None, minimum: int | None = None,
            show_default: bool = True):
    """A declared setting. `choices` are offered (and enforced) by the CLI too; `minimum` bounds an int."""
    return field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum,
                                            "show_default": show_default})


@dataclass(frozen=True)
class CommonSettings:
    backend: str = setting("executorch", "Artifact format.", choices=BACKENDS)
    quant: str | None = setting(
        None, "Quantization scheme. executorch: fp32, fp16, 8da4w, 8da8w, int8 (weight-only) [default 8da4w]; "
              "onnx: fp32, fp16, int8, int4 [default int4].", show_default=False)
    max_seq_len: int | None = setting(
        None, "Longest prompt + generated sequence the artifact accepts (KV cache size) "
              f"[default: {DEFAULT_MAX_SEQ_LEN}, or the model's maximum if smaller].", minimum=1, show_default=False)
    path: str = setting("auto", "fast: executorch's LLM model form; generic: transformers' exportable wrapper.",
                        choices=PATH_CHOICES)

    def check(self) -> None:
        if self.path not in PATH_CHOICES:
            raise BadInput(f"unknown export path '{self.path}'", f"use one of: {', '.join(PATH_CHOICES)}")
        if self.quant is not None:
            scheme_for(self.backend, self.quant)  # refuses an unknown backend, or a scheme it cannot build
        elif self.backend not in BACKENDS:
            scheme_for(self.backend, "")
        if self.max_seq_len is not None and self.max_seq_len < MIN_SEQ_LEN:
            raise BadInput(f"{{max_seq_len}} {self.max_seq_len} is too small", f"use at least {MIN_SEQ_LEN}")


@dataclass(frozen=True)
class ExecutorchSettings:
    group_size: int = setting(32, "weights per quantization group (0 = per channel).", minimum=0)
    embedding_quant: str = setting("8w", "embedding table quantization (none, 8-bit or 4-bit weights).",
                                   choices=tuple(EMBEDDING_QUANT))
    # executorch's own eval export does the same (examples/models/llama/eval_llama.py sets it)
    full_logits: bool = setting(
        False, "forward returns every position's logits, so `slm-edge eval` scores a chunk in one forward "
               "instead of one token a step; prefill then runs the LM head on every position (fast path only).")
    # executorch's llama export calls the same limit max_seq_length (its runner's get_max_seq_len)
    prefill_chunk: int = setting(
        128, "sliding-window models (Gemma 3) on the fast path: the most tokens one forward takes (longer prompts "
             "are fed in chunks); the window layers then keep a ring of window + chunk - 1 positions instead of "
             "max_seq_len.", minimum=4)

    def check(self) -> None:
        if self.embedding_quant not in EMBEDDING_QUANT:
            raise BadInput(f"unknown embedding quantization '{self.embedding_quant}'",
                           f"use one of: {', '.join(EMBEDDING_QUANT)}")


@dataclass(frozen=True)
class OnnxSettings:
    block_size: int = setting(32, "int4/int8: weights per MatMulNBits block (16, 32, 64, 128, 256).")
    accuracy_level: int = setting(
        4, "int4/int8: MatMulNBits compute type of activations (0 default, 1 fp32, 2 fp16, 3 bf16, 4 int8).")
    execution_provider: str = setting(
        "cpu", "execution provider the device should use (cpu, xnnpack, nnapi, qnn); recorded in the manifest.")

    def __post_init__(self):
        object.__setattr__(self, "execution_provider", self.execution_provider.lower())

    def check(self) -> None:
        if self.block_size not in ONNX_BLOCK_SIZES:
            raise BadInput(f"{{block_size}} {self.block_size} is not one MatMulNBits supports",
                           f"use one of: {', '.join(map(str, ONNX_BLOCK_SIZES))}")
        if self.accuracy_level not in ONNX_ACCURACY_LEVELS:
            raise BadInput(f"{{accuracy_level}} {self.accuracy_level} is not a MatMulNBits accuracy level",
                           "use 0 (EP default), 1 (fp32), 2 (fp16), 3 (bf16) or 4 (int8)")
        if self.execution_provider not in ONNX_EXECUTION_PROVIDERS:
            raise BadInput(f"unknown execution provider '{self.execution_provider}'",
                           f"use one of: {', '.join(ONNX_EXECUTION_PROVIDERS)}")


# section name → its settings; "executorch" and "onnx" are also the backends they shape
SECTIONS = {"common": CommonSettings, "executorch": ExecutorchSettings, "onnx": OnnxSettings}


@dataclass(frozen=True)
class Setting:
    """One declared setting, as the CLI and the recipe loader see it."""

    name: str
    section: str
    type: type  # str, int or bool (a None default means "chosen for the model")
    default: Any
    help: str
    choices: tuple | None
    minimum: int | None
    show_default: bool


def _settings() -> dict[str, Setting]:
    found = {}
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            kind = next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None))
            found[f.name] = Setting(f.name, section, kind, f.default, f.metadata["help"], f.metadata["choices"],
                                    f.metadata["minimum"], f.metadata["show_default"])
    return found


SETTINGS = _settings()


@dataclass(frozen=True)
class ExportConfig:
    common: CommonSettings = field(default_factory=CommonSettings)
    executorch: ExecutorchSettings = field(default_factory=ExecutorchSettings)
    onnx: OnnxSettings = field(default_factory=OnnxSettings)

    def __post_init__(self):
        # ONNX settings are checked for ONNX exports only: they do not shape an ExecuTorch artifact.
        # The ExecuTorch section's one check (embedding_quant) holds for both, as it always has: the
        # disk-space estimate reads it whatever the backend.
        self.common.check()
        self.executorch.check()
        if self.backend == "onnx":
            self.onnx.check()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] = (), /, **more: Any) -> ExportConfig:
        """Sections from a flat mapping of setting names (CLI options, a recipe, keyword arguments)."""
        given = {**dict(settings), **more}
        unknown = sorted(set(given) - set(SETTINGS))
        if unknown:
            raise BadInput(f"unknown export setting '{unknown[0]}'", f"use one of: {', '.join(SETTINGS)}")
        by_section = {name: {} for name in SECTIONS}
        for name, value in given.items():
            by_section[SETTINGS[name].section][name] = value
        return cls(**{name: SECTIONS[name](**values) for name, values in by_section.items()})

    def settings(self) -> dict[str, Any]:
        """The flat mapping back: every setting by name."""
        return {name: value for section in SECTIONS for name, value in asdict(getattr(self, section)).items()}

    def shaping_settings(self) -> dict[str, Any]:
        """The settings that shape the artifact: common ones and the chosen backend's (the cache key's)."""
        return {**asdict(self.common), **asdict(getattr(self, self.backend))}

    def resolved(self, model_config: dict, *, default_max_seq_len: int = DEFAULT_MAX_SEQ_LEN) -> ExportConfig:
        """The settings left to the model filled in: the backend's default scheme, and a length of
        `default_max_seq_len` or the model's maximum if smaller."""
        common = self.common
        if common.quant is None:
            common = replace(common, quant=DEFAULT_QUANT[common.backend])
        if common.max_seq_len is None:
            limit = model_config.get("max_position_embeddings") or default_max_seq_len
            common = replace(common, max_seq_len=min(default_max_seq_len, limit))
        return replace(self, common=common)

    @property
    def backend(self) -> str:
        return self.common.backend

    @property
    def quant(self) -> str | None:
        return self.common.quant

    @property
    def max_seq_len(self) -> int | None:
        return self.common.max_seq_len

    @property
    def path(self) -> str:
        return self.common.path

    @property
    def group_size(self) -> int:
        """The group (ExecuTorch) or block (ONNX) size of the chosen backend."""
        return self.onnx.block_size if self.backend == "onnx" else self.executorch.group_size


def check_setting_types(values: Mapping[str, Any], where: str) -> None:
    """Refuse a value of the wrong type for a declared setting (YAML gives any type)."""
    for name, value in values.items():
        expected = SETTINGS[name].type
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise BadInput(f"{where}: '{name}' must be {expected.__name__}, got {type(value).__name__} {value!r}",
                           f"write {name} as a {expected.__name__}")


# The flat form of an ExportConfig, for callers that give settings by keyword: made from the same
# declarations, so it cannot drift from them.
ExportRequest = make_dataclass(
    "ExportRequest", [(s.name, s.type, field(default=s.default)) for s in SETTINGS.values()], frozen=True,
    namespace={"config": lambda self: ExportConfig.from_settings(asdict(self)),
               "__doc__": "Export settings by keyword (backend, quant, max_seq_len, group_size, ...); "
                          "`config()` gives the validated ExportConfig."})
ExportRequest.__module__ = __name__
