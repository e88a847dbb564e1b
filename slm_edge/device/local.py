"""The emulated device: a folder of its own as device storage, the Linux runner in a separate
process, the same push / run / pull contract as a phone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

from slm_edge import cache
from slm_edge.contract import TRACE_FILE
from slm_edge.device import Detached, Device, RunResult
from slm_edge.errors import BadInput, RuntimeFailure
from slm_edge.records.manifest import Manifest
from slm_edge.records.trace import RunConfig
from slm_edge.runner.samplers import device_facts


RUNNERS = ("python", "app")
DETACHED_LOG = "runner.log"  # a detached run's stderr, beside its config on the device
def _proc_stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (state first; proc(5)); [] when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()
    except OSError:
        return []


# Detached runners started by this process: kept so Python neither warns about a child still running
# nor leaves a zombie when the process that detached it also collects it (tests do).
_STARTED: dict[int, subprocess.Popen] = {}


class LocalDevice(Device):
    """runner: "python" is the Linux runner (slm_edge.runner: every engine, no JDK needed, hence the
    default); "app" is the profiler app's own Java code (core + ONNX engine) on this machine's JVM
    with the desktop onnxruntime, the code a phone runs, for ONNX artifacts."""

    def __init__(self, root: Path | None = None, serial: str = "emulated", runner: str = "python"):
        if runner not in RUNNERS:
            raise BadInput(f"unknown runner {runner!r}", f"choose one of {', '.join(RUNNERS)}")
        self.serial = serial
        self.runner = runner
        self.root = Path(root) if root else cache.root_for("emulated-device") / serial
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def runs_app(self) -> bool:
        """The profiler app's Java loop (not the Linux runner) runs the profile."""
        return self.runner == "app"

    def _path(self, remote: str) -> Path:
        relative = PurePosixPath(remote)
        if relative.is_absolute() or ".." in relative.parts:
            raise BadInput(f"device path {remote!r} leaves the device's storage", "use a relative path without '..'")
        return self.root / relative

    def info(self) -> dict:
        return {"serial": self.serial, "storage": str(self.root), **device_facts(emulated=True)}

    def push(self, local: Path, remote: str, sha256: str) -> bool:
        target = self._path(remote)
        if target.is_file() and cache.sha256_file(target) == sha256:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".push")
        os.close(fd)
        try:
            # a hard link where the artifact lies on the same disk (artifacts are never written in place):
            # a sweep's dozens of multi-GB artifacts are not stored twice
            os.unlink(tmp)
            try:
                os.link(local, tmp)
            except OSError:
                shutil.copyfile(local, tmp)
            if cache.sha256_file(Path(tmp)) != sha256:
                raise RuntimeFailure(f"{local} changed while it was pushed (sha256 mismatch)", "run the profile again")
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True

    def check_can_run(self, manifest: Manifest, config: RunConfig) -> None:
        from slm_edge.device.jvm_app import DESKTOP_ENGINES, NO_DESKTOP_EXECUTORCH

        engine = config.artifact.engine
        if self.runner == "app" and engine not in DESKTOP_ENGINES:
            raise BadInput(
                f"{{runner}} app runs the profiler app's Java code, which has a desktop runtime for "
                f"{', '.join(DESKTOP_ENGINES)} only, and this run uses {engine}",
                f"use {{runner}} python for it ({NO_DESKTOP_EXECUTORCH}), or profile an ONNX artifact "
                "with {engine} onnxruntime")

    def _runner_command(self, config: Path) -> list[str]:
        if self.runner == "app":
            from slm_edge.device.jvm_app import app_runner_command

            return app_runner_command(config, config.parent)
        return [sys.executable, "-m", "slm_edge.runner", str(config), "--emulated"]

    def run_profile(self, remote_config: str, timeout_s: float) -> RunResult:
        config = self._path(remote_config)
        command = self._runner_command(config)
        trace = str(PurePosixPath(remote_config).parent / TRACE_FILE)
        try:
            done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            log = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return RunResult(returncode=-1, log=log, timed_out=True, trace_path=trace)
        return RunResult(returncode=done.returncode, log=done.stderr, trace_path=trace)

    def start_detached(self, remote_config: str) -> Detached:
        """The runner in its own session, outliving this command; its stderr goes to the device's log file."""
        config = self._path(remote_config)
        with open(config.parent / DETACHED_LOG, "wb") as log:
            process = subprocess.Popen(self._runner_command(config), cwd=self.root, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=log, start_new_session=True)
        _STARTED[process.pid] = process
        stat = _proc_stat(process.pid)
        return Detached(trace_path=str(PurePosixPath(remote_config).parent / TRACE_FILE), outputs_dir=None,
                        process={"pid": process.pid, **({"started_ticks": stat[19]} if stat else {})})

    def detached_running(self, detached: Detached) -> bool:
        pid = int(detached.process.get("pid") or 0)
        if pid in _STARTED:
            return _STARTED[pid].poll() is None
        # started by another host process: alive unless gone, a zombie, or the pid reused by another
        # process (its start time, proc(5) stat field 22, differs from the one recorded at the start)
        stat = _proc_stat(pid)
        return bool(stat) and stat[0] != "Z" and stat[19] == detached.process.get("started_ticks", stat[19])

    def stop_detached(self, detached: Detached) -> None:
        pid = int(detached.process.get("pid") or 0)
        if self.detached_running(detached):
            try:
                os.killpg(pid, signal.SIGKILL)  # the runner's whole session (the app runner's JVM too)
            except (ProcessLookupError, PermissionError):
                pass
        if pid in _STARTED:
            _STARTED[pid].wait(30)
        deadline = time.monotonic() + 30  # another process's child: gone once the kernel has reaped or zombied it
        while self.detached_running(detached) and time.monotonic() < deadline:
            time.sleep(0.1)

    def detached_logs(self, detached: Detached) -> dict[str, str]:
        log = self._path(str(PurePosixPath(detached.trace_path).parent / DETACHED_LOG))
        return {"runner.log": log.read_text(errors="replace")} if log.is_file() else {}

    def pull(self, remote: str, local: Path, sha256: str | None = None) -> bool:
        source = self._path(remote)
        if not source.is_file():
            return False
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.", suffix=".pull")
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.replace(tmp, local)
        return True

    def remove(self, remote: str) -> None:
        target = self._path(remote)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
