"""A phone over adb: the real adb server (Debian's `adb` package or the SDK's platform-tools),
spoken to through adbutils.

Every device command is built from shlex-quoted arguments, never pasted into a string. Transfers
survive a dropped connection: the device is reconnected (network serials) or waited for (USB),
files already on the device with the right sha256 are skipped, and large files travel in chunks so
a retry resumes at the first chunk the device lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import socket
import time
from pathlib import Path, PurePosixPath

import adbutils
from adbutils.errors import AdbError

from slm_edge import cache
from slm_edge.device import Device, RunResult
from slm_edge.contract import (APP_FILES, DEVICE_ROOT, EXTRA_CONFIG, EXTRA_QUERY, EXTRA_RUN_ID, INSTRUMENTATION,
                                     MIN_IDENTITY_VERSION_CODE, MIN_SDK, PACKAGE, QUERY_IDENTITY, trace_dir)
from slm_edge.device.apk import check_abi, check_app_runs, check_installed, read_apk
from slm_edge.device.instrument import InstrumentParser
from slm_edge.device.safe_paths import check_device_path, local_path_for, trusted_root
from slm_edge.errors import SlmEdgeError

STORAGE = DEVICE_ROOT.rsplit("/", 1)[0]  # /data/local/tmp: relative device paths live here
CHUNK_BYTES = 8 * 2**20  # resume granularity for large files
TRANSFER_ATTEMPTS = 4
RECONNECT_WAIT_S = 30.0
HOST_SAMPLE_EVERY_S = 5.0  # dumpsys is slow and wakes the phone: sample sparsely
LOGCAT_LINES = 300
ADB_FAILURES = (AdbError, OSError, EOFError)


class DeviceGone(SlmEdgeError):
    """The connection to the device dropped (cable, network, device restart). Transfers retry on
    it; anywhere else it reaches the user as one line."""

    def __init__(self, detail: str):
        super().__init__(f"the connection to the device dropped ({detail})",
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
        raise SlmEdgeError(
            f"no adb server answers on {host}:{port}",
            "start it with `adb start-server` (Debian/Ubuntu: apt install adb; or the Android SDK platform-tools), "
            "or set ANDROID_ADB_SERVER_PORT to the port your server uses") from None
    return adbutils.AdbClient(host=host, port=port, socket_timeout=60)


def list_devices(client: adbutils.AdbClient) -> list[tuple[str, str]]:
    """(serial, state) of everything adb sees, offline and unauthorized included."""
    try:
        return [(info.serial, info.state) for info in client.list()]
    except ADB_FAILURES as exc:
        raise SlmEdgeError(f"the adb server did not list devices ({exc})", "restart it: adb kill-server && adb start-server") from None


def state_problem(serial: str, state: str) -> SlmEdgeError | None:
    if state == "device":
        return None
    if state == "unauthorized":
        return SlmEdgeError(f"{serial} has not authorized this computer for USB debugging",
                            "unlock the phone, accept the 'Allow USB debugging?' prompt, then retry")
    if state == "offline":
        return SlmEdgeError(f"{serial} is offline",
                            "reconnect the cable (or run `adb reconnect offline`); for a network device "
                            f"`adb disconnect {serial} && adb connect {serial}`")
    return SlmEdgeError(f"{serial} is in state {state!r}, not ready for commands", "boot it fully and retry")


def open_device(serial: str | None) -> AdbDevice:
    client = adb_client()
    seen = dict(list_devices(client))
    if serial is None:
        ready = [s for s, state in seen.items() if state == "device"]
        if len(ready) != 1:
            raise SlmEdgeError(f"{'no device' if not ready else 'several devices'} ready ({', '.join(seen) or 'none connected'})",
                               "pass --device SERIAL (see `slm-edge devices`)")
        serial = ready[0]
    if serial not in seen and ":" in serial:  # a network device adb has not connected yet
        try:
            client.connect(serial, timeout=10)
        except ADB_FAILURES:
            pass
        seen = dict(list_devices(client))
    if serial not in seen:
        raise SlmEdgeError(
            f"no device {serial} (adb sees: {', '.join(f'{s} ({st})' for s, st in seen.items()) or 'none'})",
            "plug the phone in with USB debugging on and accept the prompt, or `adb connect HOST:PORT` for a network "
            "device; `slm-edge devices` lists what adb sees")
    problem = state_problem(serial, seen[serial])
    if problem:
        raise problem
    return AdbDevice(client, serial)


def sdk_problem(props: dict[str, str]) -> SlmEdgeError | None:
    """The profiler app's minSdk is 29: an older phone is listed, but cannot profile."""
    sdk = _int(props.get("ro.build.version.sdk"))
    if sdk is None or sdk >= MIN_SDK:
        return None
    return SlmEdgeError(f"this phone runs Android {props.get('ro.build.version.release', '?')} (API {sdk}) and the "
                        f"profiler app needs Android 10 (API {MIN_SDK}) or newer",
                        "profile on a phone with Android 10 or newer")


