"""The trace contract: run config and trace JSON Schemas (slm_edge/records/schemas/), loading and validation.

The Linux runner and the Android app both write traces in this form; every trace the host reads
is validated before anything is computed from it. `RunConfig` and `Trace` are the typed records:
`load(path)` and `from_json(document)` check the document, `from_doc` does not (for a document
checked before, e.g. by the host before pushing it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

from slm_edge.contract import (CONFIG_SCHEMA, CONFIG_SCHEMA_VERSION, MIN_TRACE_SCHEMA_VERSION, TRACE_FILE, TRACE_SCHEMA,
                               TRACE_SCHEMA_VERSION)
from slm_edge.errors import BadInput, RuntimeFailure, SlmEdgeError
from slm_edge.records._json import JsonRecord, empty_mapping, first_error, optional, sub



@dataclass(frozen=True)
class _Document(JsonRecord):
    """A record read from a file of its own, checked against its JSON Schema."""

    LABEL: ClassVar[str] = ""
    SCHEMA_NAME: ClassVar[str] = ""
    # what a document that is not one means: a bad input, or (a trace) a runner that wrote it wrong
    BROKEN: ClassVar[type[SlmEdgeError]] = BadInput
    FIX: ClassVar[str] = ""

    @classmethod
    def check(cls, document, label: str) -> None:
        problem = first_error(document, cls.SCHEMA_NAME)
        if problem:
            raise cls.BROKEN(f"{label} is malformed {problem}", cls.FIX)

    @classmethod
    def from_json(cls, document, label: str | None = None):
        cls.check(document, label or cls.LABEL)
        return cls.from_doc(document)

    @classmethod
    def load(cls, path: Path):
        try:
            document = json.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise BadInput(f"{cls.LABEL} not found: {path}", "check the path") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise cls.BROKEN(f"{cls.LABEL} {path} is not valid JSON (truncated or corrupted)", "re-run the profile") from exc
        return cls.from_json(document, f"{cls.LABEL} {path}")


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
    mode: str = "steps"  # or llm_runner: executorch's TextLLMRunner end to end; or eval: teacher-forced scoring
    # steps and llm_runner modes; absent in eval mode
    prompt_lengths: tuple[int, ...] | None = optional()
    decode_tokens: int | None = optional()
    repeats: int | None = optional()
    warmup: int | None = optional()
    eval: Mapping[str, Any] | None = optional()  # eval mode: {"chunks": [[token, ...], ...]}
    threads: tuple[int, ...] = ()
    sample_interval_ms: float = 50.0
    memory_sampling: bool = True
    ops: bool = False
    seed: int = 0
    trace_file: str = TRACE_FILE
    sustained_s: float | None = optional()  # mode sustained: seconds of decoding without a pause
    cooldown: Mapping[str, Any] | None = optional()  # {max_wait_s, temp_c, within_c, poll_s}: the gate before each repeat
    cpus: tuple[int, ...] | None = optional()  # cores the runner is pinned to
    unplug_wait: Mapping[str, Any] | None = optional()  # {max_wait_s, settle_s, poll_s}: a detached run starts on battery

    LABEL: ClassVar[str] = "run config"
    SCHEMA_NAME: ClassVar[str] = "run_config"
    FIX: ClassVar[str] = "re-run the profile; if it persists, the device-side runner and this slm-edge disagree on the run config format"

    @property
    def longest_sequence(self) -> int:
        """The longest prompt plus the decode tokens (eval: the longest chunk): what the artifact's max length must hold."""
        if self.mode == "eval":
            return max(len(chunk) for chunk in self.eval["chunks"])
        if self.mode == "sustained":  # decodes to the end of the context, then prefills again
            return self.prompt_lengths[0] + 1
        return max(self.prompt_lengths) + self.decode_tokens


# --- the trace -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Producer(JsonRecord):
    name: str = ""
    version: str = ""


