"""A sweep spread out: exports in parallel and profiles on several devices at once, on this machine
(`--jobs N`, `--devices A,B`) or across a Ray cluster (`--ray ADDRESS|local`).

Each cell has two stages: export (+ verify + eval, where the artifact is) and profile (on a device).
Locally, exports run in worker processes and each device has one thread that profiles the exported
cells as they come. On Ray, exports are tasks on CPU workers (num_cpus and memory asked from the
model's size) and profiles are tasks that need one `slm_edge_devices` unit: each node advertises how
many devices it owns (and `device:SERIAL` for each), Ray places the task on such a node, and the task
takes a free device there under the same per-device lock as a plain profile. A task on a node that
leaves the cluster is retried elsewhere by Ray; what still fails is recorded and a rerun resumes it.
The sweep's state, resume and reports are the local sweep's (workflows/sweep.py).
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from slm_edge import cache
from slm_edge.errors import BadInput, RuntimeFailure, SlmEdgeError
from slm_edge.workflows.sweep import (STATE_FILE, Cell, SweepSpec, _state, export_cell, export_settings, is_complete,
                                     profile_cell)

DEVICE_RESOURCE = "slm_edge_devices"  # how many devices a Ray node owns
GIB = 2**30


def open_sweep_device(serial: str):
    """'emulated' or 'emulated-NAME': an emulated device with storage of its own; else a phone over adb."""
    from slm_edge.device.local import LocalDevice

    if serial == "emulated" or serial.startswith("emulated-"):
        return LocalDevice(serial=serial)
    from slm_edge.device.adb import open_device

    return open_device(serial)


def export_memory_bytes(cell: Cell) -> int:
    """What an export is asked to reserve: 1 GiB of process and libraries plus the peak per parameter
    the manifests recorded on this machine (export.peak_rss_bytes, 2026-12-07): ExecuTorch 25-40 bytes
    (SmolLM-135M 8da4w 38, Qwen1.5-0.5B 8da4w 40.5), ONNX 13-26 (Qwen3-0.6B fp32 22.8, int4 16.9)."""
    from slm_edge.model.sources import resolve_source
    from slm_edge.export import parameter_count

    try:
        parameters = parameter_count(resolve_source(cell.model, random_weights=cell.random_weights).config)
    except SlmEdgeError:
        parameters = 0
    return GIB + parameters * (40 if cell.backend == "executorch" else 24)


def available_memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * GIB


class StateBook:
    """sweep.json kept by several workers: each result recorded and written at once, under one lock."""

    def __init__(self, out: Path, spec: SweepSpec, progress: Callable[[str], None]):
        self.out, self.progress = Path(out), progress
        self.state = _state(self.out)
        self.state["spec"] = spec.name
        self.state.pop("stopped", None)
        self._lock = threading.Lock()

    def record(self, cell: Cell, entry: dict, line: str) -> None:
        with self._lock:
            self.state["cells"][cell.name] = entry
            cache.atomic_write_text(self.out / STATE_FILE, json.dumps(self.state, indent=2) + "\n")
        self.progress(line)

    def failed(self, cell: Cell, err: Exception, stage: str) -> None:
        one_line = err.one_line() if isinstance(err, SlmEdgeError) else f"{type(err).__name__}: {err}"
        kind = err.kind.value if isinstance(err, SlmEdgeError) else "runtime failure"
        self.record(cell, {"status": "failed", "error": one_line, "kind": kind, "stage": stage},
                    f"{cell.name}: failed in {stage} — {one_line}")


def _pending(spec: SweepSpec, out: Path, book: StateBook) -> list[Cell]:
    cells = []
    for cell in spec.cells:
        if is_complete(out, cell):
            book.state["cells"][cell.name] = {**book.state["cells"].get(cell.name, {}), "status": "complete"}
            book.progress(f"{cell.name}: done before, kept")
        else:
            cells.append(cell)
    return cells


def _export_in_process(cell: Cell, spec: SweepSpec, out: str) -> str:
    return str(export_cell(cell, spec, Path(out)))


def parallel_sweep(spec: SweepSpec, out: Path, *, jobs: int = 1, devices: list[str] | None = None,
                   progress: Callable[[str], None] = print) -> dict:
    """Exports in up to `jobs` processes (fewer if the machine's free memory cannot hold them), and one
    profiling thread per device taking exported cells as they come."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    book = StateBook(out, spec, progress)
    cells = _pending(spec, out, book)
    serials = devices or ["emulated"]
    opened = [open_sweep_device(serial) for serial in serials]  # a missing phone fails here, before any export
    largest = max((export_memory_bytes(c) for c in cells), default=GIB)
    fits = max(1, available_memory_bytes() // largest)
    workers = max(1, min(jobs, fits, len(cells) or 1))
    if workers < jobs:
        progress(f"--jobs {jobs}: {workers} exports at a time fit in the free memory "
                 f"({available_memory_bytes() / GIB:.1f} GiB free, up to {largest / GIB:.1f} GiB each)")
    exported: queue.Queue = queue.Queue()
    started = {cell.name: time.perf_counter() for cell in cells}

    def profiler(device) -> None:
        while True:
            item = exported.get()
            if item is None:
                return
            cell, artifact = item
            try:
                profile_cell(cell, spec, artifact, device, out / "cells" / cell.name)
                book.record(cell, {"status": "complete", "seconds": round(time.perf_counter() - started[cell.name], 1),
                                   "device": device.serial}, f"{cell.name}: complete on {device.serial}")
            except SlmEdgeError as err:
                book.failed(cell, err, f"profile on {device.serial}")

    threads = [threading.Thread(target=profiler, args=(device,), daemon=True) for device in opened]
    for thread in threads:
        thread.start()
    # processes, not threads: an export is mostly Python (the GIL would serialize threads); spawned, not
    # forked: a fork of a process that has torch's and onnxruntime's threads running can crash
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers,
                                                mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_export_in_process, cell, spec, str(out)): cell for cell in cells}
        for future in concurrent.futures.as_completed(futures):
            cell = futures[future]
            try:
                exported.put((cell, Path(future.result())))
            except SlmEdgeError as err:
                book.failed(cell, err, "export")
            except concurrent.futures.process.BrokenProcessPool as err:  # an export killed (out of memory)
                book.failed(cell, err, "export")
    for _ in threads:
        exported.put(None)
    for thread in threads:
        thread.join()
    return book.state