# getprop prints `[name]: [value]` per property, the value raw: a multi-line value (e.g. Xiaomi's
# persist.sys.boot.reason.history, tests/fixtures/android) runs on until a line ending in `]` that
# is followed by the next `[name]: [` line (blank lines between) or the end.
_GETPROP_ENTRY = re.compile(r"^\[([^\]\n]+)\]: \[(.*?)\][ \t\r]*$(?=\n\s*\[[^\]\n]+\]: \[|\s*\Z)", re.M | re.S)


def _parse_getprop(text: str) -> dict[str, str]:
    return {match.group(1): match.group(2) for match in _GETPROP_ENTRY.finditer(text.replace("\r\n", "\n"))}


def _field(text: str, key: str) -> str | None:
    """The value after `key` (`key=value` or `key: value`) in dumpsys output."""
    for line in text.splitlines():
        for piece in line.strip().split():
            if piece.startswith(key + "="):
                return piece.split("=", 1)[1]
        stripped = line.strip()
        if stripped.lower().startswith(key.lower() + ":"):
            return stripped.split(":", 1)[1].strip()
    return None


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class AdbDevice(Device):
    def __init__(self, client: adbutils.AdbClient, serial: str):
        self.serial = serial
        self._client = client
        self._adb = client.device(serial)
        self.transfer = {"reconnects": 0, "chunks_pushed": 0, "chunks_skipped": 0, "files_skipped": 0}
        self._shell_v2: bool | None = None
        self._vetted: set[str] = set()  # app folders the device reported and the host checked
        self._identity: dict | None = None

    # ---- commands -------------------------------------------------------------------------
    def has_shell_v2(self) -> bool:
        """adbd from Android 7 on offers shell_v2 (stdout, stderr and exit code apart); older ones
        only `shell:`, one stream through a pty (AOSP adb services.cpp before N)."""
        if self._shell_v2 is None:
            try:
                self._shell_v2 = "shell_v2" in self._adb.get_features().split(",")
            except ADB_FAILURES as exc:
                raise DeviceGone(f"{type(exc).__name__}: {exc}") from None
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
            raise DeviceGone(f"{type(exc).__name__}: {exc}") from None
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
        except (DeviceGone, SlmEdgeError):
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
        raise SlmEdgeError(f"{self.serial} disconnected and did not come back within {RECONNECT_WAIT_S:.0f} s",
                           "reconnect it and run the same command again: files already on the device are kept and skipped")

    def _retrying(self, what: str, action):
        last = None
        for _ in range(TRANSFER_ATTEMPTS):
            try:
                return action()
            except DeviceGone as exc:
                last = exc
                self.reconnect()
        raise SlmEdgeError(f"{what} failed {TRANSFER_ATTEMPTS} times, the connection to {self.serial} keeps dropping ({last})",
                           "check the cable or network and run the same command again; finished files are kept")

    def _device_path(self, remote: str) -> str:
        """Relative paths live under /data/local/tmp; absolute ones only in our two folders."""
        pure = PurePosixPath(remote)
        if ".." in pure.parts:
            raise SlmEdgeError(f"device path {remote!r} contains '..'", "use a path inside the device's slm-edge folder")
        if pure.is_absolute():
            if not any(str(pure).startswith(root + "/") for root in (DEVICE_ROOT, APP_FILES)) and not any(
                    str(pure) == root or str(pure).startswith(root + "/") for root in self._vetted):
                raise SlmEdgeError(f"device path {remote!r} is outside {DEVICE_ROOT} and {APP_FILES}",
                                   "use a path inside the device's slm-edge folders")
            return str(pure)
        return f"{STORAGE}/{pure}"

    # ---- what the device is ----------------------------------------------------------------
    def props(self) -> dict[str, str]:
        return _parse_getprop(self._retrying("getprop", lambda: self.shell(["getprop"])).stdout)

    def abis(self, props: dict[str, str] | None = None) -> list[str]:
        props = props or self.props()
        listed = props.get("ro.product.cpu.abilist") or props.get("ro.product.cpu.abi", "")
        return [abi for abi in listed.split(",") if abi]

    def app_info(self) -> dict | None:
        """The installed profiler app's version, or None."""
        out = self._retrying("dumpsys package", lambda: self.shell(["dumpsys", "package", PACKAGE])).stdout
        code = _int(_field(out, "versionCode"))
        if code is None:
            return None
        return {"package": PACKAGE, "version_name": _field(out, "versionName"), "version_code": code}

    def app_identity(self) -> dict | None:
        """The installed app (None if none): its dumpsys facts and, for apps that answer the
        identity query (version code 2 on), its identity asset: runtimes, features, trace schema,
        ABIs. An older app has no query (it would start a run): only its dumpsys facts."""
        if self._identity is not None:
            return self._identity
        facts = self.app_info()
        if facts is None or facts["version_code"] < MIN_IDENTITY_VERSION_CODE:
            return facts
        done = self._retrying("identity query", lambda: self.shell(
            ["am", "instrument", "-w", "-r", "-e", EXTRA_QUERY, QUERY_IDENTITY, INSTRUMENTATION], 60))
        parser = InstrumentParser()
        for line in done.stdout.splitlines():
            parser.feed(line)
        try:
            identity = json.loads(parser.outcome.result.get(QUERY_IDENTITY, ""))
        except ValueError:
            identity = None
        if not parser.outcome.ok or not isinstance(identity, dict) or identity.get("package") != PACKAGE:
            problem = parser.outcome.problem() if not parser.outcome.ok else "its answer has no identity"
            return {**facts, "identity_error": f"the identity query failed: {problem}"}
        # what the package manager says is installed wins over what the asset says
        self._identity = {**identity, **facts}
        return self._identity

    def check_can_run(self, manifest: dict, config: dict) -> None:
        """Before anything is pushed: a phone the app cannot run on, no (or too old an) app, or a
        run the installed app cannot do (its identity: runtimes, trace schema, features)."""
        problem = sdk_problem(self.props())
        if problem:
            raise problem
        check_installed(self.app_info(), self.serial)
        identity = self.app_identity()
        if identity and identity.get("identity_error"):
            raise SlmEdgeError(f"the profiler app on {self.serial} did not answer: {identity['identity_error']}",
                               f"reinstall it (slm-edge app install --device {self.serial}) and retry")
        check_app_runs(identity if identity and "runtimes" in identity else None, manifest, config, self.serial)

    def context(self) -> dict:
        """Battery, thermal status and the app's PSS now (host-side sampling, a few per run)."""
        sample = {"t_wall_ms": time.time() * 1000}
        try:
            battery = self.shell(["dumpsys", "battery"], 20).stdout
            sample["battery_level"] = _int(_field(battery, "level"))
            temperature = _int(_field(battery, "temperature"))
            sample["battery_temp_c"] = temperature / 10 if temperature is not None else None
            sample["powered"] = any(_field(battery, k) == "true" for k in ("AC powered", "USB powered"))
            sample["thermal_status"] = _int(_field(self.shell(["dumpsys", "thermalservice"], 20).stdout, "Thermal Status"))
            meminfo = self.shell(["dumpsys", "meminfo", PACKAGE], 20).stdout
            sample["app_pss_kb"] = next((_int(line.split()[2]) for line in meminfo.splitlines()
                                         if line.strip().startswith("TOTAL PSS:")), None) \
                or next((_int(line.split()[1]) for line in meminfo.splitlines() if line.strip().startswith("TOTAL ")), None)
        except (DeviceGone, IndexError):
            sample["error"] = "device did not answer"
        return sample

    def info(self, ask_app: bool = True) -> dict:
        """ask_app=False leaves the identity query out: it is an `am instrument`, and Android stops
        the app's process before starting any instrumentation (ActivityManagerService
        startInstrumentation → forceStopPackageLocked), which would end a profile that is running."""
        props = self.props()
        meminfo = self._retrying("meminfo", lambda: self.shell(["cat", "/proc/meminfo"])).stdout
        ram_kb = next((_int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), None)
        cores = _int(self.shell(["nproc"]).stdout) or 1
        abis = self.abis(props)
        too_old = sdk_problem(props)
        soc = " ".join(filter(None, (props.get("ro.soc.manufacturer"), props.get("ro.soc.model")))) or None
        return {
            "serial": self.serial,
            "model": " ".join(filter(None, (props.get("ro.product.manufacturer"), props.get("ro.product.model")))) or self.serial,
            "cpu": soc or props.get("ro.board.platform") or props.get("ro.hardware") or "unknown",
            "soc": soc,
            "abi": abis[0] if abis else None,
            "abis": abis,
            "cores": cores,
            "ram_bytes": (ram_kb or 0) * 1024,
            "os": f"Android {props.get('ro.build.version.release', '?')} (SDK {props.get('ro.build.version.sdk', '?')})",
            "sdk": _int(props.get("ro.build.version.sdk")),
            "emulated": props.get("ro.kernel.qemu") == "1" or props.get("ro.boot.qemu") == "1",
            "shell_v2": self.has_shell_v2(),
            "app": self.app_info() if too_old or not ask_app else self.app_identity(),
            **{k: v for k, v in self.context().items() if k != "t_wall_ms"},
            **({"problem": too_old.one_line()} if too_old else {}),
        }

    # ---- files ------------------------------------------------------------------------------
    def _remote_sha(self, path: str) -> str | None:
        done = self.shell(["sha256sum", path])
        return done.stdout.split()[0] if done.returncode == 0 and done.stdout.strip() else None

    def _remote_hashes(self, folder: str) -> dict[str, str]:
        done = self.shell(["sh", "-c", 'cd "$1" 2>/dev/null && sha256sum -- * 2>/dev/null', "hashes", folder])
        return {PurePosixPath(parts[-1].lstrip("*")).name: parts[0]
                for parts in (line.split() for line in done.stdout.splitlines()) if len(parts) >= 2}

    def free_bytes(self, folder: str = STORAGE) -> int | None:
        done = self.shell(["df", "-k", folder])
        rows = [line.split() for line in done.stdout.splitlines()[1:] if line.split()]
        try:
            return int(rows[-1][3]) * 1024
        except (IndexError, ValueError):
            return None  # a df we cannot read: the push itself will say if space runs out

    def _check_space(self, needed: int, label: str) -> None:
        free = self.free_bytes()
        if free is not None and free < needed:
            raise SlmEdgeError(
                f"{self.serial} has {free / 2**20:.1f} MiB free in {STORAGE} and {label} needs {needed / 2**20:.1f} MiB",
                f"free space on the device (old artifacts: adb -s {self.serial} shell rm -r {DEVICE_ROOT}/artifacts) and retry")

    def _sync_push(self, source, target: str) -> None:
        try:
            self._adb.sync.push(source, target, mode=0o644)
        except ADB_FAILURES as exc:
            if self._reachable():  # the device answered FAIL: a refusal, not a drop
                self._check_space(source.stat().st_size if isinstance(source, Path) else len(source), PurePosixPath(target).name)
                raise SlmEdgeError(f"{self.serial} refused to store {target} ({exc})",
                                   "check the device's storage and permissions on /data/local/tmp") from None
            raise DeviceGone(f"push of {target}: {exc}") from None

    def push(self, local: Path, remote: str, sha256: str) -> bool:
        target = self._device_path(remote)
        if self._retrying("hash check", lambda: self._remote_sha(target)) == sha256:
            self.transfer["files_skipped"] += 1
            return False
        size = Path(local).stat().st_size
        self._check_space(size, Path(local).name)
        folder = str(PurePosixPath(target).parent)
        self._retrying("mkdir", lambda: self.shell(["mkdir", "-p", folder]))
        if size <= CHUNK_BYTES:
            # via a temporary name: an interrupted push never looks like a finished file
            self._retrying(f"pushing {Path(local).name}", lambda: (self._sync_push(Path(local), target + ".part"),
                                                                   self.shell(["mv", target + ".part", target])))
        else:
            self._retrying(f"pushing {Path(local).name}", lambda: self._push_chunks(Path(local), target))
        arrived = self._retrying("hash check", lambda: self._remote_sha(target))
        if arrived != sha256:
            self.shell(["rm", "-f", target])
            raise SlmEdgeError(f"{Path(local).name} arrived on {self.serial} with sha256 {str(arrived)[:12]}…, not {sha256[:12]}…",
                               "profile again; if it repeats, the cable or the device's storage is faulty")
        return True

    def _push_chunks(self, local: Path, target: str) -> None:
        """Chunks the device already holds (same hash) from an earlier, interrupted try are skipped."""
        parts = target + ".parts"
        self.shell(["mkdir", "-p", parts])
        have = self._remote_hashes(parts)
        with open(local, "rb") as f:
            index = 0
            while chunk := f.read(CHUNK_BYTES):
                name = f"{index:05d}"
                if have.get(name) == hashlib.sha256(chunk).hexdigest():
                    self.transfer["chunks_skipped"] += 1
                else:
                    self._sync_push(chunk, f"{parts}/{name}")
                    self.transfer["chunks_pushed"] += 1
                index += 1
        joined = self.shell(["sh", "-c", 'cat "$1"/* > "$2.part" && mv "$2.part" "$2" && rm -r "$1"', "join", parts, target])
        if joined.returncode != 0:
            self._check_space(local.stat().st_size, local.name)
            raise SlmEdgeError(f"joining the chunks of {local.name} on {self.serial} failed: {joined.stderr.strip()[:200]}",
                               "check the device's free storage and retry")

    def pull(self, remote: str, local: Path, sha256: str | None = None) -> bool:
        source = self._device_path(remote)
        if self._retrying("stat", lambda: self.shell(["test", "-f", source]).returncode) != 0:
            return False
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.pull")

        def pull_once() -> str:
            try:
                self._adb.sync.pull_file(source, tmp)
            except ADB_FAILURES as exc:
                raise DeviceGone(f"pull of {source}: {exc}") from None
            return cache.sha256_file(tmp)

        got = self._retrying(f"pulling {PurePosixPath(source).name}", pull_once)
        if sha256 and got != sha256:  # damaged on the way: once more, then say so
            got = self._retrying(f"pulling {PurePosixPath(source).name}", pull_once)
            if got != sha256:
                os.replace(tmp, local.with_name(local.stem + ".corrupt" + local.suffix))
                raise SlmEdgeError(f"{PurePosixPath(source).name} from {self.serial} has sha256 {got[:12]}…, the app reported "
                                   f"{sha256[:12]}… (kept as {local.stem}.corrupt{local.suffix})",
                                   "profile again; if it repeats, the device's storage or the cable is faulty")
        os.replace(tmp, local)
        return True

    def pull_folder(self, remote: str, local_dir: Path, skip: tuple[str, ...] = ()) -> list[str]:
        """Every plain file of a device folder (ETDump, ORT profile, logs), names sanitized."""
        folder = self._device_path(remote)
        try:
            entries = [e for e in self._adb.sync.list(folder) if stat_is_file(e.mode)]
        except ADB_FAILURES:
            return []
        pulled = []
        for entry in entries:
            if entry.path in skip:
                continue
            target = local_path_for(local_dir, entry.path)
            if self.pull(f"{folder}/{entry.path}", target):
                pulled.append(target.name)
        return pulled

    def remove(self, remote: str) -> None:
        try:
            self.shell(["rm", "-rf", self._device_path(remote)])
        except DeviceGone:
            pass  # cleaning up is best effort; the next run's paths are new

    # ---- the app ----------------------------------------------------------------------------
    def install(self, apk: Path) -> dict:
        info = read_apk(apk)
        props = self.props()
        problem = sdk_problem(props)
        if problem:  # Android would refuse it (INSTALL_FAILED_OLDER_SDK) after the push
            raise problem
        check_abi(info, self.abis(props))
        remote = f"{DEVICE_ROOT}/profiler.apk"
        self.push(Path(apk), remote, cache.sha256_file(Path(apk)))
        done = self._retrying("pm install", lambda: self.shell(["pm", "install", "-r", "-t", remote], 300))
        self.remove(remote)
        if "Success" not in done.stdout:
            reason = (done.stdout + done.stderr).strip().splitlines()
            raise SlmEdgeError(f"installing {Path(apk).name} on {self.serial} failed: {reason[-1] if reason else 'no output'}",
                               "uninstall the old app (adb uninstall " + PACKAGE + ") and retry, or rebuild the APK")
        self._identity = None
        installed = self.app_info()
        if not installed:
            raise SlmEdgeError(f"{PACKAGE} is not listed after installing it on {self.serial}", "install it by hand: adb install -r APK")
        return installed

    def run_profile(self, remote_config: str, timeout_s: float) -> RunResult:
        """`am instrument -w`: blocks while the app runs, streams a status per phase. timeout_s is
        per phase (no status for that long: the app is stopped). A dropped connection does not stop
        the app: reconnect, then wait for its trace to be finished."""
        check_installed(self.app_info(), self.serial)
        config_path = self._device_path(remote_config)
        run_id = PurePosixPath(remote_config).parent.name
        self.shell(["logcat", "-c"])  # the log tail kept on failure is this run's alone
        command = shlex.join(["am", "instrument", "-w", "-r", "-e", EXTRA_CONFIG, config_path, "-e", EXTRA_RUN_ID, run_id,
                              INSTRUMENTATION])
        samples: list[dict] = []
        parser = InstrumentParser()
        timed_out = lost = False
        try:
            stream = self._adb.shell(command, stream=True)
        except ADB_FAILURES as exc:
            raise SlmEdgeError(f"could not start the profiler app on {self.serial} ({exc})", "check the device and retry") from None
        stream.conn.settimeout(1.0)
        phase_deadline = time.monotonic() + timeout_s
        next_sample = time.monotonic()
        pending = b""
        try:
            while True:
                now = time.monotonic()
                if now >= next_sample:
                    samples.append(self.context())
                    next_sample = now + HOST_SAMPLE_EVERY_S
                try:
                    data = stream.conn.recv(65536)
                except socket.timeout:
                    if time.monotonic() > phase_deadline:
                        timed_out = True
                        break
                    continue
                except OSError:
                    lost = True
                    break
                if not data:
                    break
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    before = len(parser.outcome.statuses)
                    parser.feed(line.decode(errors="replace"))
                    if len(parser.outcome.statuses) != before:
                        phase_deadline = time.monotonic() + timeout_s  # a new phase: its own allowance
        finally:
            stream.close()
        outcome = parser.outcome
        if pending:
            parser.feed(pending.decode(errors="replace"))
        lost = lost or (not timed_out and outcome.code is None and outcome.failed is None)
        trace_remote, outputs_dir, refused = f"{trace_dir(run_id)}/trace.json", trace_dir(run_id), None
        if outcome.result.get("trace"):
            try:
                trace_remote = check_device_path(outcome.result["trace"], trace_dir(run_id), self.canonical)
                outputs_dir = self._vetted_run_folder(trace_remote, run_id)
            except SlmEdgeError as err:
                refused = err
        if lost:
            self.reconnect()
            timed_out = not self._await_trace(trace_remote, timeout_s)
        if timed_out:
            self.shell(["am", "force-stop", PACKAGE])
        ok = outcome.ok and not timed_out and refused is None
        logs = {"instrument.txt": "\n".join(outcome.lines) + "\n"}
        if not ok or lost:
            log = self.shell(["logcat", "-d", "-t", str(LOGCAT_LINES)], 60)
            logs["logcat.txt"] = log.stdout
        problem = "" if ok else ("no status within the per-phase timeout" if timed_out and not lost else outcome.problem())
        if refused:  # nothing is pulled from where the app pointed; its folder is cleaned where it belongs
            return RunResult(returncode=1, log=logs.get("logcat.txt") or logs["instrument.txt"], timed_out=timed_out,
                             trace_path=None, problem=refused.problem, logs=logs, host_samples=samples,
                             outputs_dir=trace_dir(run_id), transfer=self.transfer, refusal=refused)
        return RunResult(returncode=0 if (ok or (lost and not timed_out)) else 1,
                         log=logs.get("logcat.txt") or logs["instrument.txt"], timed_out=timed_out,
                         trace_path=trace_remote, trace_sha256=None if lost else outcome.result.get("trace_sha256"),
                         problem=problem or None, logs=logs, host_samples=samples, outputs_dir=outputs_dir,
                         transfer=self.transfer)  # the live counts: the pulls after this add to them

    def _vetted_run_folder(self, trace_remote: str, run_id: str) -> str:
        """The run's folder in the form the app reported, for the pulls and the `rm -rf` after the run:
        only once its own canonical form is the app's run folder (some user's /storage/emulated/<N>/...);
        a `runs/<id>` folder elsewhere whose trace merely links in is never trusted."""
        ours = trace_dir(run_id)
        reported = next((str(parent) for parent in PurePosixPath(trace_remote).parents
                         if parent.name == run_id and parent.parent.name == "runs"), None)
        if reported is None or reported == ours:
            return ours
        resolved = self.canonical([reported])[0]
        if resolved is None or not trusted_root(resolved, ours):
            return ours
        self._vetted.add(reported)
        return reported

    def _await_trace(self, trace_remote: str, timeout_s: float) -> bool:
        """After a dropped connection: poll the app's trace until it is no longer `running`. False
        when it stopped changing for timeout_s (the app hangs or died without finishing)."""
        last, changed = None, time.monotonic()
        while time.monotonic() - changed < timeout_s:
            try:
                done = self.shell(["sha256sum", trace_remote])
            except DeviceGone:  # dropped again while waiting
                self.reconnect()
                continue
            digest = done.stdout.split()[0] if done.returncode == 0 and done.stdout.strip() else None
            if digest and digest != last:
                last, changed = digest, time.monotonic()
                try:
                    status = json.loads(self._adb.sync.read_text(trace_remote)).get("status")
                except (ADB_FAILURES, ValueError, AttributeError):
                    status = "running"
                if status != "running":
                    return True
            time.sleep(1.0)
        return False


def stat_is_file(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)
