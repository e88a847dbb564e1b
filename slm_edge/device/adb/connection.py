"""The link to a phone: the running adb server (Debian's `adb` package or the SDK's platform-tools)
spoken to through adbutils, the serial the user means, and commands that survive a dropped
connection (the device is reconnected for network serials, waited for over USB, the command retried).

Every device command is built from shlex-quoted arguments, never pasted into a string.
"""

from __future__ import annotations

import os
import shlex
import socket
import time
from pathlib import PurePosixPath

import adbutils
from adbutils.errors import AdbError

from slm_edge.contract import APP_FILES, DEVICE_ROOT
from slm_edge.errors import BadInput, DeviceGone, SlmEdgeError

STORAGE = DEVICE_ROOT.rsplit("/", 1)[0]  # /data/local/tmp: relative device paths live here
TRANSFER_ATTEMPTS = 4
RECONNECT_WAIT_S = 30.0
ADB_FAILURES = (AdbError, OSError, EOFError)


def dropped(detail: str) -> DeviceGone:
    """The connection dropped (cable, network, device restart): retried where a retry is safe,
    anywhere else it reaches the user as one line."""
    return DeviceGone(f"the connection to the device dropped ({detail})",
                      "reconnect it and run the same command again; files already on the device are kept")


def server_address() -> tuple[str, int]:
    return os.environ.get("ANDROID_ADB_SERVER_HOST", "127.0.0.1"), int(os.environ.get("ANDROID_ADB_SERVER_PORT", 5037))


def adb_client() -> adbutils.AdbClient:
    """A client of a running adb server. adbutils would quietly start one (even its bundled adb):
    we say so instead, so the user knows which adb serves their phone."""
    host, port = server_address()
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        raise DeviceGone(
            f"no adb server answers on {host}:{port}",
            "start it with `adb start-server` (Debian/Ubuntu: apt install adb; or the Android SDK platform-tools), "
            "or set ANDROID_ADB_SERVER_PORT to the port your server uses") from None
    return adbutils.AdbClient(host=host, port=port, socket_timeout=60)


def list_devices(client: adbutils.AdbClient) -> list[tuple[str, str]]:
    """(serial, state) of everything adb sees, offline and unauthorized included."""
    try:
        return [(info.serial, info.state) for info in client.list()]
    except ADB_FAILURES as exc:
        raise DeviceGone(f"the adb server did not list devices ({exc})",
                         "restart it: adb kill-server && adb start-server") from None


def state_problem(serial: str, state: str) -> DeviceGone | None:
    """Why a device adb lists cannot take commands (None when it can)."""
    if state == "device":
        return None
    if state == "unauthorized":
        return DeviceGone(f"{serial} has not authorized this computer for USB debugging",
                          "unlock the phone, accept the 'Allow USB debugging?' prompt, then retry")
    if state == "offline":
        return DeviceGone(f"{serial} is offline",
                          "reconnect the cable (or run `adb reconnect offline`); for a network device "
                          f"`adb disconnect {serial} && adb connect {serial}`")
    return DeviceGone(f"{serial} is in state {state!r}, not ready for commands", "boot it fully and retry")


def resolve_serial(client: adbutils.AdbClient, serial: str | None) -> str:
    """The serial of the one device meant (the only ready one when none is given), ready for
    commands; a network serial adb has not connected yet is connected first."""
    seen = dict(list_devices(client))
    if serial is None:
        ready = [s for s, state in seen.items() if state == "device"]
        if len(ready) != 1:
            raise BadInput(f"{'no device' if not ready else 'several devices'} ready ({', '.join(seen) or 'none connected'})",
                           "pass {serial} SERIAL (see `slm-edge devices`)")
        serial = ready[0]
    if serial not in seen and ":" in serial:
        try:
            client.connect(serial, timeout=10)
        except ADB_FAILURES:
            pass
        seen = dict(list_devices(client))
    if serial not in seen:
        raise DeviceGone(
            f"no device {serial} (adb sees: {', '.join(f'{s} ({st})' for s, st in seen.items()) or 'none'})",
            "plug the phone in with USB debugging on and accept the prompt, or `adb connect HOST:PORT` for a network "
            "device; `slm-edge devices` lists what adb sees")
    problem = state_problem(serial, seen[serial])
    if problem:
        raise problem
    return serial


