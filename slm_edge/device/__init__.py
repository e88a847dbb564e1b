"""Devices a profile runs on. Each pushes files (skipping those already there with the same
sha256), runs the device-side runner on a run config, pulls the trace back, and describes itself.
`LocalDevice` (emulated) is the desktop stand-in; the adb device implements the same interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunResult:
    returncode: int
    log: str  # the runner's stderr (Linux) or logcat tail (Android)
    timed_out: bool = False


class Device(ABC):
    serial: str

    @abstractmethod
    def info(self) -> dict: ...

    @abstractmethod
    def push(self, local: Path, remote: str, sha256: str) -> bool:
        """Copy `local` to `remote` unless a file with that sha256 is already there; True if copied."""

    @abstractmethod
    def run_profile(self, remote_config: str, timeout_s: float) -> RunResult: ...

    @abstractmethod
    def pull(self, remote: str, local: Path) -> bool:
        """Copy `remote` to `local`; False if the device has no such file."""

    @abstractmethod
    def remove(self, remote: str) -> None: ...
