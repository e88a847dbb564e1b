"""The trace contract: run config and trace JSON Schemas (slm_edge/records/schemas/), loading and validation.

The Linux runner and the Android app both write traces in this form; every trace the host reads
is validated before anything is computed from it. `RunConfig` and `Trace` are the typed records;
load_config / load_trace / validate_* return the dicts, for callers not yet moved to them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

from slm_edge.contract import CONFIG_SCHEMA_VERSION, MIN_TRACE_SCHEMA_VERSION, TRACE_FILE, TRACE_SCHEMA_VERSION  # noqa: F401 (readers' API)
from slm_edge.errors import SlmEdgeError
from slm_edge.records._json import JsonRecord, empty_mapping, first_error, optional, schema, sub, thaw  # noqa: F401 (schema: readers' API)

CONFIG_SCHEMA = "slm-edge/run-config"
TRACE_SCHEMA = "slm-edge/trace"


def _validate(document, name: str, label: str) -> None:
    problem = first_error(document, name)
    if problem:
        raise SlmEdgeError(
            f"{label} is malformed {problem}",
            "re-run the profile; if it persists, the device-side runner and this slm-edge disagree on the trace format",
        )


def _read_json(path: Path, label: str):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise SlmEdgeError(f"{label} not found: {path}", "check the path") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SlmEdgeError(f"{label} {path} is not valid JSON (truncated or corrupted)", "re-run the profile") from exc


def validate_trace(trace: dict, label: str = "trace") -> dict:
    if not isinstance(trace, dict):
        raise SlmEdgeError(f"{label} is not a JSON object", "re-run the profile")
    version = trace.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > TRACE_SCHEMA_VERSION:
        raise SlmEdgeError(
            f"{label} has trace schema version {version}; this slm-edge reads versions "
            f"{MIN_TRACE_SCHEMA_VERSION} to {TRACE_SCHEMA_VERSION}",
            "upgrade slm-edge on the host (pip install -U slm-edge)",
        )
    if isinstance(version, int) and not isinstance(version, bool) and version < MIN_TRACE_SCHEMA_VERSION:
        raise SlmEdgeError(
            f"{label} has trace schema version {version}; this slm-edge reads versions "
            f"{MIN_TRACE_SCHEMA_VERSION} to {TRACE_SCHEMA_VERSION}",
            "update the profiler app (slm-edge app install) or profile with an older slm-edge",
        )
    _validate(trace, "trace", label)
    return trace


def load_trace(path: Path) -> dict:
    return validate_trace(_read_json(path, "trace"), f"trace {path}")


def validate_config(config: dict, label: str = "run config") -> dict:
    _validate(config, "run_config", label)
    return config


def load_config(path: Path) -> dict:
    return validate_config(_read_json(path, "run config"), f"run config {path}")


# --- the run config ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Document(JsonRecord):
    """A record read from a file of its own, validated like the dict loaders above."""

    LABEL: ClassVar[str] = ""

    @staticmethod
    def validate(document, label: str):  # pragma: no cover - each document names its own
        raise NotImplementedError

    @classmethod
    def from_json(cls, document, label: str | None = None):
        return cls.from_doc(cls.validate(document, label or cls.LABEL))

    @classmethod
    def load(cls, path: Path):
        return cls.from_json(_read_json(path, cls.LABEL), f"{cls.LABEL} {path}")


@dataclass(frozen=True)
class RunArtifact(JsonRecord):
    """Which artifact to run, relative to the config file, and the facts the runner needs before loading it."""

    dir: str = ""
    model_file: str = ""
    engine: str = ""
    manifest_sha256: str = ""
    max_seq_len: int = 0
    vocab_size: int = 0
    bos_id: int | None = None
    tokenizer_file: str | None = None


@dataclass(frozen=True)
class RunConfig(_Document):
    """run_config.json: what the device-side runner (the app or `python -m slm_edge.runner`) runs.
    Keys the document leaves out read as the runners' defaults and stay out of to_json."""

    schema: str = CONFIG_SCHEMA
    schema_version: int = CONFIG_SCHEMA_VERSION
    artifact: RunArtifact = sub(RunArtifact, RunArtifact())
    mode: str = "steps"  # or llm_runner: executorch's TextLLMRunner end to end
    prompt_lengths: tuple[int, ...] = ()
    decode_tokens: int = 0
    repeats: int = 1
    warmup: int = 0
    threads: tuple[int, ...] = ()
    sample_interval_ms: float = 50.0
    memory_sampling: bool = True
    ops: bool = False
    seed: int = 0
    trace_file: str = TRACE_FILE

    LABEL: ClassVar[str] = "run config"
    validate = staticmethod(validate_config)

    @property
    def longest_sequence(self) -> int:
        """The longest prompt plus the decode tokens: what the artifact's max length must hold."""
        return max(self.prompt_lengths) + self.decode_tokens


