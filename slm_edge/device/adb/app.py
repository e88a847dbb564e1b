"""The profiler app on a phone: installing it (after the checks Android would fail on anyway), what
the installed app is (the package manager's facts and the app's own identity), and a profile run:
`am instrument -w`, followed phase by phase, with the trace waited for after a dropped connection."""

from __future__ import annotations

import json
import shlex
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from slm_edge import cache
from slm_edge.contract import (DEVICE_ROOT, EXTRA_CONFIG, EXTRA_QUERY, EXTRA_RUN_ID, INSTRUMENTATION,
                               MIN_IDENTITY_VERSION_CODE, PACKAGE, QUERY_IDENTITY, RESULT_IDENTITY, RESULT_TRACE,
                               RESULT_TRACE_SHA256, TRACE_FILE, trace_dir)
from slm_edge.device import Detached, RunResult
from slm_edge.device.adb.connection import ADB_FAILURES
from slm_edge.device.adb.facts import Facts, dumpsys_field, sdk_problem, to_int
from slm_edge.device.adb.transfer import Transfer
from slm_edge.device.apk import check_abi, check_app_runs, check_installed, read_apk
from slm_edge.device.instrument import InstrumentOutcome, InstrumentParser
from slm_edge.device.safe_paths import check_device_path, trusted_root
from slm_edge.errors import BadInput, DeviceGone, RuntimeFailure, SlmEdgeError
from slm_edge.records.manifest import Manifest
from slm_edge.records.trace import RunConfig

PROCESS_START_S = 30.0  # a detached start: how long the app's process may take to appear (or go, once stopped)
HOST_SAMPLE_EVERY_S = 5.0  # dumpsys is slow and wakes the phone: sample sparsely
LOGCAT_LINES = 300


def package_version(dumpsys_package: str) -> dict | None:
    """The app's version from `dumpsys package PACKAGE`, None when it is not installed.

    Not adbutils' app_info(): it asks `pm path` first (one more round trip on every check), calls
    an app with no versionName and no signature not installed where the versionCode is what we
    need, and on both package captures (tests/fixtures/android) its signature regex runs on into
    the next field ('57f52fdb], past signatures:['). Its version fields match ours on both."""
    code = to_int(dumpsys_field(dumpsys_package, "versionCode"))
    if code is None:
        return None
    return {"package": PACKAGE, "version_name": dumpsys_field(dumpsys_package, "versionName"), "version_code": code}


def parse_instrument(text: str) -> InstrumentOutcome:
    parser = InstrumentParser()
    for line in text.splitlines():
        parser.feed(line)
    return parser.outcome


@dataclass
class _Followed:
    """What following one `am instrument -w` stream saw."""

    outcome: InstrumentOutcome
    timed_out: bool = False  # no status within the per-phase timeout
    lost: bool = False  # the stream ended without a result: a drop (the app may still be running)
    samples: list[dict] = field(default_factory=list)


