"""A phone whose adbd has no shell v2 (before Android 7): no features in its CNXN banner, `shell:`
only, one stream through a pty, no exit code. adbutils then puts the output in `.output` and
leaves `.stdout` empty; the host reads both and learns exit codes from a marker."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from slm_edge.device.adb import open_device
from slm_edge.contract import DEVICE_ROOT, PACKAGE
from slm_edge.testing.harness import EmulatedPhone, make_test_apk

from helpers import run_cli

pytestmark = pytest.mark.skipif(not (Path("/usr/bin/adb").exists() and Path("/usr/bin/bwrap").exists()),
                                reason="needs adb and bubblewrap")

MARSHMALLOW = {"ro.build.version.sdk": "23", "ro.build.version.release": "6.0.1", "ro.product.model": "Nexus 5X",
               "ro.product.manufacturer": "LGE"}


@pytest.fixture
def old_phone(adb_server, tmp_path, monkeypatch):
    phone = EmulatedPhone(adb_server, tmp_path / "phone", shell_v2=False, props=MARSHMALLOW).connect()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    yield phone
    phone.close()


def cli(*args, phone):
    return run_cli(*args, env={**os.environ, "ANDROID_ADB_SERVER_PORT": str(phone.adb_port)}, timeout=300)


def test_the_device_speaks_shell_v1_only(old_phone):
    device = old_phone.device
    assert "shell_v2" not in device.get_features()
    raw = old_phone.adb("shell", "echo out; echo err >&2; exit 3", input=b"")
    # one stream through a pty (CRLF), and no exit code: adb reports 0
    assert (raw.returncode, raw.stdout) == (0, b"out\r\nerr\r\n")
    done = device.shell2("getprop ro.build.version.sdk", v2=True)  # adbutils falls back to v1
    assert (done.stdout, done.output.strip()) == ("", "23")  # the issue: .stdout is empty


@pytest.fixture
def v1_phone(adb_server, tmp_path, monkeypatch):
    """An adbd without shell_v2 in front of a current system (toybox sha256sum and realpath there):
    the transport of an old phone, the tools of one the app runs on."""
    phone = EmulatedPhone(adb_server, tmp_path / "v1", shell_v2=False).connect()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    yield phone
    phone.close()


def test_the_host_reads_v1_output_and_exit_codes(v1_phone, tmp_path):
    device = open_device(v1_phone.serial)
    assert not device.has_shell_v2()
    assert device.props()["ro.build.version.sdk"] == "34"
    assert device.shell(["sh", "-c", "echo a; exit 4"]).returncode == 4  # from adbutils' X4EXIT marker
    assert device.shell(["echo", "x y"]).stdout == "x y\n"  # the pty's CRLF undone
    payload = tmp_path / "weights.bin"
    payload.write_bytes(os.urandom(300_000))
    sha = hashlib.sha256(payload.read_bytes()).hexdigest()
    assert device.push(payload, "slm-edge/test/weights.bin", sha) is True  # the hash check after the push passed
    assert device.push(payload, "slm-edge/test/weights.bin", sha) is False  # and the one before it skips
    assert device.transfer["files_skipped"] == 1
    assert device.pull("slm-edge/test/weights.bin", tmp_path / "back.bin", sha)  # `test -f` says it is there
    assert not device.pull("slm-edge/test/missing.bin", tmp_path / "missing.bin")  # and here it is not
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).hexdigest() == sha


def test_devices_lists_an_old_phone_and_says_the_app_needs_android_10(old_phone, tmp_path):
    listed = cli("devices", "--json", phone=old_phone)
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["serial"] == old_phone.serial)
    assert row["state"] == "device" and row["model"] == "LGE Nexus 5X" and row["os"] == "Android 6.0.1 (SDK 23)"
    assert row["abis"] == ["x86_64", "x86"] and row["ram_bytes"] > 0 and row["battery_level"] == 85
    assert row["shell_v2"] is False and row["sdk"] == 23
    assert "needs Android 10 (API 29)" in row["problem"]
    assert old_phone.adb("install", str(make_test_apk(tmp_path / "app.apk", version_code=2))).returncode == 0
    row = next(r for r in json.loads(cli("devices", "--json", phone=old_phone).stdout) if r["serial"] == old_phone.serial)
    assert row["app"] == {"package": PACKAGE, "version_name": "0.1.0", "version_code": 2}  # dumpsys read over v1
    table = cli("devices", phone=old_phone)
    assert "Android 6.0.1 (SDK 23)" in table.stdout and "0.1.0 (2)" in table.stdout
    assert "needs Android 10 (API 29)" in table.stdout + table.stderr
    assert not old_phone.host_path(DEVICE_ROOT).exists()  # listing pushed nothing
    refused = cli("app", "install", "--device", old_phone.serial, "--apk", make_test_apk(tmp_path / "b.apk"),
                  phone=old_phone)
    assert refused.returncode == 2 and "needs Android 10 (API 29)" in refused.stderr
    assert not old_phone.host_path(DEVICE_ROOT).exists()  # refused before the push
    # Android 6 has no sha256sum (toybox added it in 8.0): what the shell says, through the pty
    assert old_phone.adb("shell", "sha256sum /system/bin/sh", input=b"").stdout == \
        b"/system/bin/sh: sha256sum: not found\r\n"
