"""The emulated phone's storage: one host folder holding /data, /sdcard and /system, plus a state
folder (properties, installed packages, log, faults, running app) that the sandboxed device
commands see at /emulator. Also maps device paths onto host paths for the sync service, which
runs outside the sandbox and must not be tricked out of the folder by `..` or symlinks."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path, PurePosixPath

import slm_edge

STATE_MOUNT = "/emulator"  # where the sandbox sees the state folder
MAPPED_ROOTS = ("data", "sdcard", "system")
COMMANDS = ("getprop", "setprop", "pm", "cmd", "dumpsys", "am", "logcat", "df")

PROFILES = {
    "x86_64": {
        "ro.product.model": "sdk_gphone64_x86_64", "ro.product.name": "sdk_gphone64_x86_64",
        "ro.product.device": "emu64x", "ro.product.manufacturer": "Google", "ro.product.brand": "google",
        "ro.soc.manufacturer": "AOSP", "ro.soc.model": "ranchu", "ro.hardware": "ranchu",
        "ro.product.cpu.abi": "x86_64", "ro.product.cpu.abilist": "x86_64,x86",
        "ro.product.cpu.abilist64": "x86_64", "ro.product.cpu.abilist32": "x86",
    },
    "arm64-v8a": {
        "ro.product.model": "Pixel 8", "ro.product.name": "shiba", "ro.product.device": "shiba",
        "ro.product.manufacturer": "Google", "ro.product.brand": "google",
        "ro.soc.manufacturer": "Google", "ro.soc.model": "Tensor G3", "ro.hardware": "shiba",
        "ro.product.cpu.abi": "arm64-v8a", "ro.product.cpu.abilist": "arm64-v8a",
        "ro.product.cpu.abilist64": "arm64-v8a", "ro.product.cpu.abilist32": "",
    },
}
COMMON_PROPS = {
    "ro.build.version.release": "14", "ro.build.version.sdk": "34", "ro.build.type": "user",
    "ro.build.tags": "release-keys", "ro.debuggable": "0", "sys.boot_completed": "1",
    "init.svc.bootanim": "stopped", "persist.sys.timezone": "UTC", "ro.serialno": "EMULATED0001",
}


class DevicePathError(OSError):
    pass


def used_bytes(*tops: Path | str) -> int:
    """Bytes in the files under these folders (the emulated storage use; shared with `df` in the sandbox)."""
    total = 0
    for top in tops:
        for folder, _dirs, files in os.walk(top):
            for name in files:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_size
                except OSError:
                    pass
    return total


class DeviceFolder:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.state = self.root / "emulator"

    # --- layout -------------------------------------------------------------------------------
    def create(self, abi: str = "x86_64", props: dict | None = None) -> "DeviceFolder":
        """Lay out a fresh device (keeps existing files: a restart is not a factory reset)."""
        if abi not in PROFILES:
            raise ValueError(f"unknown ABI {abi!r}; choose one of {sorted(PROFILES)}")
        for sub in ("data/local/tmp", "data/app", "sdcard/Android/data", "sdcard/Download", "system/bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.state / "apps").mkdir(parents=True, exist_ok=True)
        all_props = {**COMMON_PROPS, **PROFILES[abi], **(props or {})}
        all_props.setdefault("ro.build.fingerprint", f"google/{all_props['ro.product.name']}/"
                             f"{all_props['ro.product.device']}:14/UE1A.230829.050/1:user/release-keys")
        self.write_json("props.json", all_props)
        if not (self.state / "packages.json").exists():
            self.write_json("packages.json", {})
        (self.state / "logcat.txt").touch()
        self._write_commands()
        return self

    def _write_commands(self) -> None:
        """Android's commands on the sandbox PATH: tiny scripts calling android_commands."""
        project = Path(slm_edge.__file__).resolve().parent.parent
        bin_dir = self.root / "system" / "bin"
        for name in COMMANDS:
            script = bin_dir / name
            script.write_text(f"#!/bin/sh\nPYTHONPATH={project} exec {sys.executable} "
                              f"-m slm_edge.testing.android_commands {name} \"$@\"\n")
            script.chmod(0o755)
        if not (bin_dir / "sh").is_symlink():
            (bin_dir / "sh").symlink_to("/bin/sh")

    def read_json(self, name: str, default=None):
        try:
            return json.loads((self.state / name).read_text())
        except (FileNotFoundError, ValueError):
            return default

    def write_json(self, name: str, value) -> None:
        tmp = self.state / f".{name}.tmp"
        tmp.write_text(json.dumps(value, indent=1))
        os.replace(tmp, self.state / name)

    @property
    def props(self) -> dict:
        return self.read_json("props.json", {})

    def log(self, tag: str, message: str, level: str = "I", pid: int | None = None) -> None:
        append_log(self.state, tag, message, level, pid)

    # --- device path -> host path ---------------------------------------------------------------
    def host_path(self, device_path: str, follow_last: bool = True) -> tuple[Path, bool]:
        """(host path, writable) for a device path. Symlinks are followed in the device's own
        namespace, so a link to /etc means the (read-only) host /etc, never a way out of the folder."""
        if not device_path.startswith("/"):
            raise DevicePathError(2, f"not an absolute device path: {device_path}")
        pending = list(PurePosixPath(device_path).parts[1:])
        stack: list[str] = []
        hops = 0
        while pending:
            name = pending.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                if stack:
                    stack.pop()
                continue
            stack.append(name)
            host, _ = self._map(stack)
            if (pending or follow_last) and host.is_symlink():
                hops += 1
                if hops > 40:
                    raise DevicePathError(40, "Too many levels of symbolic links")
                target = os.readlink(host)
                stack.pop()
                if target.startswith("/"):
                    stack = []
                pending = list(PurePosixPath(target).parts) + pending
                if target.startswith("/"):
                    pending = pending[1:]
        return self._map(stack)

    def _map(self, parts: list[str]) -> tuple[Path, bool]:
        if parts[:3] == ["storage", "emulated", "0"]:
            parts = ["sdcard", *parts[3:]]
        if parts and parts[0] in MAPPED_ROOTS:
            # /system is the device's own, but read-only as on a phone
            return self.root.joinpath(*parts), parts[0] != "system"
        return Path("/").joinpath(*parts), False

    # --- storage --------------------------------------------------------------------------------
    def used_bytes(self) -> int:
        return used_bytes(self.root / "data", self.root / "sdcard")

    def storage_limit(self) -> int | None:
        from slm_edge.testing.faults import read_faults

        return read_faults(self.state).get("storage_bytes")

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def append_log(state_dir: Path, tag: str, message: str, level: str = "I", pid: int | None = None) -> None:
    """One logcat line per message line, in `logcat -v threadtime` layout."""
    now = time.time()
    stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    pid = pid or os.getpid()
    lines = "".join(f"{stamp} {pid:5d} {pid:5d} {level} {tag:<8}: {line}\n"
                    for line in (message.splitlines() or [""]))
    with open(Path(state_dir) / "logcat.txt", "a") as log:
        log.write(lines)
