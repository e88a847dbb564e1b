"""Names that come from a device (files in a pulled folder, paths in the app's result) never
choose where the host writes: they are reduced to one plain file name inside the run folder."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from slm_edge.errors import SlmEdgeError

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def safe_name(name: str) -> str:
    """A file name safe on any host: the last path part, odd characters replaced, no leading dots."""
    last = PurePosixPath(str(name).replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", last).lstrip(".")
    return cleaned[:120] or "unnamed"


def local_path_for(run_dir: Path, name: str) -> Path:
    """Where a device-supplied file name lands on the host: always directly inside run_dir."""
    run_dir = Path(run_dir).resolve()
    target = (run_dir / safe_name(name)).resolve()
    if target.parent != run_dir:  # cannot happen after safe_name; kept as the last line of defence
        raise SlmEdgeError(f"device file name {name!r} points outside the run folder", "report this device output")
    return target


def check_device_path(path: str, allowed_root: str) -> str:
    """A path the device reported (e.g. the app's trace) must lie under the folder we asked for."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts or not str(pure).startswith(allowed_root.rstrip("/") + "/"):
        raise SlmEdgeError(f"the device reported the path {path!r}, outside {allowed_root}",
                           "update the profiler app (slm-edge app install); an app must not choose host paths")
    return str(pure)