# --- Ray ------------------------------------------------------------------------------------------

def _ray():
    try:
        import ray
    except ImportError:
        raise BadInput("--ray needs Ray, which is not installed", "pip install 'slm-edge[ray]'") from None
    return ray


def _node_devices(ray) -> list[str]:
    """The serials this task's node advertises (its `device:SERIAL` resources)."""
    node_id = ray.get_runtime_context().get_node_id()
    node = next(n for n in ray.nodes() if n["NodeID"] == node_id)
    return sorted(key.split(":", 1)[1] for key in node["Resources"] if key.startswith("device:"))


def _cell_key(cell: Cell, spec: SweepSpec) -> str:
    """The cell's artifact content hash (the local cache's key), known before anything is built."""
    from slm_edge.export import cache_key
    from slm_edge.export.paths import choose_path

    source, config = export_settings(cell, spec)
    return cache_key(source, config, choose_path(source.config, config.path, config.backend)[0])


SIDE_FILES = ("verify.json", "eval.json")  # what verify and eval leave beside the artifact


def _ray_export(cell: Cell, spec: SweepSpec, out: str, store: str | None) -> dict:
    """A Ray task: the cell's artifact (fetched from the store when another node built it), verified and
    evaluated here, then put in the store under its content hash."""
    from slm_edge.workflows import store as artifact_store

    key = _cell_key(cell, spec)
    if store and artifact_store.has(key, store):
        artifact_store.fetch(key, store)  # into the local cache, where the export finds it
    folder = export_cell(cell, spec, Path(out))
    if store:
        artifact_store.put(cache.root_for("artifacts") / key, key, store)
    side = {name: (folder / name).read_bytes() for name in SIDE_FILES if (folder / name).is_file()}
    return {"folder": str(folder), "key": key, "side_files": side}


