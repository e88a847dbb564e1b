"""The Android app's own code, checked here without the Android SDK (android_app/android-check/pom.xml):

- the build check: core/ + onnx/ + app/src/main/java compile with every javac lint as an error
  against the real Android framework at compileSdk 36 (org.robolectric:android-all) and the desktop
  onnxruntime jar (the ai.onnxruntime API of onnxruntime-android). ExecuTorchEngine,
  ExecuTorchTextRunner and AndroidEngineFactory are left out: this project's Maven mirror does not
  serve the executorch-android AAR (the Gradle build in .github/workflows/android.yml compiles them);
- the Robolectric suite (app/src/test/java) on Android 16's framework, offline: instrumentation
  arguments -> session -> trace, the result keys and codes of slm_edge/contract.py, the probes;
- the trace the instrumentation wrote read back by the host's schema and analysis.

Maven runs offline when ~/.m2 holds everything, online otherwise; with neither it fails in one line.
Robolectric needs a JDK 21+ for SDK 36 (its android-all jars are class files of Java 21).
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from slm_edge.analysis.run import analyze
from slm_edge import contract as android
from slm_edge.device import jvm_app
from slm_edge.errors import SlmEdgeError
from slm_edge.records.trace import Trace

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "android_app"
POM = APP / "android-check" / "pom.xml"
APP_SOURCES = APP / "app" / "src" / "main" / "java" / "dev" / "slmedge" / "profiler"
# Compiled only by Gradle, against the executorch-android AAR that Maven here cannot fetch (see the pom).
NOT_COMPILED_HERE = {"ExecuTorchEngine.java", "ExecuTorchTextRunner.java", "AndroidEngineFactory.java"}
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _jdk21() -> Path:
    """A JDK of 21 or newer: JAVA_HOME when it is one, else the newest under /usr/lib/jvm."""
    def major(home: Path) -> int:
        release = home / "release"
        found = re.search(r'JAVA_VERSION="(\d+)', release.read_text()) if release.is_file() else None
        return int(found.group(1)) if found and (home / "bin" / "javac").is_file() else 0

    candidates = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    candidates += sorted(Path("/usr/lib/jvm").glob("*"), key=major, reverse=True) if Path("/usr/lib/jvm").is_dir() else []
    for home in candidates:
        if major(home) >= 21:
            return home
    pytest.fail("the Android build check needs a JDK 21 or newer (Robolectric's Android 16 jars are Java 21 class "
                "files) and none was found in JAVA_HOME or /usr/lib/jvm: install one (e.g. Temurin 21) and set JAVA_HOME")


def _versions() -> dict[str, str]:
    """The versions the Gradle build uses, passed to the pom so both build against the same jars."""
    toml = tomllib.loads((APP / "gradle" / "libs.versions.toml").read_text())["versions"]
    gradle = (APP / "app" / "build.gradle.kts").read_text()
    contract = (APP / "core" / "src" / "main" / "java" / "dev" / "slmedge" / "profiler" / "core" / "Contract.java").read_text()
    return {
        "onnxruntime.version": toml["onnxruntime"],
        "executorch.version": toml["executorch"],
        "gson.version": toml["gson"],
        "junit.version": toml["junit"],
        "app.version.code": re.search(r"val appVersionCode = (\d+)", gradle).group(1),
        "app.version.name": re.search(r'val appVersionName = "([^"]+)"', gradle).group(1),
        "trace.schema.version": re.search(r"TRACE_SCHEMA_VERSION\s*=\s*(\d+)", contract).group(1),
    }


def run_maven(build_dir: Path, *options: str, jdk: Path | None = None) -> subprocess.CompletedProcess:
    """`mvn test` on the pom through the project's own Maven runner (offline first, online once)."""
    env = {**os.environ, "JAVA_HOME": str(jdk or _jdk21())}
    return jvm_app.run_maven(POM, ["test"], {"slmedge.build.dir": build_dir, **_versions()}, env, options)


@pytest.fixture(scope="module")
def check(tmp_path_factory) -> Path:
    """One Maven run: the build check (compile, -Werror) then the Robolectric suite."""
    build_dir = tmp_path_factory.mktemp("android-check")
    try:
        result = run_maven(build_dir)
    except SlmEdgeError as err:  # no Maven, or Maven Central unreachable with what ~/.m2 lacks: one line
        pytest.fail(err.one_line(), pytrace=False)
    assert result.returncode == 0, "the Android build check failed: " + jvm_app.first_error(result.stdout + result.stderr) \
        + "\n" + (result.stdout + result.stderr)[-6000:]
    return build_dir


def test_app_sources_compile_against_the_real_android_and_onnxruntime_jars(check):
    classes = check / "classes" / "dev" / "slmedge" / "profiler"
    for source in sorted(APP_SOURCES.glob("*.java")):
        compiled = classes / (source.stem + ".class")
        if source.name in NOT_COMPILED_HERE:
            assert not compiled.exists(), f"{source.name} is meant to be left out (the pom says why)"
        else:
            assert compiled.is_file(), f"{source.name} was not compiled"
    for core in ("core/ProfileLoop.class", "core/Contract.class"):
        assert (classes / core).is_file()
    onnx = APP / "onnx" / "src" / "main" / "java" / "dev" / "slmedge" / "profiler" / "onnx"
    for source in sorted(onnx.glob("*.java")):
        assert (classes / "onnx" / (source.stem + ".class")).is_file(), f"onnx/{source.name} was not compiled"
    # Java 17 class files (major 61), as app/build.gradle.kts's compileOptions
    header = (classes / "ProfilerInstrumentation.class").read_bytes()[:8]
    assert int.from_bytes(header[6:8], "big") == 61


