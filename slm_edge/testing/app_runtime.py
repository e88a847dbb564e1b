"""The profiler app's own code on the emulated phone: its Java core and ONNX engine, built by
slm_edge.device.jvm_app on the host and copied into the device's /system, so that `am instrument`
runs the app's real ProfileLoop and TraceWriter for ONNX artifacts, as the phone would.

ExecuTorch artifacts keep the Linux runner (jvm_app.DESKTOP_ENGINES says why).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from slm_edge.device.jvm_app import DESKTOP_ENGINES, MAIN_CLASS, NO_DESKTOP_EXECUTORCH, build
from slm_edge.errors import SlmEdgeError

DEVICE_DIR = "/system/framework/slm-edge-app"  # where the sandboxed app finds the classes
RUNTIME_FILE = "app_runtime.json"  # in the device's state folder: {"java", "classpath", "main"} or {"missing"}
LINUX_RUNNER_NOTE = ("ExecuTorch artifact: the emulated device runs the Linux runner (slm_edge.runner), since "
                     + NO_DESKTOP_EXECUTORCH)


def install(root: Path, state: Path) -> dict:
    """Copy the app's compiled classes into the device folder and record how to start them; where
    java or Maven are missing, record why, so ONNX runs fall back to the Linux runner with that note."""
    try:
        built = build()
    except SlmEdgeError as err:
        runtime = {"missing": err.one_line()}
    else:
        target = root / DEVICE_DIR.lstrip("/")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(built.classes, target / "classes")
        # the jars stay in the Maven cache (~/.m2), which the sandbox sees read-only
        runtime = {"java": built.command(MAIN_CLASS)[0], "main": MAIN_CLASS,
                   "classpath": ":".join((f"{DEVICE_DIR}/classes", *built.jars))}
    (state / RUNTIME_FILE).write_text(json.dumps(runtime, indent=1))
    return runtime


def app_command(state: Path, runner_args: list[str]) -> tuple[list[str] | None, str | None]:
    """(the app's Java command, None) for an ONNX run; (None, why the Linux runner runs) otherwise.
    runner_args are the Linux runner's: CONFIG ... --trace-dir DIR."""
    try:
        engine = json.loads(Path(runner_args[0]).read_text())["artifact"]["engine"]
        trace_dir = runner_args[runner_args.index("--trace-dir") + 1]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None, None  # a config the runner itself will refuse with its own message
    if engine not in DESKTOP_ENGINES:
        return None, LINUX_RUNNER_NOTE if engine == "executorch" else f"{engine}: not an engine of the app"
    try:
        runtime = json.loads((state / RUNTIME_FILE).read_text())
    except (OSError, ValueError):
        runtime = {"missing": "the app's Java code was not installed on this emulated device"}
    if "missing" in runtime:
        return None, f"the app's Java code is not available here ({runtime['missing']}): Linux runner instead"
    return [runtime["java"], "-cp", runtime["classpath"], runtime["main"], runner_args[0], trace_dir], None
