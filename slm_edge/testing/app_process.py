"""The profiler app's process on the emulated phone: runs the Linux runner as the app would run
its profiling loop, outside any shell session, so it keeps running when `am instrument` or the
adb connection goes away. It writes the runner's status lines and a final result line to an
events file that `am instrument` follows, and the runner's stderr to the device log.

    python -m slm_edge.testing.app_process --events FILE --package PKG -- RUNNER_ARGS...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from slm_edge.contract import STATUS_PREFIX
from slm_edge.testing import app_runtime
from slm_edge.testing.device_folder import append_log
from slm_edge.testing.faults import take_fault

RESULT_PREFIX = "slm-edge-app-result"
RUNNER_FILE = "runner.json"  # {"module": "slm_edge.testing.scripted_runner"} replaces the real runner
APP_FILE = "app.json"  # the running app, written by `am`: {"package", "pid" (its process group), "events"}


def state_dir() -> Path:
    return Path(os.environ.get("SLM_EDGE_DEVICE_STATE", "/emulator"))


def is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (an orphan may wait a while to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def running_app(state: Path) -> dict | None:
    try:
        app = json.loads((state / "apps" / APP_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return app if is_alive(app["pid"]) else None


def children(pid: int) -> list[int]:
    """The processes whose parent is pid (the app's runner)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rpartition(")")[2].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def write_app(state: Path, app: dict) -> None:
    tmp = state / "apps" / f".{APP_FILE}.tmp"
    tmp.write_text(json.dumps(app))
    os.replace(tmp, state / "apps" / APP_FILE)


def kill_app_processes(state: Path, package: str | None = None) -> bool:
    """Force-stop: SIGKILL the app's whole process group (the app and its runner). True if one ran."""
    app = running_app(Path(state))
    if not app or (package and app["package"] != package):
        return False
    try:
        os.killpg(app["pid"], signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _corrupt(trace: Path, how: str) -> None:
    data = bytearray(trace.read_bytes())
    if how == "truncate":
        trace.write_bytes(bytes(data[:len(data) // 2]))
    elif data:
        data[len(data) // 2] ^= 0xFF
        trace.write_bytes(bytes(data))


def _phase(line: str) -> str | None:
    for field in line.split()[1:]:
        key, _, value = field.partition("=")
        if key == "phase":
            return value
    return None


class App:
    def __init__(self, events: Path, package: str, runner_args: list[str], trace_path: Path):
        self.events = events
        self.package = package
        self.runner_args = runner_args
        self.trace_path = trace_path
        self.state = state_dir()
        self.stderr_tail: list[str] = []

    def emit(self, line: str) -> None:
        with open(self.events, "a") as out:
            out.write(line.rstrip("\n") + "\n")

    def log(self, tag: str, message: str, level: str = "I") -> None:
        append_log(self.state, tag, message, level)

    def run(self) -> int:
        self.trace_path.parent.mkdir(parents=True, exist_ok=True)
        self.log("ActivityManager", f"Start proc {os.getpid()}:{self.package}/u0a123 for instrumentation")
        runner = subprocess.Popen(self._runner_command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  bufsize=1)
        stderr_pump = threading.Thread(target=self._pump_stderr, args=(runner,), daemon=True)
        stderr_pump.start()
        for line in runner.stdout:
            if not line.startswith(STATUS_PREFIX):
                continue
            self.emit(line)
            phase = _phase(line)
            if phase and self._fault_matches("crash_at_phase", phase):
                runner.kill()
            elif phase and self._fault_matches("hang_at_phase", phase):
                runner.send_signal(signal.SIGSTOP)  # a hung app: no more output, force-stop ends it
        code = runner.wait()
        stderr_pump.join(5)
        if code < 0:
            self._crashed(-code)
            return 1
        self._finished(code)
        return 0

    def _runner_command(self) -> list[str]:
        """The app's own Java code for ONNX runs; the Linux runner (told why, for the trace) otherwise."""
        module = self._runner_module()
        if module != "slm_edge.runner":  # a test's scripted stand-in
            return [sys.executable, "-m", module, *self.runner_args]
        java, why_linux = app_runtime.app_command(self.state, self.runner_args)
        if java:
            return java
        self.log("slm-edge", why_linux or "Linux runner")
        return [sys.executable, "-m", module, *self.runner_args, *(["--runner-note", why_linux] if why_linux else [])]

    def _runner_module(self) -> str:
        """slm_edge.runner, unless a test switched the device to the scripted stand-in."""
        try:
            return json.loads((self.state / RUNNER_FILE).read_text())["module"]
        except (FileNotFoundError, ValueError, KeyError):
            return "slm_edge.runner"

    def _fault_matches(self, name: str, phase: str) -> bool:
        from slm_edge.testing.faults import read_faults

        return read_faults(self.state).get(name) == phase and take_fault(self.state, name) is not None

    def _pump_stderr(self, runner: subprocess.Popen) -> None:
        for line in runner.stderr:
            self.stderr_tail = (self.stderr_tail + [line.rstrip()])[-20:]
            self.log("slm-edge", line.rstrip(), "W" if "error" in line.lower() else "I")

    def _crashed(self, signum: int) -> None:
        name = signal.Signals(signum).name
        self.log("libc", f"Fatal signal {signum} ({name}), code 0 in tid {os.getpid()} ({self.package})", "F")
        self.log("ActivityManager", f"Process {self.package} (pid {os.getpid()}) has died: fg TOP")
        self.emit(f"{RESULT_PREFIX} " + json.dumps({"crashed": True, "signal": signum}))

    def _finished(self, code: int) -> None:
        result = {"crashed": False, "exit_code": code, "trace": None, "trace_sha256": None, "status": "failed",
                  "error": None}
        if self.trace_path.is_file():
            result["trace_sha256"] = _sha256(self.trace_path)
            result["trace"] = str(self.trace_path)
            try:
                trace = json.loads(self.trace_path.read_text())
                result["status"] = trace.get("status", "failed")
                if trace.get("errors"):
                    result["error"] = trace["errors"][-1].get("message")
            except ValueError:
                result["error"] = "the trace is not JSON"
        if code != 0 and not result["error"]:
            lines = [line for line in self.stderr_tail if line.strip()]
            result["error"] = lines[-1] if lines else f"runner exited with {code}"
        self.emit(f"{RESULT_PREFIX} " + json.dumps(result))
        how = take_fault(self.state, "corrupt_trace")
        if how and self.trace_path.is_file():
            _corrupt(self.trace_path, how)
        self.log("ActivityManager", f"Process {self.package} (pid {os.getpid()}) has died: cch+5 CEM")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slm_edge.testing.app_process")
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--package", required=True)
    parser.add_argument("--trace", type=Path, required=True, help="where the runner's trace will be")
    parser.add_argument("runner_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    runner_args = args.runner_args[1:] if args.runner_args[:1] == ["--"] else args.runner_args
    return App(args.events, args.package, runner_args, args.trace).run()


if __name__ == "__main__":
    sys.exit(main())
