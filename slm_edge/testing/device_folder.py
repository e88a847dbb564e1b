"""The emulated phone's storage: one host folder holding /data, /storage, /mnt, /sdcard and /system,
plus a state folder (properties, installed packages, log, faults, running app) that the sandboxed
device commands see at /emulator. Also maps device paths onto host paths for the sync service,
which runs outside the sandbox and must not be tricked out of the folder by `..` or symlinks.

Shared storage is laid out as on a phone (the links are real symlinks in the folder, so the
sandbox, the sync service and toybox-style `realpath` all follow the same chain):
  /storage/emulated/<user>   the real folder of each user's shared storage (getExternalFilesDir
                             lives in /storage/emulated/<user>/Android/data/<pkg>/files)
  /sdcard -> /storage/self/primary          AOSP system/core rootdir/Android.mk (`ln -sf /storage/self/primary
                                            .../sdcard`) and Android 10's init.rc (`symlink /storage/self/primary /sdcard`)
  Android 11+ (FUSE):  /storage/self/primary -> /storage/emulated/0
                       (/storage is a bind of /mnt/user/0, init.rc `mount none /mnt/user/0 /storage bind rec`;
                       vold Utils.cpp MountUserFuse makes /mnt/user/<user>/self/primary -> /storage/emulated/<user>)
  Android 10 (sdcardfs): /storage/self/primary -> /mnt/user/0/primary -> /storage/emulated/0
                       (init.rc `symlink /mnt/user/0/primary /mnt/runtime/default/self/primary`, /storage a
                       bind of /mnt/runtime/default; vold VolumeManager::linkPrimary links
                       /mnt/user/<user>/primary to /storage/emulated/<user>)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path, PurePosixPath

import slm_edge

STATE_MOUNT = "/emulator"  # where the sandbox sees the state folder
MAPPED_ROOTS = ("data", "sdcard", "storage", "mnt", "system")
FUSE_SDK = 30  # Android 11: shared storage through FUSE (vold's kPropFuse), the chain above changes
COMMANDS = ("getprop", "setprop", "pm", "cmd", "dumpsys", "am", "logcat", "df", "pidof")

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


def props_from_capture(path: Path) -> dict[str, str]:
    """The properties of a real phone from a `getprop` capture (the host's own parser reads it)."""
    from slm_edge.device.adb.facts import parse_getprop

    props = parse_getprop(Path(path).read_text(errors="replace"))
    if not props.get("ro.product.cpu.abilist") and not props.get("ro.product.cpu.abi"):
        raise ValueError(f"{path} is not a getprop capture with the phone's ABIs (ro.product.cpu.abilist)")
    return props


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
    def create(self, abi: str | None = None, props: dict | None = None, capture: Path | None = None,
               users: tuple[int, ...] = (0,), shell_v2: bool = True) -> "DeviceFolder":
        """Lay out a fresh device (keeps existing files: a restart is not a factory reset).
        capture: a real phone's `getprop` output to imitate (its ABIs, model, Android version);
        users: the Android users with shared storage (10 and up: work profile, second user);
        shell_v2=False: an adbd from before Android 7 (no features in its banner, `shell:` only)."""
        if abi is not None and abi not in PROFILES:
            raise ValueError(f"unknown ABI {abi!r}; choose one of {sorted(PROFILES)}")
        if capture is not None:
            base = {**COMMON_PROPS, **props_from_capture(capture), **(PROFILES[abi] if abi else {})}
        else:
            base = {**COMMON_PROPS, **PROFILES[abi or "x86_64"]}
        all_props = {**base, **(props or {})}
        all_props.setdefault("ro.build.fingerprint", f"google/{all_props.get('ro.product.name', 'emu')}/"
                             f"{all_props.get('ro.product.device', 'emu')}:14/UE1A.230829.050/1:user/release-keys")
        for sub in ("data/local/tmp", "data/app", "system/bin", "mnt/user/0"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._lay_out_storage(all_props, users)
        (self.state / "apps").mkdir(parents=True, exist_ok=True)
        self.write_json("props.json", all_props)
        self.write_json("adbd.json", {"shell_v2": shell_v2})
        if not (self.state / "packages.json").exists():
            self.write_json("packages.json", {})
        (self.state / "logcat.txt").touch()
        self._write_commands()
        return self

    def _lay_out_storage(self, props: dict, users: tuple[int, ...]) -> None:
        old = self.root / "sdcard"
        if old.is_dir() and not old.is_symlink():  # a folder made before shared storage moved: keep its files
            primary = self.root / "storage" / "emulated" / "0"
            primary.parent.mkdir(parents=True, exist_ok=True)
            if primary.exists():
                shutil.copytree(old, primary, dirs_exist_ok=True, symlinks=True)
                shutil.rmtree(old)
            else:
                old.rename(primary)
        for user in users:
            for sub in ("Android/data", "Download"):
                (self.root / "storage" / "emulated" / str(user) / sub).mkdir(parents=True, exist_ok=True)
        sdk = int(props.get("ro.build.version.sdk") or 0)
        if sdk >= FUSE_SDK:
            links = {"storage/self/primary": "/storage/emulated/0"}
        else:
            links = {"storage/self/primary": "/mnt/user/0/primary", "mnt/user/0/primary": "/storage/emulated/0"}
        links["sdcard"] = "/storage/self/primary"
        stale = self.root / "mnt/user/0/primary"
        if "mnt/user/0/primary" not in links and stale.is_symlink():
            stale.unlink()  # the same folder restarted as a newer Android
        for name, target in links.items():
            link = self.root / name
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() and os.readlink(link) == target:
                continue
            if link.is_symlink():
                link.unlink()
            link.symlink_to(target)

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
        # sha256sum came with Android 8.0's toybox (system/core shell_and_utilities/README.md): an
        # older phone answers as its mksh would
        missing = bin_dir / "sha256sum"
        if int(self.props.get("ro.build.version.sdk") or 0) < 26:
            missing.write_text("#!/bin/sh\necho \"/system/bin/sh: sha256sum: not found\" >&2\nexit 127\n")
            missing.chmod(0o755)
        else:
            missing.unlink(missing_ok=True)

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

    @property
    def shell_v2(self) -> bool:
        return bool(self.read_json("adbd.json", {}).get("shell_v2", True))

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
        if parts and parts[0] in MAPPED_ROOTS:
            # the shell writes /data and the users' shared storage; /system, /mnt and the links
            # (/sdcard, /storage/self) are the device's own, read-only as on a phone
            writable = parts[0] == "data" or (
                len(parts) >= 4 and parts[:2] == ["storage", "emulated"] and (self.root / "storage" / "emulated" /
                                                                            parts[2]).is_dir())
            return self.root.joinpath(*parts), writable
        return Path("/").joinpath(*parts), False

    # --- storage --------------------------------------------------------------------------------
    def used_bytes(self) -> int:
        return used_bytes(self.root / "data", self.root / "storage" / "emulated")

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