@dataclass(frozen=True)
class TraceDevice(JsonRecord):
    """The device as the runner saw it (the host's own view is in host.device)."""

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
    """What the host knew of the artifact (workflows.profile.artifact_facts). A trace from an older host
    may leave keys out (read as None, not written back); one the host builds writes every key."""

    name: str | None = None
    backend: str | None = None
    scheme: str | None = None
    parameters: int | None = None
    model_bytes: int | None = None
    max_seq_len: int | None = None
    predicted_memory: Mapping[str, Any] | None = None
    verify: Mapping[str, Any] | None = None  # verify.json's figures, None when not verified
    quality: Mapping[str, Any] | None = optional()  # eval.json's latest headline figures, None when not evaluated
    full_logits: bool | None = optional()  # an ExecuTorch eval export: prefill runs the LM head on every position
    architecture: Mapping[str, Any] | None = optional()  # the manifest's architecture facts (the survey findings' regressors)
    # what was built and how (the manifest's source, export path, quantization, file sizes, library
    # versions, when and how long): the report's "what was measured" and its export command
    provenance: Mapping[str, Any] | None = optional()


@dataclass(frozen=True)
class HostSection(JsonRecord):
    """What the host adds to the trace after pulling it (workflows.profile); every key written, as ArtifactFacts."""

    device: Mapping[str, Any] | None = None  # the device as the host saw it (Device.info())
    pushed: Mapping[str, Any] | None = None  # file name → pushed (False: the device had it)
    runner_returncode: int | None = None
    timed_out: bool | None = None
    artifact: ArtifactFacts | None = sub(ArtifactFacts)
    context_samples: tuple | None = None  # host-side samples during the run (battery, thermal)
    transfer: Mapping[str, Any] | None = None  # reconnects, chunks pushed and skipped
    device_files: tuple | None = None  # the app's other outputs, pulled into device-files/


@dataclass(frozen=True)
class Trace(_Document):
    """trace.json, typed at the top; runs, samples and op profiles stay read-only JSON."""

    schema: str = TRACE_SCHEMA
    schema_version: int = TRACE_SCHEMA_VERSION
    status: str = "running"
    producer: Producer = sub(Producer, Producer())
    device: TraceDevice = sub(TraceDevice, TraceDevice())
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
    eval: Mapping[str, Any] | None = optional()  # mode eval: per chunk the scored tokens' log-probabilities and argmax
    sustained: Mapping[str, Any] | None = optional()  # mode sustained: {threads, prompt_length, seconds, segments}
    unplug_wait: Mapping[str, Any] | None = optional()  # {waited_ms, outcome, settle_ms, plugged_before}: before the run
    host: HostSection | None = sub(HostSection, omit_none=True)

    LABEL: ClassVar[str] = "trace"
    SCHEMA_NAME: ClassVar[str] = "trace"
    BROKEN: ClassVar[type[SlmEdgeError]] = RuntimeFailure
    FIX: ClassVar[str] = "re-run the profile; if it persists, the device-side runner and this slm-edge disagree on the trace format"

    @classmethod
    def check(cls, document, label: str) -> None:
        if not isinstance(document, dict):
            raise RuntimeFailure(f"{label} is not a JSON object", "re-run the profile")
        version = document.get("schema_version")
        if isinstance(version, int) and not isinstance(version, bool) and not (
                MIN_TRACE_SCHEMA_VERSION <= version <= TRACE_SCHEMA_VERSION):
            newer = version > TRACE_SCHEMA_VERSION
            raise BadInput(f"{label} has trace schema version {version}; this slm-edge reads versions "
                           f"{MIN_TRACE_SCHEMA_VERSION} to {TRACE_SCHEMA_VERSION}",
                           "upgrade slm-edge on the host (pip install -U slm-edge)" if newer else
                           "update the profiler app (slm-edge app install) or profile with an older slm-edge")
        super().check(document, label)

    @property
    def artifact_facts(self) -> ArtifactFacts | None:
        """The host's facts of the artifact (name, backend, scheme, predicted memory, verify), or None
        for a trace no host has finished (straight from a runner)."""
        return self.host.artifact if self.host else None

    @property
    def run_config(self) -> RunConfig:
        """The config section as a RunConfig, keys it leaves out read as the runners' defaults. Not
        checked against the run config schema: the runner checked it, and a trace keeps what it ran."""
        return RunConfig.from_doc(self.config)

    @property
    def has_measurements(self) -> bool:
        """Something was measured: a run, (eval mode) a scored chunk, or (sustained) a segment."""
        return (bool(self.runs) or bool(self.eval and self.eval.get("chunks"))
                or bool(self.sustained and self.sustained.get("segments")))

    @property
    def measured_runs(self) -> tuple[Mapping[str, Any], ...]:
        """The runs that count (not warm-ups)."""
        return tuple(run for run in self.runs if not run["warmup"])

