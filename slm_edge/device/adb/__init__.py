"""A phone over adb: the real adb server (Debian's `adb` package or the SDK's platform-tools),
spoken to through adbutils. `open_device(serial)` gives an `AdbDevice`, built from small features:

    connection.py  the adb server, which device, shell v2/v1, reconnect and retry after a drop
    transfer.py    push (sha256 skip, chunked and resumable), pull (sha256 checked), remove
    facts.py       getprop, the typed DeviceFacts, battery / thermal / memory samples
    app.py         install, the app's identity, the `am instrument` run loop

Transfers survive a dropped connection: the device is reconnected (network serials) or waited for
(USB), files already on the device with the right sha256 are skipped, and large files travel in
chunks so a retry resumes at the first chunk the device lacks.
"""

from __future__ import annotations

from slm_edge.device import Device
from slm_edge.device.adb.app import App, package_version
from slm_edge.device.adb.connection import adb_client, list_devices, resolve_serial, server_address, state_problem
from slm_edge.device.adb.facts import DeviceFacts, dumpsys_field, parse_getprop, sdk_problem


class AdbDevice(App, Device):
    def info(self, ask_app: bool = True) -> dict:
        """The device's facts, its profiler app and a context sample, for `slm-edge devices` and the
        trace's host section. ask_app=False leaves the identity query out: it is an `am instrument`,
        and Android stops the app's process before starting any instrumentation
        (ActivityManagerService startInstrumentation → forceStopPackageLocked), which would end a
        profile that is running."""
        props = self.props()
        too_old = sdk_problem(props)
        return {
            **self.facts(props).to_json(),
            "shell_v2": self.has_shell_v2(),
            "app": self.app_info() if too_old or not ask_app else self.app_identity(),
            **{k: v for k, v in self.context().items() if k != "t_wall_ms"},
            **({"problem": too_old.one_line()} if too_old else {}),
        }


def open_device(serial: str | None) -> AdbDevice:
    """The device meant by serial (the only ready one when None), ready for commands."""
    client = adb_client()
    return AdbDevice(client, resolve_serial(client, serial))


__all__ = ["AdbDevice", "DeviceFacts", "adb_client", "dumpsys_field", "list_devices", "open_device", "package_version",
           "parse_getprop", "sdk_problem", "server_address", "state_problem"]
