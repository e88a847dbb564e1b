"""The host-side parsers read what real phones print. Every input here is a capture from a real
device (getprop, dumpsys battery / thermalservice / meminfo / package, df, am instrument), taken
from public bug reports and other projects' test fixtures; tests/fixtures/android/SOURCES.json
names the source of each file and what was trimmed. The expected values were read off the
captures by eye, so a parser that drifts from the real formats fails here."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from adbutils import ShellReturn

from slm_edge.device.adb import AdbDevice, dumpsys_field as _field, parse_getprop as _parse_getprop
from slm_edge.contract import PACKAGE
from slm_edge.device.instrument import InstrumentParser

CAPTURES = Path(__file__).parent / "fixtures" / "android"
SOURCES = json.loads((CAPTURES / "SOURCES.json").read_text())


def capture(name: str) -> str:
    return (CAPTURES / name).read_text(encoding="utf-8")


class RecordedAdbd:
    """Stands in for the adbutils device object behind AdbDevice (its `get_features` and
    `shell2`), answering each command with a recorded capture, so the real AdbDevice code
    (shell, props, context, info, app_info, free_bytes) runs on what real phones printed.
    Commands without a capture print nothing, as a missing dumpsys service does.

    shell_v2=False answers the way adbutils 2.12 does for an adbd without the shell_v2 feature
    (before Android 7): shell2(v2=True) logs a warning and falls back to _shell_v1, which fills
    `.output` only and leaves `.stdout`/`.stderr` empty (adbutils/_device_base.py); that old adbd
    ran the command on a pty, so its lines end in CRLF (AOSP system/core adb/services.cpp before N:
    create_subproc_thread(name + 6, SUBPROC_PTY))."""

    def __init__(self, outputs: dict[str, str], shell_v2: bool = True):
        self._outputs = outputs
        self._shell_v2 = shell_v2

    def get_features(self) -> str:
        return "shell_v2,cmd,stat_v2" if self._shell_v2 else "cmd"

    def shell2(self, command: str, timeout=None, v2: bool = False, **_) -> ShellReturn:
        text = self._outputs.get(command, "")
        if v2 and self._shell_v2:
            return ShellReturn(command=command, returncode=0, output=text, stdout=text)
        return ShellReturn(command=command, returncode=0, output=text.replace("\n", "\r\n"))


class RecordedClient:
    def __init__(self, adbd: RecordedAdbd):
        self._adbd = adbd

    def device(self, serial: str) -> RecordedAdbd:
        return self._adbd


COMMANDS = {"getprop": ["getprop"], "battery": ["dumpsys", "battery"], "thermal": ["dumpsys", "thermalservice"],
            "meminfo": ["dumpsys", "meminfo", PACKAGE], "package": ["dumpsys", "package", PACKAGE],
            "df": ["df", "-k", "/data/local/tmp"]}


def device_with(shell_v2: bool = True, **captures: str) -> AdbDevice:
    outputs = {shlex.join(COMMANDS[kind]): capture(name) for kind, name in captures.items()}
    return AdbDevice(RecordedClient(RecordedAdbd(outputs, shell_v2)), "capture")


# ---- the fixtures themselves ---------------------------------------------------------------

def test_every_capture_names_its_source():
    files = sorted(p.name for p in CAPTURES.glob("*.txt"))
    assert files == sorted(SOURCES), "every capture needs an entry in SOURCES.json and vice versa"
    for name in files:
        entry = SOURCES[name]
        assert entry["source"].strip() and entry["command"].strip() and entry["vendor"].strip(), name
        assert entry["android"] is None or 4 <= entry["android"] <= 16, name
        assert (CAPTURES / name).stat().st_size < 20_000, f"{name}: keep captures small"


def test_captures_cover_several_devices_per_command():
    def devices(word):
        return {(e["vendor"], e["model"]) for e in SOURCES.values() if e["command"].startswith(word)}
    assert len(devices("getprop")) >= 3
    assert len(devices("dumpsys battery")) >= 3
    assert len(devices("dumpsys thermalservice")) >= 2
    assert len(devices("dumpsys package")) >= 2
    assert len(devices("dumpsys meminfo")) >= 2


# ---- getprop ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("xiaomi-17promax-android16-getprop.txt", {
        "ro.product.manufacturer": "Xiaomi", "ro.product.model": "2509FPN0BC",
        "ro.product.marketname": "Xiaomi 17 Pro Max", "ro.build.version.release": "16",
        "ro.build.version.sdk": "36", "ro.product.cpu.abilist": "arm64-v8a", "ro.product.cpu.abilist32": "",
        "ro.system.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi", "ro.soc.manufacturer": "QTI",
        "ro.soc.model": "SM8850", "ro.board.platform": "canoe", "ro.hardware": "qcom",
        "ro.kernel.qemu.gles": "0", "persist.sys.boot_audio.enabled": "1"}),
    ("oneplus-cph2451-android13-getprop.txt", {
        "ro.product.manufacturer": "OnePlus", "ro.product.model": "CPH2451", "ro.build.version.release": "13",
        "ro.build.version.sdk": "33", "ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi",
        "ro.soc.manufacturer": "QTI", "ro.soc.model": "SM8550", "ro.board.platform": "kalama",
        "ro.hardware": "qcom", "ro.separate.soft": "22861", "ro.setupwizard.rotation_locked": "true"}),
    ("google-pixel6pro-android13-getprop.txt", {
        "ro.product.vendor.manufacturer": "Google", "ro.product.vendor.model": "Pixel 6 Pro",
        "ro.product.vndk.version": "33", "ro.soc.manufacturer": "Google", "ro.soc.model": "Tensor"}),
    ("samsung-galaxya21s-android11-getprop.txt", {
        "ro.product.brand": "samsung", "ro.product.board": "exynos850",
        "ro.product.build.version.release": "11", "ro.odm.build.version.sdk": "30",
        "ro.odm.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi",
        "ro.product.build.date": "Wed Apr  7 10:56:14 KST 2021"}),
])
def test_getprop_reads_real_listings(name, expected):
    props = _parse_getprop(capture(name))
    for key, value in expected.items():
        assert props.get(key) == value, key


def test_getprop_survives_crlf_of_a_shell_v1_pty():
    # Before Android 7 adbd ran every "shell:" command on a PTY (system/core adb/services.cpp:
    # create_subproc_thread(name + 6, SUBPROC_PTY)), which turns each "\n" into "\r\n".
    text = capture("oneplus-cph2451-android13-getprop.txt").replace("\n", "\r\n")
    props = _parse_getprop(text)
    assert props["ro.product.model"] == "CPH2451"
    assert props["ro.product.cpu.abilist"] == "arm64-v8a,armeabi-v7a,armeabi"


def test_getprop_keeps_a_multi_line_value_whole():
    # getprop prints a value raw, newlines included
    props = _parse_getprop(capture("xiaomi-17promax-android16-getprop.txt"))
    assert props["persist.sys.boot.reason.history"] == (
        "reboot,ota,1759584490\nreboot,update,system-update,1759584401\nreboot,userrequested,12")


@pytest.mark.parametrize("name, model, cpu, soc, abis, os", [
    # a 64-bit-only vendor list even though /system still ships 32-bit ABIs
    ("xiaomi-17promax-android16-getprop.txt", "Xiaomi 2509FPN0BC", "QTI SM8850", "QTI SM8850",
     ["arm64-v8a"], "Android 16 (SDK 36)"),
    ("oneplus-cph2451-android13-getprop.txt", "OnePlus CPH2451", "QTI SM8550", "QTI SM8550",
     ["arm64-v8a", "armeabi-v7a", "armeabi"], "Android 13 (SDK 33)"),
    # excerpts: no ro.product.model / ro.build.version.* lines in them
    ("google-pixel6pro-android13-getprop.txt", "capture", "Google Tensor", "Google Tensor", [], "Android ? (SDK ?)"),
    ("samsung-galaxya21s-android11-getprop.txt", "capture", "unknown", None, [], "Android ? (SDK ?)"),
])
def test_device_identity_from_real_getprop(name, model, cpu, soc, abis, os):
    info = device_with(getprop=name).info()
    assert (info["model"], info["cpu"], info["soc"], info["abis"], info["os"]) == (model, cpu, soc, abis, os)
    assert info["abi"] == (abis[0] if abis else None)
    assert info["emulated"] is False  # ro.kernel.qemu.gles=0 on the Xiaomi and OnePlus is not ro.kernel.qemu


def test_getprop_through_a_shell_v1_adbd():
    # issue 13 item 7: adbutils puts a shell-v1 answer in .output only
    device = device_with(shell_v2=False, getprop="oneplus-cph2451-android13-getprop.txt")
    assert device.props()["ro.product.model"] == "CPH2451"
    assert device.props()["ro.product.cpu.abilist"] == "arm64-v8a,armeabi-v7a,armeabi"


# ---- dumpsys battery --------------------------------------------------------------------------

@pytest.mark.parametrize("name, level, temp_c, powered", [
    ("xiaomi-redminote14-android16-dumpsys-battery.txt", 80, 36.4, True),  # AC, with Android 16's extra lines
    ("unknown-clusterfuzz-androidNA-dumpsys-battery.txt", 80, 18.0, True),  # Dock powered / Capacity level
    ("samsung-unknown-androidNA-dumpsys-battery.txt", 100, 30.9, True),  # USB, Samsung's own lines
    ("google-pixelc-androidNA-dumpsys-battery.txt", 19, 27.5, True),
])
def test_battery_from_real_dumpsys(name, level, temp_c, powered):
    sample = device_with(battery=name).context()
    assert "error" not in sample
    assert sample["battery_level"] == level
    assert sample["battery_temp_c"] == pytest.approx(temp_c)
    assert sample["powered"] is powered


def test_battery_field_reader_on_real_lines():
    text = capture("xiaomi-redminote14-android16-dumpsys-battery.txt")
    assert _field(text, "Max charging current") == "12400000"  # not the " Time when ... current" line below it
    assert _field(text, "Charge counter") == "4274"
    assert _field(text, "Charging state") == "0"
    assert _field(capture("samsung-unknown-androidNA-dumpsys-battery.txt"), "Charge counter") == "2967000"


def test_one_unreadable_battery_field_loses_only_that_field():
    # adbutils' battery() reads a dozen fields as numbers and fails whole on one it cannot read
    # ("Max charging voltage: n/a" here): level, temperature and powered still come through
    text = capture("google-pixelc-androidNA-dumpsys-battery.txt").replace("Max charging voltage: 5000000",
                                                                          "Max charging voltage: n/a")
    device = AdbDevice(RecordedClient(RecordedAdbd({shlex.join(COMMANDS["battery"]): text}, True)), "capture")
    sample = device.context()
    assert (sample["battery_level"], sample["battery_temp_c"], sample["powered"]) == (19, 27.5, True)


def test_battery_through_a_shell_v1_adbd():
    sample = device_with(shell_v2=False, battery="google-pixelc-androidNA-dumpsys-battery.txt").context()
    assert (sample["battery_level"], sample["battery_temp_c"], sample["powered"]) == (19, 27.5, True)


# ---- dumpsys thermalservice -------------------------------------------------------------------

@pytest.mark.parametrize("name, status", [
    ("samsung-galaxya52-5g-android12-dumpsys-thermalservice.txt", 0),
    ("samsung-unknown-androidNA-dumpsys-thermalservice.txt", 0),  # AIDL thermal HAL
    ("unknown-octacore-androidNA-dumpsys-thermalservice.txt", 2),  # THERMAL_STATUS_MODERATE
])
def test_thermal_status_from_real_dumpsys(name, status):
    assert device_with(thermal=name).context()["thermal_status"] == status


# ---- dumpsys meminfo <package> ----------------------------------------------------------------

@pytest.mark.parametrize("name, pss_kb", [
    ("google-pixel2-android11-dumpsys-meminfo.txt", 688561),
    ("unknown-rethink-androidNA-dumpsys-meminfo-summary.txt", 1287534),  # PSS > RSS: swapped pages count in PSS
])
def test_app_pss_from_real_meminfo(name, pss_kb):
    assert device_with(meminfo=name).context()["app_pss_kb"] == pss_kb


# ---- dumpsys package <package> ----------------------------------------------------------------

@pytest.mark.parametrize("name, code, version", [
    ("emulator-x86-androidNA-dumpsys-package.txt", 164, "2.23.2"),
    ("unknown-armv7-androidNA-dumpsys-package.txt", 1, "0.1"),
])
def test_app_version_from_real_dumpsys_package(name, code, version):
    assert device_with(package=name).app_info() == {"package": PACKAGE, "version_name": version, "version_code": code}


def test_app_missing_reads_as_none():
    assert device_with().app_info() is None  # no Package block at all


# ---- df ---------------------------------------------------------------------------------------

def test_pre_toybox_df_is_unreadable_not_wrong():
    # toolbox df (before toybox took over df in Android 7) prints human sizes, not 1K blocks:
    # the free space must read as unknown rather than as a wrong number.
    assert device_with(df="unknown-old-androidNA-df.txt").free_bytes() is None


# ---- am instrument -w -r ----------------------------------------------------------------------

def parse_instrument(name: str):
    parser = InstrumentParser()
    for line in capture(name).splitlines():
        parser.feed(line)
    return parser.outcome


def test_instrument_crash_after_a_status_block():
    outcome = parse_instrument("smartisan-m1-androidNA-am-instrument-crash.txt")
    assert len(outcome.statuses) == 1 and outcome.statuses[0]["class"] == "com.github.uiautomator.stub.Stub"
    assert outcome.result == {"shortMsg": "Process crashed."} and outcome.code == 0
    assert outcome.crashed and not outcome.ok
    assert "crashed" in outcome.problem()


def test_instrument_crash_before_any_status():
    outcome = parse_instrument("unknown-unknown-androidNA-am-instrument-crash-early.txt")
    assert outcome.statuses == [] and outcome.crashed and not outcome.ok


def test_instrument_without_a_final_code_is_not_ok():
    # the old UiAutomatorTestRunner ends with a status block, never with INSTRUMENTATION_CODE
    outcome = parse_instrument("unknown-dalvik-androidNA-am-instrument-uiautomator.txt")
    assert [s.get("current") for s in outcome.statuses] == ["1", "1", None]
    assert outcome.code is None and not outcome.ok
    assert "without a result" in outcome.problem()


def test_instrument_keeps_multi_line_values():
    outcome = parse_instrument("smartisan-m1-androidNA-am-instrument-crash.txt")
    assert outcome.statuses[0]["stream"] == "\ncom.github.uiautomator.stub.Stub:"
