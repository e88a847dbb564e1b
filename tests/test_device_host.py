"""The host side of the adb path that needs no device: reading `am instrument` output, APK identity
and ABI checks, device-supplied names, the per-device lock, a missing adb server."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from click.testing import CliRunner

from slm_edge.cli import main
from slm_edge.contract import APP_FILES, MIN_APP_VERSION_CODE, PACKAGE, trace_dir
from slm_edge.device.apk import check_abi, check_installed, read_apk
from slm_edge.device.instrument import InstrumentParser
from slm_edge.device.lock import device_lock
from slm_edge.device.safe_paths import check_device_path, local_path_for, safe_name
from slm_edge.errors import SlmEdgeError
from slm_edge.testing.harness import make_test_apk


def parse(text: str):
    parser = InstrumentParser()
    for line in text.splitlines():
        parser.feed(line)
    return parser.outcome


def test_instrument_success_streams_phases_and_result():
    heard = []
    parser = InstrumentParser(on_status=heard.append)
    for line in ("INSTRUMENTATION_STATUS: phase=load", "INSTRUMENTATION_STATUS: threads=2", "INSTRUMENTATION_STATUS_CODE: 1",
                 "INSTRUMENTATION_STATUS: phase=run", "INSTRUMENTATION_STATUS_CODE: 1",
                 "INSTRUMENTATION_RESULT: status=complete", f"INSTRUMENTATION_RESULT: trace={trace_dir('r1')}/trace.json",
                 "INSTRUMENTATION_RESULT: trace_sha256=" + "a" * 64, "INSTRUMENTATION_CODE: -1"):
        parser.feed(line + "\r\n")
    outcome = parser.outcome
    assert heard == [{"phase": "load", "threads": "2"}, {"phase": "run"}]
    assert outcome.ok and outcome.result["trace_sha256"] == "a" * 64


@pytest.mark.parametrize("text, expected", [
    ("INSTRUMENTATION_RESULT: shortMsg=Process crashed.\nINSTRUMENTATION_CODE: 0", "crashed"),
    (f"INSTRUMENTATION_FAILED: {PACKAGE}/.ProfilerInstrumentation", "INSTRUMENTATION_FAILED"),
    ("INSTRUMENTATION_STATUS: phase=load\nINSTRUMENTATION_STATUS_CODE: 1", "without a result"),
    ("INSTRUMENTATION_RESULT: status=failed\nINSTRUMENTATION_RESULT: error=model file missing\nINSTRUMENTATION_CODE: 0",
     "model file missing"),
])
def test_instrument_failures_are_named(text, expected):
    outcome = parse(text)
    assert not outcome.ok
    assert expected in outcome.problem()


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "/etc/passwd", "..", "a/../../b", "..\\..\\x", "", ".hidden",
                                     "x\x00y", "trace.json/../../../z"])
def test_device_supplied_names_stay_in_the_run_folder(tmp_path, hostile):
    target = local_path_for(tmp_path, hostile)
    assert target.parent == tmp_path.resolve()
    assert "/" not in safe_name(hostile) and not safe_name(hostile).startswith(".")


def test_device_reported_paths_must_be_ours():
    def as_given(paths):  # a device on which every path is already canonical (no links)
        return list(paths)

    assert check_device_path(f"{trace_dir('r1')}/trace.json", trace_dir("r1"), as_given).endswith("trace.json")
    for bad in (f"{trace_dir('r1')}/../../../../../etc/passwd", "/etc/passwd", f"{APP_FILES}/runs/other/trace.json",
                "trace.json"):
        with pytest.raises(SlmEdgeError, match="outside"):
            check_device_path(bad, trace_dir("r1"), as_given)


def test_apk_identity_and_abi_refusal(tmp_path):
    info = read_apk(make_test_apk(tmp_path / "app.apk", abis=("arm64-v8a",), version_code=3))
    assert info["abis"] == ["arm64-v8a"] and info["version_code"] == 3
    check_abi(info, ["arm64-v8a", "armeabi-v7a"])
    with pytest.raises(SlmEdgeError, match="x86_64"):
        check_abi(info, ["x86_64", "x86"])
    with pytest.raises(SlmEdgeError, match="not the slm-edge profiler app"):
        read_apk(make_test_apk(tmp_path / "other.apk", package="com.example.other"))
    (tmp_path / "broken.apk").write_bytes(b"not a zip")
    with pytest.raises(SlmEdgeError, match="not a readable APK"):
        read_apk(tmp_path / "broken.apk")


def test_app_missing_or_too_old_is_refused():
    with pytest.raises(SlmEdgeError, match="not installed.*app install"):
        check_installed(None, "phone1")
    with pytest.raises(SlmEdgeError, match="needs code"):
        check_installed({"version_name": "0.0", "version_code": MIN_APP_VERSION_CODE - 1}, "phone1")
    check_installed({"version_name": "1.0", "version_code": MIN_APP_VERSION_CODE}, "phone1")


def test_one_profile_per_device(tmp_path):
    with device_lock("127.0.0.1:5555", wait_s=0):
        with pytest.raises(SlmEdgeError, match="another slm-edge command"):
            with device_lock("127.0.0.1:5555", wait_s=0):
                pass
        with device_lock("other-serial", wait_s=0):  # other devices are free
            pass
    order = []

    def second():
        with device_lock("queued", wait_s=10):
            order.append("second")

    with device_lock("queued", wait_s=0):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        order.append("first done")
    waiter.join(10)
    assert order == ["first done", "second"]  # it queued, it did not interleave


def test_no_adb_server_says_how_to_start_one(monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    for args in (["devices"], ["app", "install", "--apk", "x.apk"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert "no adb server" in result.output and "adb start-server" in result.output
        assert "Traceback" not in result.output