def _artifact_here(cell: Cell, exported: dict, store: str | None) -> Path:
    """The exported artifact on this node: where the export left it (a shared folder, or the same
    node), else fetched from the store with its verify and eval results beside it."""
    from slm_edge.export import place_artifact
    from slm_edge.workflows import store as artifact_store

    folder = Path(exported["folder"])
    if (folder / "manifest.json").is_file():
        return folder
    if not store:
        raise BadInput(f"the artifact of {cell.name} is not on this node and the sweep has no store to fetch it from",
                       "pass --store with a folder or URL every node can read")
    local = place_artifact(artifact_store.fetch(exported["key"], store),
                           Path(tempfile.mkdtemp(prefix="slm-edge-artifact-")) / cell.name)
    for name, content in exported["side_files"].items():
        (local / name).write_bytes(content)
    return local


def _ray_profile(cell: Cell, spec: SweepSpec, exported: dict, store: str | None, busy_wait_s: float = 600.0) -> dict:
    """A Ray task on a node with a free device (the resource): profiles on the first device of the node
    whose lock is free and returns the run folder's files, so the sweep folder need not be shared."""
    from slm_edge.device.lock import DeviceBusy

    ray = _ray()
    artifact = _artifact_here(cell, exported, store)
    serials = _node_devices(ray)
    deadline = time.monotonic() + busy_wait_s
    while True:
        for serial in serials:
            run_dir = Path(tempfile.mkdtemp(prefix=f"slm-edge-{cell.name}-"))
            try:
                profile_cell(cell, spec, artifact, open_sweep_device(serial), run_dir)  # takes the lock, wait 0
                files = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
                return {"files": files, "device": serial, "node": ray.get_runtime_context().get_node_id()}
            except DeviceBusy:
                continue
            finally:
                shutil.rmtree(run_dir, ignore_errors=True)
        if time.monotonic() > deadline:
            raise BadInput(f"every device of this node ({', '.join(serials)}) stayed busy", "rerun the sweep to resume")
        time.sleep(0.5)


def ray_sweep(spec: SweepSpec, out: Path, *, address: str, store: str | None = None,
              progress: Callable[[str], None] = print, poll_s: float = 2.0) -> dict:
    """Every pending cell as an export task then a profile task on the cluster at `address` ('local':
    a one-node cluster of this machine, owning the emulated device)."""
    ray = _ray()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    book = StateBook(out, spec, progress)
    cells = _pending(spec, out, book)
    if address == "local":
        ray.init(num_cpus=os.cpu_count(), resources={DEVICE_RESOURCE: 1, "device:emulated": 1},
                 include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        if not ray.cluster_resources().get(DEVICE_RESOURCE):
            raise BadInput(f"no node of the Ray cluster at {address} advertises a device",
                           f"start nodes with --resources '{{\"{DEVICE_RESOURCE}\": 1, \"device:SERIAL\": 1}}'")
        export = ray.remote(_ray_export)
        profile = ray.remote(_ray_profile)
        pending = {}
        started = time.perf_counter()
        for cell in cells:
            exported = export.options(num_cpus=1, memory=export_memory_bytes(cell), max_retries=2).remote(
                cell, spec, str(out), store)
            pending[profile.options(num_cpus=0, resources={DEVICE_RESOURCE: 1}, max_retries=2).remote(
                cell, spec, exported, store)] = cell
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=poll_s)
            if not done:
                if not ray.cluster_resources().get(DEVICE_RESOURCE):  # every device's node left: nothing can run
                    for ref, cell in pending.items():
                        ray.cancel(ref, force=True)
                        book.failed(cell, RuntimeFailure("no node with a device is left in the Ray cluster",
                                                         "restart the nodes and rerun the sweep to resume"), "profile")
                    break
                continue
            ref = done[0]
            cell = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as err:  # a task's failure, as Ray re-raises it (RayTaskError wraps ours)
                cause = getattr(err, "cause", None) or err
                book.failed(cell, cause, "export or profile")
                continue
            run_dir = out / "cells" / cell.name
            run_dir.mkdir(parents=True, exist_ok=True)
            for name, content in result["files"].items():
                (run_dir / name).write_bytes(content)
            book.record(cell, {"status": "complete", "seconds": round(time.perf_counter() - started, 1),
                               "device": result["device"], "node": result["node"]},
                        f"{cell.name}: complete on {result['device']}")
    finally:
        ray.shutdown()
    return book.state
