"""Devices a profile runs on. Each pushes files (skipping those already there with the same
sha256), runs the device-side runner on a run config, pulls the trace back, and describes itself.
`LocalDevice` (emulated) is the desktop stand-in; the adb device implements the same interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slm_edge.records.manifest import Manifest
    from slm_edge.records.trace import RunConfig


@dataclass
class RunResult:
    returncode: int
    log: str  # the runner's stderr (Linux) or logcat tail (Android)
    timed_out: bool = False
    trace_path: str | None = None  # where the device wrote the trace (device path)
    trace_sha256: str | None = None  # what the device says the trace's hash is: checked after pull
    problem: str | None = None  # one line from the device side when the run failed
    logs: dict[str, str] = field(default_factory=dict)  # extra logs to keep in the run folder, by file name
    host_samples: list[dict] = field(default_factory=list)  # host-side context sampled during the run
    outputs_dir: str | None = None  # device folder of the run's other outputs (ETDump, ORT profile)
    transfer: dict = field(default_factory=dict)  # reconnects, chunks skipped on resume
    refusal: Exception | None = None  # the host refused what the device reported (e.g. a trace path): raised as is


@dataclass(frozen=True)
class Detached:
    """A run started without the host waiting for it (profile --detach): where its trace will be and
    how the device tells whether it still runs. `collect` finds it again from these."""

    trace_path: str  # device path of the trace the run writes
    outputs_dir: str | None  # device folder of the run's other outputs (ETDump, ORT profile), if any
    process: dict  # device-specific: {"pid": N} (emulated device), {"package": PKG} (phone)

    def to_json(self) -> dict:
        return {"trace_path": self.trace_path, "outputs_dir": self.outputs_dir, "process": self.process}

    @classmethod
    def from_json(cls, document: dict) -> Detached:
        return cls(trace_path=document["trace_path"], outputs_dir=document.get("outputs_dir"),
                   process=dict(document.get("process") or {}))


class Device(ABC):
    serial: str

    @abstractmethod
    def info(self) -> dict: ...

    def check_can_run(self, manifest: Manifest, config: RunConfig) -> None:
        """Refuse, before anything is pushed, an artifact or run config this device cannot run."""

    @abstractmethod
    def push(self, local: Path, remote: str, sha256: str) -> bool:
        """Copy `local` to `remote` unless a file with that sha256 is already there; True if copied."""

    @abstractmethod
    def run_profile(self, remote_config: str, timeout_s: float) -> RunResult: ...

    def start_detached(self, remote_config: str) -> Detached:
        """Start the run and return at once: it goes on without the host (profile --detach)."""
        from slm_edge.errors import BadInput

        raise BadInput(f"{self.serial} cannot run a profile detached", "profile without {detach}")

    def detached_running(self, detached: Detached) -> bool:
        """True while the detached run's process is alive."""
        return False

    def stop_detached(self, detached: Detached) -> None:
        """End a detached run's process (what its trace holds is kept); returns once it is gone."""

    def detached_logs(self, detached: Detached) -> dict[str, str]:
        """The run's logs as the device kept them, by file name (collected after the fact)."""
        return {}

    @abstractmethod
    def pull(self, remote: str, local: Path, sha256: str | None = None) -> bool:
        """Copy `remote` to `local` (checked against sha256 when given); False if the device has no such file."""

    def pull_folder(self, remote: str, local_dir: Path, skip: tuple[str, ...] = ()) -> list[str]:
        """Copy every plain file of a device folder into local_dir (names sanitized); the names pulled."""
        return []

    @abstractmethod
    def remove(self, remote: str) -> None: ...