# --- the trace -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Producer(JsonRecord):
    name: str = ""
    version: str = ""


@dataclass(frozen=True)
class DeviceFacts(JsonRecord):
    model: str = ""
    cpu: str = ""
    cores: int = 1
    ram_bytes: int = 0
    os: str = ""
    soc: str | None = optional()
    abi: str | None = optional()
    cpu_max_freq_khz: tuple[int | None, ...] | None = optional()
    emulated: bool | None = optional()


@dataclass(frozen=True)
class TraceArtifact(JsonRecord):
    """What the runner ran: the manifest's hash, the model file and the engine."""

    manifest_sha256: str = ""
    model_file: str = ""
    engine: str = ""


@dataclass(frozen=True)
class ArtifactFacts(JsonRecord):
    """What the host knew of the artifact (workflows.profile.artifact_facts); any key may be missing
    in a trace from an older host."""

    name: str | None = optional()
    backend: str | None = optional()
    scheme: str | None = optional()
    parameters: int | None = optional()
    model_bytes: int | None = optional()
    max_seq_len: int | None = optional()
    predicted_memory: Mapping[str, Any] | None = optional()
    verify: Mapping[str, Any] | None = optional()  # verify.json's figures, None when not verified


@dataclass(frozen=True)
class HostSection(JsonRecord):
    """What the host adds to the trace after pulling it (workflows.profile)."""

    device: Mapping[str, Any] | None = optional()
    pushed: Mapping[str, Any] | None = optional()
    runner_returncode: int | None = optional()
    timed_out: bool | None = optional()
    artifact: ArtifactFacts | None = sub(ArtifactFacts, omit_none=True)
    context_samples: tuple | None = optional()
    transfer: Mapping[str, Any] | None = optional()
    device_files: tuple | None = optional()


@dataclass(frozen=True)
class Trace(_Document):
    """trace.json, typed at the top; runs, samples and op profiles stay read-only JSON."""

    schema: str = TRACE_SCHEMA
    schema_version: int = TRACE_SCHEMA_VERSION
    status: str = "running"
    producer: Producer = sub(Producer, Producer())
    device: DeviceFacts = sub(DeviceFacts, DeviceFacts())
    software: Mapping[str, Any] | None = optional()
    artifact: TraceArtifact = sub(TraceArtifact, TraceArtifact())
    config: Mapping[str, Any] = empty_mapping()  # the run config as the runner received it
    clock: Mapping[str, Any] = empty_mapping()
    baseline_memory: Mapping[str, Any] = empty_mapping()
    loads: tuple[Mapping[str, Any], ...] = optional(())
    runs: tuple[Mapping[str, Any], ...] = ()
    memory_samples: tuple[Mapping[str, Any], ...] = ()
    phase_markers: tuple[Mapping[str, Any], ...] = ()
    cpu_samples: tuple[Mapping[str, Any], ...] = optional(())
    errors: tuple[Mapping[str, Any], ...] = ()
    op_profiles: tuple[Mapping[str, Any], ...] | None = optional()
    host: HostSection | None = sub(HostSection, omit_none=True)

    LABEL: ClassVar[str] = "trace"
    validate = staticmethod(validate_trace)

    @property
    def artifact_facts(self) -> ArtifactFacts | None:
        """The host's facts of the artifact (name, backend, scheme, predicted memory, verify), or None
        for a trace no host has finished (straight from a runner)."""
        return self.host.artifact if self.host else None

    @property
    def run_config(self) -> RunConfig:
        """The config section as a RunConfig (checked against the run config schema)."""
        return RunConfig.from_json(thaw(self.config), "the trace's run config")

    @property
    def measured_runs(self) -> tuple[Mapping[str, Any], ...]:
        """The runs that count (not warm-ups)."""
        return tuple(run for run in self.runs if not run["warmup"])

