"""What a phone is and how it is doing: its properties (getprop), the typed facts drawn from them,
and the host-side samples taken during a run (battery, thermal status, the app's PSS).

The parsers read what real phones print: tests/test_device_captures.py runs them on captures from
real devices (tests/fixtures/android, sources in SOURCES.json).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass

from adbutils.shell import ShellExtension

from slm_edge.contract import MIN_SDK, PACKAGE
from slm_edge.device.adb.connection import Connection
from slm_edge.errors import BadInput, DeviceGone

# getprop prints `[name]: [value]` per property, the value raw: a multi-line value (e.g. Xiaomi's
# persist.sys.boot.reason.history, tests/fixtures/android) runs on until a line ending in `]` that
# is followed by the next `[name]: [` line (blank lines between) or the end. adbutils reads one
# property per `getprop NAME` (Property.get): one round trip each, so the whole listing is ours.
_GETPROP_ENTRY = re.compile(r"^\[([^\]\n]+)\]: \[(.*?)\][ \t\r]*$(?=\n\s*\[[^\]\n]+\]: \[|\s*\Z)", re.M | re.S)


def parse_getprop(text: str) -> dict[str, str]:
    return {match.group(1): match.group(2) for match in _GETPROP_ENTRY.finditer(text.replace("\r\n", "\n"))}


def dumpsys_field(text: str, key: str) -> str | None:
    """The value after `key` (`key=value` or `key: value`) in dumpsys output, first occurrence."""
    for line in text.splitlines():
        for piece in line.strip().split():
            if piece.startswith(key + "="):
                return piece.split("=", 1)[1]
        stripped = line.strip()
        if stripped.lower().startswith(key.lower() + ":"):
            return stripped.split(":", 1)[1].strip()
    return None


def to_int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def abis_of(props: dict[str, str]) -> list[str]:
    listed = props.get("ro.product.cpu.abilist") or props.get("ro.product.cpu.abi", "")
    return [abi for abi in listed.split(",") if abi]


def sdk_problem(props: dict[str, str]) -> BadInput | None:
    """The profiler app's minSdk is 29: an older phone is listed, but cannot profile."""
    sdk = to_int(props.get("ro.build.version.sdk"))
    if sdk is None or sdk >= MIN_SDK:
        return None
    return BadInput(f"this phone runs Android {props.get('ro.build.version.release', '?')} (API {sdk}) and the "
                    f"profiler app needs Android 10 (API {MIN_SDK}) or newer",
                    "profile on a phone with Android 10 or newer")


def mem_total_kb(proc_meminfo: str) -> int | None:
    return next((to_int(line.split()[1]) for line in proc_meminfo.splitlines() if line.startswith("MemTotal:")), None)


def app_pss_kb(dumpsys_meminfo: str) -> int | None:
    """The app summary's TOTAL PSS, else the table's TOTAL row (older layouts have no summary)."""
    lines = dumpsys_meminfo.splitlines()
    return next((to_int(line.split()[2]) for line in lines if line.strip().startswith("TOTAL PSS:")), None) \
        or next((to_int(line.split()[1]) for line in lines if line.strip().startswith("TOTAL ")), None)


@dataclass(frozen=True)
class DeviceFacts:
    """What `slm-edge devices` and the trace's host section say the phone is."""

    serial: str
    model: str
    cpu: str
    soc: str | None
    abi: str | None
    abis: tuple[str, ...]
    cores: int
    ram_bytes: int
    os: str
    sdk: int | None
    emulated: bool

    @classmethod
    def from_props(cls, serial: str, props: dict[str, str], ram_kb: int | None, cores: int | None) -> DeviceFacts:
        abis = abis_of(props)
        soc = " ".join(filter(None, (props.get("ro.soc.manufacturer"), props.get("ro.soc.model")))) or None
        return cls(
            serial=serial,
            model=" ".join(filter(None, (props.get("ro.product.manufacturer"), props.get("ro.product.model")))) or serial,
            cpu=soc or props.get("ro.board.platform") or props.get("ro.hardware") or "unknown",
            soc=soc, abi=abis[0] if abis else None, abis=tuple(abis), cores=cores or 1, ram_bytes=(ram_kb or 0) * 1024,
            os=f"Android {props.get('ro.build.version.release', '?')} (SDK {props.get('ro.build.version.sdk', '?')})",
            sdk=to_int(props.get("ro.build.version.sdk")),
            emulated=props.get("ro.kernel.qemu") == "1" or props.get("ro.boot.qemu") == "1")

    def to_json(self) -> dict:
        return {**asdict(self), "abis": list(self.abis)}


class _Parsers(ShellExtension):
    """adbutils' dumpsys parsers (ShellExtension.battery) fed through our shell, so its commands are
    quoted, run over shell v2 or v1, and a drop is a DeviceGone like everywhere else."""

    sync = None  # its parsers never touch files

    def __init__(self, run):
        self._run = run

    def shell(self, cmdargs, **_) -> str:
        return self._run(list(cmdargs)).stdout.rstrip()


class Facts(Connection):
    def props(self) -> dict[str, str]:
        return parse_getprop(self._retrying("getprop", lambda: self.shell(["getprop"])).stdout)

    def abis(self, props: dict[str, str] | None = None) -> list[str]:
        return abis_of(props or self.props())

    def facts(self, props: dict[str, str] | None = None) -> DeviceFacts:
        props = props or self.props()
        meminfo = self._retrying("meminfo", lambda: self.shell(["cat", "/proc/meminfo"])).stdout
        return DeviceFacts.from_props(self.serial, props, mem_total_kb(meminfo), to_int(self.shell(["nproc"]).stdout))

    def context(self) -> dict:
        """Battery, thermal status and the app's PSS now (host-side sampling, a few per run). Keys
        are set in this order as each answer arrives; a device that stops answering adds `error`."""
        sample = {"t_wall_ms": time.time() * 1000}
        try:
            # adbutils' battery() reads all four battery captures as we did (level, temperature,
            # AC/USB powered), but one field it cannot read as a number (any of a dozen) fails the
            # whole reading: then the same output is read field by field, so only that field is lost
            outputs = []

            def shell_output(args):
                done = self.shell(args, 20)
                outputs.append(done.stdout)
                return done

            try:
                battery = _Parsers(shell_output).battery()
                sample["battery_level"] = battery.level
                sample["battery_temp_c"] = battery.temperature
                sample["powered"] = bool(battery.ac_powered or battery.usb_powered)
            except ValueError:
                text = outputs[-1] if outputs else ""
                temperature = to_int(dumpsys_field(text, "temperature"))
                sample["battery_level"] = to_int(dumpsys_field(text, "level"))
                sample["battery_temp_c"] = temperature / 10 if temperature is not None else None
                sample["powered"] = any(dumpsys_field(text, k) == "true" for k in ("AC powered", "USB powered"))
            # adbutils has no thermal or per-app memory reader: ours
            thermal = self.shell(["dumpsys", "thermalservice"], 20).stdout
            sample["thermal_status"] = to_int(dumpsys_field(thermal, "Thermal Status"))
            sample["app_pss_kb"] = app_pss_kb(self.shell(["dumpsys", "meminfo", PACKAGE], 20).stdout)
        except (DeviceGone, IndexError):
            sample["error"] = "device did not answer"
        return sample