def test_only_the_executorch_sources_are_left_out(check):
    """Leaving a file out must never hide an error: only the classes that need the ExecuTorch AAR."""
    pom = ET.parse(POM)
    excludes = {Path(e.text).name for e in pom.iterfind(".//m:plugin/m:configuration/m:excludes/m:exclude", POM_NS)}
    assert excludes == NOT_COMPILED_HERE
    for name in NOT_COMPILED_HERE:
        text = (APP_SOURCES / name).read_text()
        assert "org.pytorch.executorch" in text or "new ExecuTorch" in text, f"{name} does not need ExecuTorch"
    args = [a.text for a in pom.iterfind(".//m:plugin/m:configuration/m:compilerArgs/m:arg", POM_NS)]
    assert "-Werror" in args and any(a.startswith("-Xlint:all") for a in args)


def test_pom_defaults_are_the_gradle_versions():
    """A plain `mvn test` on the pom (as the workflow runs it) builds against what Gradle uses."""
    properties = ET.parse(POM).find("m:properties", POM_NS)
    for key, value in _versions().items():
        assert properties.find(f"m:{key}", POM_NS).text == value, f"pom.xml {key} differs from the Gradle build"
    desktop = ET.parse(APP / "jvm" / "pom.xml").find("m:properties", POM_NS)  # the desktop JVM build's pins too
    for key in ("onnxruntime.version", "gson.version", "junit.version"):
        assert desktop.find(f"m:{key}", POM_NS).text == _versions()[key], f"jvm/pom.xml {key} differs from Gradle"
    app_gradle = (APP / "app" / "build.gradle.kts").read_text()
    assert re.search(r"compileSdk = 36\b", app_gradle)
    # the host's minimums are the app's (Contract mirrors android.py; tests/test_android_core.py)
    assert re.search(rf"minSdk = {android.MIN_SDK}\b", app_gradle)
    assert int(_versions()["app.version.code"]) >= android.MIN_IDENTITY_VERSION_CODE
    assert properties.find("m:android.all.version", POM_NS).text.startswith("16-")  # Android 16 = API 36


def _surefire(check: Path) -> dict[str, dict[str, int]]:
    reports = {}
    for report in sorted((check / "surefire-reports").glob("TEST-*.xml")):
        suite = ET.parse(report).getroot()
        reports[suite.get("name")] = {key: int(suite.get(key)) for key in ("tests", "failures", "errors", "skipped")}
    return reports


def test_robolectric_suite_runs_and_passes(check):
    reports = _surefire(check)
    assert {"dev.slmedge.profiler.ProfilerInstrumentationTest", "dev.slmedge.profiler.ProbesTest"} <= set(reports)
    total = {key: sum(r[key] for r in reports.values()) for key in ("tests", "failures", "errors", "skipped")}
    assert total["tests"] > 0 and total["failures"] == 0 and total["errors"] == 0 and total["skipped"] == 0, reports
    print(f"robolectric: {total['tests']} passed, 0 failed")


def test_the_instrumentations_trace_is_one_the_host_reads(check):
    trace = Trace.load(check / "robolectric-trace.json")  # the host's schema
    assert trace.status == "complete" and trace.errors == ()
    assert trace.producer.name == "slm-edge-profiler-app"
    assert trace.device.os == "Android 16 (SDK 36)"
    report = analyze(trace).to_json()
    assert [(row["threads"], row["prompt_length"], row["repeats"]) for row in report["rows"]] == [(1, 8, 2)]
    # probes where Robolectric's framework answers: thermal status from PowerManager, no battery current
    assert all("thermal_status" in sample for sample in trace.cpu_samples)


def test_contract_names_the_instrumentation_uses_exist_on_the_host():
    """The result keys the app sends (Contract.java) are the ones slm_edge/contract.py names."""
    contract = (APP / "core" / "src" / "main" / "java" / "dev" / "slmedge" / "profiler" / "core" / "Contract.java").read_text()
    java = dict(re.findall(r'public static final String (\w+) = "([^"]*)";', contract))
    assert java["EXTRA_QUERY"] == "query" and java["QUERY_IDENTITY"] == java["RESULT_IDENTITY"] == "identity"
    assert java["EXTRA_CONFIG"] == android.EXTRA_CONFIG and java["EXTRA_RUN_ID"] == android.EXTRA_RUN_ID


def test_unreachable_maven_central_fails_in_one_line(tmp_path):
    """An empty Maven cache and a Central that does not answer: one line naming both and the fix."""
    settings = tmp_path / "settings.xml"
    settings.write_text(  # a mirror of Central on a closed local port: what an offline machine sees
        '<settings><mirrors><mirror><id>closed</id><mirrorOf>*</mirrorOf>'
        '<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>')
    with pytest.raises(SlmEdgeError) as refused:
        run_maven(tmp_path / "out", f"-Dmaven.repo.local={tmp_path / 'm2'}", "-s", str(settings))
    unreachable = refused.value.one_line()
    assert "\n" not in unreachable and unreachable.startswith("Maven Central (repo.maven.apache.org) cannot be reached")
    assert "Fix: connect once" in unreachable
    assert "could not be resolved" in unreachable  # Maven's own first error, not its help text