class Connection:
    """One device's commands. Features (transfer, facts, app) build on it as small mixins."""

    def __init__(self, client: adbutils.AdbClient, serial: str):
        self.serial = serial
        self._client = client
        self._adb = client.device(serial)
        self.transfer = {"reconnects": 0, "chunks_pushed": 0, "chunks_skipped": 0, "files_skipped": 0}
        self._shell_v2: bool | None = None
        self._vetted: set[str] = set()  # app folders the device reported and the host checked

    def has_shell_v2(self) -> bool:
        """adbd from Android 7 on offers shell_v2 (stdout, stderr and exit code apart); older ones
        only `shell:`, one stream through a pty (AOSP adb services.cpp before N)."""
        if self._shell_v2 is None:
            try:
                self._shell_v2 = "shell_v2" in self._adb.get_features().split(",")
            except ADB_FAILURES as exc:
                raise dropped(f"{type(exc).__name__}: {exc}") from None
        return self._shell_v2

    def shell(self, args: list[str], timeout: float = 120) -> adbutils.ShellReturn:
        """Run one command (arguments quoted for the device's sh); exit code, stdout and stderr apart.

        Over shell v1 adbutils puts everything in `.output` (stdout empty) and learns the exit code
        from an `echo X4EXIT:$?` it appends to the command: here stdout is that output (stderr
        merged into it, the pty's CRLF line ends undone) and stderr is empty."""
        command = shlex.join(str(a) for a in args)
        try:
            v2 = self.has_shell_v2()
            done = self._adb.shell2(command, timeout=timeout, v2=v2)
        except ADB_FAILURES as exc:
            raise dropped(f"{type(exc).__name__}: {exc}") from None
        if v2:
            return done
        text = done.output.replace("\r\n", "\n")
        return adbutils.ShellReturn(command=command, returncode=done.returncode, output=text, stdout=text, stderr="")

    def canonical(self, paths: list[str]) -> list[str | None]:
        """Each device path in its canonical form on the device (toybox realpath: symlinks such as
        /sdcard -> /storage/self/primary followed, `..` resolved); a missing last component is
        kept after its folder is resolved; None where the device could not resolve it."""
        script = ('for p; do if [ -L "$p" ] || [ -e "$p" ]; then realpath "$p" 2>/dev/null || echo; '
                  'else d=$(realpath "$(dirname "$p")" 2>/dev/null) && echo "$d/$(basename "$p")" || echo; fi; done')
        done = self._retrying("realpath", lambda: self.shell(["sh", "-c", script, "canonical", *paths]))
        lines = done.stdout.split("\n")
        return [(lines[i].strip() or None) if i < len(lines) and lines[i].startswith("/") else None
                for i in range(len(paths))]

    def _reachable(self) -> bool:
        try:
            return dict(list_devices(self._client)).get(self.serial) == "device" and self.shell(["true"], 10).returncode == 0
        except SlmEdgeError:
            return False

    def reconnect(self) -> None:
        """Wait for the device to come back; for a network device, ask adb to connect it again."""
        self.transfer["reconnects"] += 1
        deadline = time.monotonic() + RECONNECT_WAIT_S
        while time.monotonic() < deadline:
            if self._reachable():
                return
            if ":" in self.serial:
                try:
                    self._client.disconnect(self.serial)
                    self._client.connect(self.serial, timeout=5)
                except ADB_FAILURES:
                    pass
            time.sleep(1.0)
        raise DeviceGone(f"{self.serial} disconnected and did not come back within {RECONNECT_WAIT_S:.0f} s",
                         "reconnect it and run the same command again: files already on the device are kept and skipped")

    def _retrying(self, what: str, action):
        """action() again after each drop (reconnecting first), TRANSFER_ATTEMPTS times in all."""
        last = None
        for _ in range(TRANSFER_ATTEMPTS):
            try:
                return action()
            except DeviceGone as exc:
                last = exc
                self.reconnect()
        raise DeviceGone(f"{what} failed {TRANSFER_ATTEMPTS} times, the connection to {self.serial} keeps dropping "
                         f"({last})", "check the cable or network and run the same command again; finished files are kept")

    def _device_path(self, remote: str) -> str:
        """Relative paths live under /data/local/tmp; absolute ones only in our two folders (and the
        app folders the device reported and the host vetted)."""
        pure = PurePosixPath(remote)
        if ".." in pure.parts:
            raise BadInput(f"device path {remote!r} contains '..'", "use a path inside the device's slm-edge folder")
        if pure.is_absolute():
            if not any(str(pure).startswith(root + "/") for root in (DEVICE_ROOT, APP_FILES)) and not any(
                    str(pure) == root or str(pure).startswith(root + "/") for root in self._vetted):
                raise BadInput(f"device path {remote!r} is outside {DEVICE_ROOT} and {APP_FILES}",
                               "use a path inside the device's slm-edge folders")
            return str(pure)
        return f"{STORAGE}/{pure}"
