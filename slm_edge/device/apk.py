"""The profiler app's package: what an APK is (identity asset, native ABIs) and whether a device can run it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from slm_edge.contract import APP_INFO_ASSET, MIN_APP_VERSION_CODE, PACKAGE
from slm_edge.errors import BadInput
from slm_edge.records.manifest import Manifest
from slm_edge.records.trace import RunConfig

# Where Gradle puts the APK built from android_app/ (see android_app/README.md).
BUILT_APK_CANDIDATES = (
    "android_app/app/build/outputs/apk/release/app-release.apk",
    "android_app/app/build/outputs/apk/profiling/app-profiling.apk",
    "android_app/app/build/outputs/apk/debug/app-debug.apk",
)


def find_built_apk(project_root: Path) -> Path:
    for candidate in BUILT_APK_CANDIDATES:
        if (project_root / candidate).is_file():
            return project_root / candidate
    raise BadInput("no APK given and none built from android_app/",
                   "build it (cd android_app && gradle assembleRelease) or pass {apk} PATH")


def read_apk(apk: Path) -> dict:
    """The APK's identity (from its slm-edge asset) and the ABIs its native libraries ship for."""
    apk = Path(apk)
    if not apk.is_file():
        raise BadInput(f"APK {apk} does not exist", "pass the path of the built APK with {apk}")
    try:
        with zipfile.ZipFile(apk) as archive:
            names = archive.namelist()
            info = json.loads(archive.read(APP_INFO_ASSET)) if APP_INFO_ASSET in names else None
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{apk} is not a readable APK ({exc})", "rebuild it from android_app/") from None
    if not isinstance(info, dict) or info.get("package") != PACKAGE:
        raise BadInput(f"{apk} is not the slm-edge profiler app (no {APP_INFO_ASSET} for {PACKAGE})",
                       "build the APK from android_app/ and pass that one")
    abis = sorted({n.split("/")[1] for n in names if n.startswith("lib/") and n.count("/") >= 2})
    return {**info, "abis": abis}


def check_abi(apk_info: dict, device_abis: list[str]) -> None:
    """Refuse before installing: Android would fail with INSTALL_FAILED_NO_MATCHING_ABIS anyway."""
    if apk_info["abis"] and not set(apk_info["abis"]) & set(device_abis):
        raise BadInput(
            f"the APK ships native code for {', '.join(apk_info['abis'])} and the device runs {', '.join(device_abis) or 'unknown ABIs'}",
            "build the app with the device's ABI in abiFilters (android_app/app/build.gradle.kts)",
        )


def check_installed(app: dict | None, serial: str) -> None:
    if not app:
        raise BadInput(f"the profiler app ({PACKAGE}) is not installed on {serial}",
                       f"run `slm-edge app install {{serial}} {serial}`")
    if app.get("version_code") is not None and app["version_code"] < MIN_APP_VERSION_CODE:
        raise BadInput(
            f"the profiler app on {serial} is version {app.get('version_name')} (code {app['version_code']}); "
            f"this slm-edge needs code {MIN_APP_VERSION_CODE} or newer",
            f"run `slm-edge app install {{serial}} {serial}` to update it",
        )


# Maven's executorch-android AARs are built without EXECUTORCH_ANDROID_PROFILING: Module.etdump()
# returns false there, and the app does not drive ETDump yet, so its identity says executorch_etdump false.
ETDUMP_FIX = ("drop {ops} for ExecuTorch on a phone (ONNX artifacts get the op breakdown on the phone; ExecuTorch's "
              "works with {emulated}), or build the app against an executorch-android AAR built with "
              "EXECUTORCH_ANDROID_PROFILING=ON and ETDump support (android_app/README.md, Limits)")


def check_app_runs(identity: dict | None, manifest: Manifest, config: RunConfig, serial: str) -> None:
    """Refuse, before anything is pushed, a run the installed app cannot do: it predates the
    identity query, writes traces this host cannot read, lacks the engine, cannot load the artifact
    (runtime versions), or cannot trace ops."""
    from slm_edge.records.program_format import app_cannot_read
    from slm_edge.contract import MIN_TRACE_SCHEMA_VERSION, TRACE_SCHEMA_VERSION

    update = f"run `slm-edge app install {{serial}} {serial}` with an app built from this slm-edge's android_app/"
    if not identity:
        raise BadInput(f"the profiler app on {serial} does not say which runtimes it links (an app older than "
                       f"version code {MIN_APP_VERSION_CODE})", update)
    schema = identity.get("trace_schema_version")
    if not isinstance(schema, int) or not MIN_TRACE_SCHEMA_VERSION <= schema <= TRACE_SCHEMA_VERSION:
        raise BadInput(f"the profiler app on {serial} writes trace schema {schema} and this slm-edge reads "
                       f"{MIN_TRACE_SCHEMA_VERSION} to {TRACE_SCHEMA_VERSION}", update + ", or upgrade slm-edge")
    engine = config.artifact.engine
    runtimes = identity.get("runtimes") or {}
    if engine not in ("executorch", "onnxruntime"):
        raise BadInput(f"the profiler app has no {engine} engine (onnxruntime-genai is not on Maven)",
                       "profile with {engine} onnxruntime: the same graph with the app's own KV-cache loop")
    reason = app_cannot_read(manifest, runtimes)
    if reason:
        fix = (f"install the app built from this slm-edge's android_app/ (slm-edge app install {{serial}} {serial}), "
               f"whose {'executorch-android' if manifest.backend == 'executorch' else 'onnxruntime-android'} "
               f"matches the exporter (android_app/gradle/libs.versions.toml)")
        raise BadInput(f"the profiler app on {serial} cannot load this artifact: {reason}", fix)
    if config.mode == "eval" and not (identity.get("features") or {}).get("eval_mode"):
        raise BadInput(f"the profiler app on {serial} predates `slm-edge eval` (its identity has no eval_mode feature)",
                       f"install the app built from this slm-edge's android_app/ (slm-edge app install {{serial}} {serial})")
    features = identity.get("features") or {}
    newer_app = f"install the app built from this slm-edge's android_app/ (slm-edge app install {{serial}} {serial})"
    if config.unplug_wait and not features.get("unplug_wait"):
        raise BadInput(f"the profiler app on {serial} cannot wait to run on battery (its identity has no unplug_wait "
                       "feature)", newer_app + ", or pass {unplug_wait} 0")
    if config.cpus and not features.get("cpu_affinity"):
        raise BadInput(f"the profiler app on {serial} cannot pin itself to cores (its identity has no cpu_affinity "
                       "feature)", newer_app + ", or drop {cpus}")
    if config.ops and engine == "executorch" and not (identity.get("features") or {}).get("executorch_etdump"):
        raise BadInput(f"{{ops}} on ExecuTorch needs ETDump, which the app on {serial} does not record "
                       f"(executorch-android {runtimes.get('executorch')} from Maven is built without it)", ETDUMP_FIX)

