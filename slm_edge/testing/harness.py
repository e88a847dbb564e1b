"""A private adb server (its own port, so a developer's server and phones are untouched), emulated
phones connected to it with `adb connect`, and test APKs the emulated `pm install` accepts.
The pytest fixtures around them are in pytest_plugin.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import zipfile
from pathlib import Path

from slm_edge import contract as android
from slm_edge.device.jvm_app import app_version
from slm_edge.testing.adbd import EmulatedAdbd
from slm_edge.testing.device_folder import DeviceFolder
from slm_edge.testing.faults import clear_faults, read_faults, set_faults


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# What the app's identity asset states by default: the runtimes the APK bundles and what they can do.
# what the real app's asset says (android_app/app/build.gradle.kts reads the same pins)
TEST_APK_RUNTIMES = {name: app_version(name) for name in ("executorch", "onnxruntime")}
TEST_APK_FEATURES = {"executorch_etdump": False, "onnx_shared_kv": True, "eval_mode": True, "unplug_wait": True,
                     "thread_cores": True, "cpu_affinity": True}


def make_test_apk(path: Path, abis: tuple[str, ...] = ("x86_64",), package: str = android.PACKAGE,
                  version_code: int = 1, version_name: str = "0.1.0", runtimes: dict | None = None,
                  features: dict | None = None) -> Path:
    """A zip the emulated `pm install` accepts: the app-info asset (as android_app/app/build.gradle.kts
    writes it) and a lib/<abi>/ entry per ABI. runtimes/features override the defaults above."""
    info = {"package": package, "version_name": version_name, "version_code": version_code,
            "trace_schema_version": 1, "abis": list(abis),
            "runtimes": {**TEST_APK_RUNTIMES, **(runtimes or {})}, "features": {**TEST_APK_FEATURES, **(features or {})}}
    with zipfile.ZipFile(path, "w") as apk:
        apk.writestr(android.APP_INFO_ASSET, json.dumps(info))
        for abi in abis:
            apk.writestr(f"lib/{abi}/libslmedge.so", b"\x7fELF emulated")
    return Path(path)


class AdbServer:
    """`adb -P PORT start-server`; every command here and adbutils' client use that port."""

    def __init__(self, port: int | None = None):
        self.binary = shutil.which("adb")
        if not self.binary:
            raise RuntimeError("adb is not installed (Debian: apt-get install adb)")
        self.port = port or free_port()
        self.env = {**os.environ, "ANDROID_ADB_SERVER_PORT": str(self.port)}

    def run(self, *args: str, timeout: float = 30, check: bool = False, input: bytes | None = None
            ) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, "-P", str(self.port), *args], env=self.env, capture_output=True,
                              timeout=timeout, check=check, input=input, text=input is None)

    def start(self) -> "AdbServer":
        self.run("start-server", check=True)
        return self

    def stop(self) -> None:
        self.run("kill-server")

    def states(self) -> dict[str, str]:
        lines = self.run("devices").stdout.splitlines()[1:]
        return dict(line.split("\t", 1) for line in lines if "\t" in line)

    def client(self):
        import adbutils

        return adbutils.AdbClient(host="127.0.0.1", port=self.port)


class EmulatedPhone:
    """An emulated device listening on its own port and connected to `server`."""

    def __init__(self, server: AdbServer, root: Path, abi: str | None = None, props: dict | None = None,
                 capture: Path | None = None, users: tuple[int, ...] = (0,), shell_v2: bool = True):
        """capture: a real phone's getprop output to imitate; users: Android users with storage
        (10: a work profile); shell_v2=False: an adbd from before Android 7."""
        self.server = server
        self.adbd = EmulatedAdbd(root, port=free_port(), abi=abi, props=props, capture=capture, users=users,
                                 shell_v2=shell_v2).start()
        self.folder: DeviceFolder = self.adbd.device
        self.root = self.folder.root
        self.serial = f"127.0.0.1:{self.adbd.port}"
        self.adb_port = server.port

    # --- connection -------------------------------------------------------------------------------
    def connect(self, state: str = "device", timeout: float = 15) -> "EmulatedPhone":
        self.server.run("connect", self.serial)
        return self.wait_for_state(state, timeout)

    def disconnect(self) -> None:
        self.server.run("disconnect", self.serial)

    def reconnect(self, state: str = "device", timeout: float = 15) -> "EmulatedPhone":
        self.disconnect()
        return self.connect(state, timeout)

    def wait_for_state(self, state: str = "device", timeout: float = 15) -> "EmulatedPhone":
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.server.states().get(self.serial)
            if seen == state:
                return self
            if seen is None:  # the server gave up on it (e.g. after a drop): connect again
                self.server.run("connect", self.serial)
            time.sleep(0.1)
        raise TimeoutError(f"{self.serial} is {seen!r}, not {state!r}, after {timeout:.0f} s")

    def restart(self, timeout: float = 15) -> "EmulatedPhone":
        """Restart the device's adbd (every connection dropped, same port), then reconnect: an
        adb server would otherwise show it offline for a while."""
        self.adbd.restart()
        return self.reconnect(timeout=timeout)

    # --- use --------------------------------------------------------------------------------------
    def adb(self, *args: str, timeout: float = 60, check: bool = False, input: bytes | None = None
            ) -> subprocess.CompletedProcess:
        """The real adb binary against this device: `phone.adb("shell", "getprop")`."""
        return self.server.run("-s", self.serial, *args, timeout=timeout, check=check, input=input)

    @property
    def device(self):
        """An adbutils AdbDevice for this phone."""
        return self.server.client().device(self.serial)

    def host_path(self, device_path: str) -> Path:
        """Where a device path lives on the host (for checking what a push wrote)."""
        return self.folder.host_path(device_path)[0]

    def set_faults(self, **faults) -> dict:
        return set_faults(self.folder.state, **faults)

    def faults(self) -> dict:
        return read_faults(self.folder.state)

    def clear_faults(self) -> None:
        clear_faults(self.folder.state)

    def set_sensors(self, **values) -> None:
        """battery_level, battery_temperature (tenths of °C), usb_powered, thermal_status."""
        current = self.folder.read_json("sensors.json", {})
        self.folder.write_json("sensors.json", {**current, **values})

    def use_scripted_runner(self, enabled: bool = True) -> None:
        """Run the fast scripted stand-in instead of slm_edge.runner when the app is launched."""
        if enabled:
            self.folder.write_json("runner.json", {"module": "slm_edge.testing.scripted_runner"})
        else:
            (self.folder.state / "runner.json").unlink(missing_ok=True)

    def logcat(self) -> str:
        return (self.folder.state / "logcat.txt").read_text()

    def close(self) -> None:
        self.disconnect()
        self.adbd.stop()