class App(Facts, Transfer):
    _identity: dict | None = None  # the installed app's identity, asked once per install

    def app_info(self) -> dict | None:
        """The installed profiler app's version, or None."""
        return package_version(self._retrying("dumpsys package", lambda: self.shell(["dumpsys", "package", PACKAGE])).stdout)

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
        outcome = parse_instrument(done.stdout)
        try:
            identity = json.loads(outcome.result.get(RESULT_IDENTITY, ""))
        except ValueError:
            identity = None
        if not outcome.ok or not isinstance(identity, dict) or identity.get("package") != PACKAGE:
            problem = outcome.problem() if not outcome.ok else "its answer has no identity"
            return {**facts, "identity_error": f"the identity query failed: {problem}"}
        # what the package manager says is installed wins over what the asset says
        self._identity = {**identity, **facts}
        return self._identity

    def check_can_run(self, manifest: Manifest, config: RunConfig) -> None:
        """Before anything is pushed: a phone the app cannot run on, no (or too old an) app, or a
        run the installed app cannot do (its identity: runtimes, trace schema, features)."""
        problem = sdk_problem(self.props())
        if problem:
            raise problem
        check_installed(self.app_info(), self.serial)
        identity = self.app_identity()
        if identity and identity.get("identity_error"):
            raise RuntimeFailure(f"the profiler app on {self.serial} did not answer: {identity['identity_error']}",
                                 f"reinstall it (slm-edge app install {{serial}} {self.serial}) and retry")
        check_app_runs(identity if identity and "runtimes" in identity else None, manifest, config, self.serial)

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
        if "Success" not in done.stdout:  # the package manager refused this APK (its reason is the last line)
            reason = (done.stdout + done.stderr).strip().splitlines()
            raise BadInput(f"installing {Path(apk).name} on {self.serial} failed: {reason[-1] if reason else 'no output'}",
                           "uninstall the old app (adb uninstall " + PACKAGE + ") and retry, or rebuild the APK")
        self._identity = None
        installed = self.app_info()
        if not installed:
            raise RuntimeFailure(f"{PACKAGE} is not listed after installing it on {self.serial}",
                                 "install it by hand: adb install -r APK")
        return installed

    # ---- a profile run ------------------------------------------------------------------------
    def run_profile(self, remote_config: str, timeout_s: float) -> RunResult:
        """`am instrument -w`: blocks while the app runs, streams a status per phase. timeout_s is
        per phase (no status for that long: the app is stopped). A dropped connection does not stop
        the app: reconnect, then wait for its trace to be finished."""
        check_installed(self.app_info(), self.serial)
        run_id = PurePosixPath(remote_config).parent.name
        self.shell(["logcat", "-c"])  # the log tail kept on failure is this run's alone
        followed = self._follow(self._start_instrumentation(self._device_path(remote_config), run_id), timeout_s)
        outcome, timed_out = followed.outcome, followed.timed_out
        trace_remote, outputs_dir, refused = f"{trace_dir(run_id)}/{TRACE_FILE}", trace_dir(run_id), None
        if outcome.result.get(RESULT_TRACE):
            try:
                trace_remote = check_device_path(outcome.result["trace"], trace_dir(run_id), self.canonical)
                outputs_dir = self._vetted_run_folder(trace_remote, run_id)
            except SlmEdgeError as err:
                refused = err
        if followed.lost:
            self.reconnect()
            timed_out = not self._await_trace(trace_remote, timeout_s)
        if timed_out:
            self.shell(["am", "force-stop", PACKAGE])
        ok = outcome.ok and not timed_out and refused is None
        logs = {"instrument.txt": "\n".join(outcome.lines) + "\n"}
        if not ok or followed.lost:
            logs["logcat.txt"] = self.shell(["logcat", "-d", "-t", str(LOGCAT_LINES)], 60).stdout
        log = logs.get("logcat.txt") or logs["instrument.txt"]
        if refused:  # nothing is pulled from where the app pointed; its folder is cleaned where it belongs
            return RunResult(returncode=1, log=log, timed_out=timed_out, trace_path=None, problem=refused.problem,
                             logs=logs, host_samples=followed.samples, outputs_dir=trace_dir(run_id),
                             transfer=self.transfer, refusal=refused)
        problem = "" if ok else ("no status within the per-phase timeout" if timed_out and not followed.lost
                                 else outcome.problem())
        return RunResult(returncode=0 if (ok or (followed.lost and not timed_out)) else 1, log=log, timed_out=timed_out,
                         trace_path=trace_remote, trace_sha256=None if followed.lost else outcome.result.get(RESULT_TRACE_SHA256),
                         problem=problem or None, logs=logs, host_samples=followed.samples, outputs_dir=outputs_dir,
                         transfer=self.transfer)  # the live counts: the pulls after this add to them

    def start_detached(self, remote_config: str) -> Detached:
        """`am instrument` without -w: am starts the instrumentation and exits at once, with no watcher
        to report to (AOSP cmds/am Instrument.run(): no reporter and no InstrumentationWatcher unless
        -w; a refused start throws "INSTRUMENTATION_FAILED: pkg/cls" to stderr). The app runs on
        after USB is unplugged and writes its trace as usual; `collect` pulls it later."""
        check_installed(self.app_info(), self.serial)
        run_id = PurePosixPath(remote_config).parent.name
        self.shell(["logcat", "-c"])  # the log collected afterwards is this run's alone
        done = self._retrying("am instrument", lambda: self.shell(
            ["am", "instrument", "-r", "-e", EXTRA_CONFIG, self._device_path(remote_config), "-e", EXTRA_RUN_ID, run_id,
             INSTRUMENTATION], 60))
        said = (done.stdout + done.stderr).strip()
        if done.returncode not in (0, None) or "INSTRUMENTATION_FAILED" in said or "Error" in said:
            # am prints the exception's stack trace (BaseCommand.run): its first line says what failed
            lines = said.splitlines()
            reason = next((line for line in lines if "INSTRUMENTATION_FAILED" in line or "Exception" in line),
                          lines[0] if lines else f"am exited with {done.returncode}")
            raise RuntimeFailure(f"the profiler app did not start on {self.serial}: {reason.strip()}",
                                 f"reinstall it (slm-edge app install {{serial}} {self.serial}) and retry")
        # the app's files dir as user 0's shell names it: a detached run reports no path to the host
        detached = Detached(trace_path=f"{trace_dir(run_id)}/{TRACE_FILE}", outputs_dir=trace_dir(run_id),
                            process={"package": PACKAGE})
        # am returns once the system accepted the start, before the app's process exists: until it
        # does (or its trace does, for a run over already), nothing can tell it from a run that ended
        deadline = time.monotonic() + PROCESS_START_S
        while not self.detached_running(detached) and self._remote_sha(detached.trace_path) is None:
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"the profiler app did not start on {self.serial} within {PROCESS_START_S:.0f} s "
                                     "(no process, no trace)", f"see `adb -s {self.serial} logcat`, then retry")
            time.sleep(0.5)
        return detached

    def detached_running(self, detached: Detached) -> bool:
        """toybox `pidof NAME` prints the pids of processes of that name and exits 1 when none is
        found; an app's process is named after its package."""
        done = self._retrying("pidof", lambda: self.shell(["pidof", detached.process.get("package") or PACKAGE], 30))
        return done.returncode == 0 and any(word.isdigit() for word in done.stdout.split())

    def stop_detached(self, detached: Detached) -> None:
        self.shell(["am", "force-stop", detached.process.get("package") or PACKAGE])
        deadline = time.monotonic() + PROCESS_START_S
        while self.detached_running(detached) and time.monotonic() < deadline:
            time.sleep(0.5)

    def detached_logs(self, detached: Detached) -> dict[str, str]:
        return {"logcat.txt": self.shell(["logcat", "-d", "-t", str(LOGCAT_LINES)], 60).stdout}

    def _start_instrumentation(self, config_path: str, run_id: str):
        command = shlex.join(["am", "instrument", "-w", "-r", "-e", EXTRA_CONFIG, config_path, "-e", EXTRA_RUN_ID, run_id,
                              INSTRUMENTATION])
        try:
            return self._adb.shell(command, stream=True)
        except ADB_FAILURES as exc:
            raise DeviceGone(f"could not start the profiler app on {self.serial} ({exc})", "check the device and retry") from None

    def _follow(self, stream, timeout_s: float) -> _Followed:
        """Read the stream's lines into the parser until it ends, a phase stays silent for timeout_s
        (each new status starts the next phase's allowance), or the connection drops; the host
        samples the device's context meanwhile."""
        parser = InstrumentParser()
        followed = _Followed(parser.outcome)
        stream.conn.settimeout(1.0)
        phase_deadline = time.monotonic() + timeout_s
        next_sample = time.monotonic()
        pending = b""
        try:
            while True:
                now = time.monotonic()
                if now >= next_sample:
                    followed.samples.append(self.context())
                    next_sample = now + HOST_SAMPLE_EVERY_S
                try:
                    data = stream.conn.recv(65536)
                except socket.timeout:
                    if time.monotonic() > phase_deadline:
                        followed.timed_out = True
                        break
                    continue
                except OSError:
                    followed.lost = True
                    break
                if not data:
                    break
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    before = len(parser.outcome.statuses)
                    parser.feed(line.decode(errors="replace"))
                    if len(parser.outcome.statuses) != before:
                        phase_deadline = time.monotonic() + timeout_s
        finally:
            stream.close()
        if pending:
            parser.feed(pending.decode(errors="replace"))
        outcome = parser.outcome
        followed.lost = followed.lost or (not followed.timed_out and outcome.code is None and outcome.failed is None)
        return followed

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
                digest = self._remote_sha(trace_remote)
            except DeviceGone:  # dropped again while waiting
                self.reconnect()
                continue
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

