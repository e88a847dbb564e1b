"""Device commands run under bubblewrap: the host's file system read-only (so the venv and the
project can run), /data, /storage, /mnt and /system bound from the device folder (/sdcard the
symlink a phone has, see device_folder.py), a private /tmp, and the device state at /emulator.
No pid namespace: an app started by `am` must outlive the shell that started it, and
`am force-stop` finds it by its pid."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from slm_edge.testing.device_folder import STATE_MOUNT, DeviceFolder

# Host top-level entries not carried into the sandbox: replaced by the device's own or by fresh mounts.
_NOT_BOUND = {"proc", "dev", "tmp", "data", "sdcard", "system", "storage", "mnt", "emulator", "vendor", "sys",
              "lost+found"}
SANDBOX_PATH = "/system/bin:/usr/local/bin:/usr/bin:/bin"


def bwrap_binary() -> str:
    found = shutil.which("bwrap")
    if not found:
        raise RuntimeError("bubblewrap (bwrap) is not installed: the emulated device runs commands in it "
                           "(apt-get install bubblewrap)")
    return found


def _runtime_paths_hidden_by_mounts() -> list[str]:
    """The interpreter, the venv and the project itself must stay visible even when they live under
    a folder the sandbox replaces (a clone in /tmp, as CI makes): bound again, read-only."""
    import sys

    import slm_edge

    wanted = {sys.prefix, sys.base_prefix, str(Path(slm_edge.__file__).resolve().parent.parent),
              str(Path(sys.executable).resolve().parent.parent)}
    return sorted(p for p in wanted if Path(p).is_dir() and Path(p).parts[1:2] and Path(p).parts[1] in _NOT_BOUND)


def sandbox_argv(device: DeviceFolder, command: list[str]) -> list[str]:
    argv = [bwrap_binary(), "--unshare-user", "--uid", "2000", "--gid", "2000",  # Android's shell user
            "--unshare-ipc", "--unshare-uts", "--hostname", "localhost", "--new-session"]
    for entry in sorted(os.listdir("/")):
        if entry in _NOT_BOUND:
            continue
        host = Path("/") / entry
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), str(host)]
    argv += ["--ro-bind", "/sys", "/sys", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in _runtime_paths_hidden_by_mounts():
        argv += ["--ro-bind", path, path]
    # /storage/self and /mnt hold the links of shared storage: root's on a phone, read-only here
    argv += ["--bind", str(device.root / "data"), "/data",
             "--ro-bind", str(device.root / "storage"), "/storage",
             "--bind", str(device.root / "storage" / "emulated"), "/storage/emulated",
             "--ro-bind", str(device.root / "mnt"), "/mnt",
             "--symlink", os.readlink(device.root / "sdcard"), "/sdcard",
             "--ro-bind", str(device.root / "system"), "/system",
             "--bind", str(device.state), STATE_MOUNT,
             "--remount-ro", "/",  # init.rc: `mount rootfs rootfs / remount bind ro nodev`
             "--chdir", "/",
             "--clearenv",
             "--setenv", "PATH", SANDBOX_PATH, "--setenv", "HOME", "/", "--setenv", "TMPDIR", "/data/local/tmp",
             "--setenv", "ANDROID_DATA", "/data", "--setenv", "EXTERNAL_STORAGE", "/sdcard",  # init.environ.rc
             "--setenv", "ANDROID_ROOT", "/system", "--setenv", "SLM_EDGE_DEVICE_STATE", STATE_MOUNT,
             "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "LANG", "C.UTF-8",
             "--", *command]
    return argv
