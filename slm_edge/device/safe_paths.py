"""Names that come from a device (files in a pulled folder, paths in the app's result) never
choose where the host writes: they are reduced to one plain file name inside the run folder."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from slm_edge.errors import RuntimeFailure

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
        raise RuntimeFailure(f"device file name {name!r} points outside the run folder", "report this device output")
    return target


def _refused(path: str, allowed_root: str) -> RuntimeFailure:
    return RuntimeFailure(f"the profiler app reported its trace at {path!r}, outside its run folder {allowed_root}, "
                          "so nothing was pulled from there",
                          "reinstall the app built from this slm-edge (slm-edge app install {serial} SERIAL) and profile again")


def _inside(path: str, root: str) -> bool:
    return path.startswith(root.rstrip("/") + "/")


# getExternalFilesDir(null) for Android user N (0, or 10 and up for a work profile or a second
# user): AOSP Environment.UserEnvironment builds /storage/emulated/<userId>/Android/data/<pkg>/files.
_USER_STORAGE = re.compile(r"^/storage/emulated/(\d+)/")


def _sdcard_relative(root: str) -> str | None:
    return str(PurePosixPath(root).relative_to("/sdcard")) if _inside(root, "/sdcard") else None


def equivalent_roots(path: str, allowed_root: str) -> list[str]:
    """The folders a reported path may lie in: allowed_root (the shell's /sdcard form, user 0)
    and, for a path naming /storage/emulated/<N>/, the same folder of that user's storage."""
    roots = [allowed_root]
    relative = _sdcard_relative(allowed_root)
    match = _USER_STORAGE.match(path)
    if relative is not None and match:
        roots.append(f"/storage/emulated/{match.group(1)}/{relative}")
    return roots


def trusted_root(resolved: str, allowed_root: str) -> bool:
    """A root's canonical form must itself be the app's folder (allowed_root, or the same folder
    in some user's /storage/emulated/<N>): a run folder that is a symlink elsewhere is no root."""
    relative = _sdcard_relative(allowed_root)
    match = _USER_STORAGE.match(resolved)
    return resolved == allowed_root or bool(
        relative is not None and match and resolved == f"/storage/emulated/{match.group(1)}/{relative}")


def check_device_path(path: str, allowed_root: str, canonical) -> str:
    """A path the device reported (e.g. the app's trace) must lie under the folder we asked for.

    `canonical` maps device paths to their canonical form on the device (AdbDevice.canonical:
    toybox realpath), so /sdcard/..., /storage/self/primary/... and /storage/emulated/0/... are
    one folder, and a symlink that leads out is caught after resolution. The path returned is the
    one reported: pulls and removes use it."""
    pure = PurePosixPath(path) if isinstance(path, str) else None
    if (pure is None or not pure.is_absolute() or ".." in pure.parts
            or any(ord(ch) < 32 for ch in path)):  # a newline would split the device's answer
        raise _refused(str(path), allowed_root)
    roots = equivalent_roots(str(pure), allowed_root)
    resolved = canonical([str(pure), *roots])
    got = resolved[0]
    trusted = [root for root in resolved[1:] if root and trusted_root(root, allowed_root)]
    if got is None or not any(_inside(got, root) for root in trusted):
        raise _refused(path, allowed_root if got in (None, str(pure)) else f"{allowed_root} (it resolves to {got})")
    return str(pure)
