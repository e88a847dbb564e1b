"""The profiler app's own Java code on this machine's JVM: android_app/core (config, loop, trace
writer) and android_app/onnx (the phone's OrtEngine) built by Maven (android_app/jvm/pom.xml)
against com.microsoft.onnxruntime:onnxruntime, the desktop jar of the app's onnxruntime-android
version (the same ai.onnxruntime Java API). Classes are built once per source hash and cached;
Maven goes online only when its own cache (~/.m2) lacks the jars.

Interface: `app_runner_command(config_path, trace_dir)` is the command that runs one profile (the
app's `Main`, same trace file and status lines as the phone's instrumentation); `java_command(main,
*args)` runs another entry point (GreedyDump) on the same classpath; `build()` returns the cached
build. No torch here: the CLI imports this at start-up.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from slm_edge import cache
from slm_edge.errors import BadInput, RuntimeFailure

APP_DIR = Path(__file__).resolve().parents[2] / "android_app"
VERSIONS_TOML = APP_DIR / "gradle" / "libs.versions.toml"  # the app's pins: one place for Gradle, Maven and here
# onnxruntime of the app's version for Python (tools/setup.sh installs it beside the venv's own):
# int4 kernels change between releases (1.29.0 vs 1.32.0 differ by up to 0.68 in the default's
# logits), so the Python loop is compared with the app's on the same release.
APP_ORT_FOR_PYTHON = Path(__file__).resolve().parents[2] / ".venv" / "app-onnxruntime"
MAIN_CLASS = "dev.slmedge.profiler.core.Main"
# What the app's code can run on a desktop JVM: its ONNX engine only (ExecuTorch's Java classes live
# only in the executorch-android AAR, whose native code needs Android's libc).
DESKTOP_ENGINES = ("onnxruntime",)
NO_DESKTOP_EXECUTORCH = "there is no desktop ExecuTorch Java runtime"
GREEDY_DUMP_CLASS = "dev.slmedge.profiler.onnx.GreedyDump"
# What the build reads: a change to any of these builds new classes.
SOURCE_GLOBS = ("core/src/main/java/**/*.java", "onnx/src/main/java/**/*.java", "jvm/pom.xml",
                "gradle/libs.versions.toml")
MAVEN_TIMEOUT_S = 900
_INSTALL = "install openjdk-17-jdk-headless and maven (apt-get install openjdk-17-jdk-headless maven)"
# Maven's words when it could not fetch something (offline, DNS, proxy, Central down).
_UNRESOLVED = re.compile(r"could not be resolved|could not resolve|could not transfer|offline mode|"
                         r"has not been downloaded|non-resolvable", re.I)
_NETWORK = re.compile(r"unknown host|network is unreachable|connection refused|timed out|no route to host|"
                      r"temporary failure in name resolution|could not transfer|transfer failed", re.I)


@dataclass(frozen=True)
class JvmApp:
    classes: Path  # compiled core + onnx classes
    jars: tuple[str, ...]  # gson and onnxruntime from the Maven cache

    @property
    def classpath(self) -> str:
        return os.pathsep.join((str(self.classes), *self.jars))

    def command(self, main_class: str, *args: str) -> list[str]:
        return [_tool("java"), "-cp", self.classpath, main_class, *map(str, args)]


def app_runner_command(config_path: Path | str, trace_dir: Path | str) -> list[str]:
    """`java -cp ... Main CONFIG TRACE_DIR`: the app's loop on the desktop JVM (builds once)."""
    return build().command(MAIN_CLASS, str(config_path), str(trace_dir))


def java_command(main_class: str, *args: str) -> list[str]:
    return build().command(main_class, *args)


def app_version(name: str, toml: Path = VERSIONS_TOML) -> str:
    """A version the app pins in gradle/libs.versions.toml, e.g. app_version("onnxruntime")."""
    found = re.search(rf'^{re.escape(name)}\s*=\s*"([^"]+)"', toml.read_text(), re.M) if toml.is_file() else None
    if not found:
        raise BadInput(f"{toml} pins no {name} version", "restore android_app/gradle/libs.versions.toml")
    return found.group(1)


def python_onnxruntime_of_the_app() -> Path | None:
    """A folder to put first on PYTHONPATH so Python imports the app's onnxruntime release, or None."""
    version = app_version("onnxruntime")
    return APP_ORT_FOR_PYTHON if (APP_ORT_FOR_PYTHON / f"onnxruntime-{version}.dist-info").is_dir() else None


def source_hash(app_dir: Path = APP_DIR) -> str:
    digest = hashlib.sha256()
    for pattern in SOURCE_GLOBS:
        for path in sorted(app_dir.glob(pattern)):
            digest.update(path.relative_to(app_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build(app_dir: Path = APP_DIR) -> JvmApp:
    """The cached classes for these sources, building them with Maven the first time."""
    pom = app_dir / "jvm" / "pom.xml"
    if not pom.is_file():
        raise BadInput(f"the app runner needs the app's sources and {pom} is missing",
                       "run slm-edge from a checkout of the repository (android_app/ beside slm_edge/)")
    _tool("java")
    _tool("mvn")
    final = cache.root_for("jvm-app") / source_hash(app_dir)[:20]
    built = _read(final)
    if built:
        return built
    if final.exists():  # a build whose Maven jars were deleted since: build it again
        shutil.rmtree(final)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    try:
        _maven(pom, staging)
        try:
            os.rename(staging, final)  # one rename: nobody sees half a build
        except OSError:
            if not _read(final):  # another process finished first unless the rename failed for good
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    built = _read(final)
    if not built:
        raise RuntimeFailure(f"Maven built no classes in {final}", f"delete {final} and run again")
    return built


def _read(folder: Path) -> JvmApp | None:
    """A finished build, or None when it is absent or its Maven jars have since been deleted."""
    listing = folder / "classpath.txt"
    if not (folder / "classes").is_dir() or not listing.is_file():
        return None
    jars = tuple(entry for entry in listing.read_text().strip().split(os.pathsep) if entry)
    if not jars or not all(Path(jar).is_file() for jar in jars):
        return None
    return JvmApp(folder / "classes", jars)


def _maven(pom: Path, out: Path) -> None:
    """Compile core + onnx into out/classes and list the runtime jars."""
    # the pom writes classpath.txt in the compile phase (no plugin prefix to resolve offline)
    toml = pom.parent.parent / "gradle" / "libs.versions.toml"
    result = run_maven(pom, ["compile"], {"slmedge.build.dir": out, "onnxruntime.version": app_version("onnxruntime", toml)})
    if result.returncode != 0:
        raise RuntimeFailure(f"Maven could not build the app's Java code: {first_error(result.stdout + result.stderr)}",
                             f"fix the sources under {pom.parent.parent} (mvn -f {pom} compile shows the whole error)")


def run_maven(pom: Path, goals: list[str], defines: dict | None = None, env: dict | None = None,
              options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`mvn [OPTIONS] GOALS` on a pom: offline first, online only when ~/.m2 lacks a jar or plugin
    (then it stays cached). The result, or one line when Maven Central cannot be reached for what is missing."""
    command = [_tool("mvn"), "-q", "-B", "-Dstyle.color=never", "-f", str(pom),
               *(f"-D{key}={value}" for key, value in (defines or {}).items()), *options, *goals]
    result = _run([command[0], "-o", *command[1:]], env)
    if result.returncode != 0 and _UNRESOLVED.search(result.stdout + result.stderr):
        result = _run(command, env)  # the Maven cache lacks something: fetch it from Central once
        text = result.stdout + result.stderr
        if result.returncode != 0 and (_NETWORK.search(text) or _UNRESOLVED.search(text)):
            raise BadInput(
                "Maven Central (repo.maven.apache.org) cannot be reached and the Maven cache (~/.m2) lacks what "
                f"{pom.relative_to(APP_DIR.parent) if pom.is_relative_to(APP_DIR.parent) else pom} needs: "
                f"{first_error(text)}",
                "connect once so Maven can fill ~/.m2 (kept between runs), or copy a filled ~/.m2 here, then run again")
    return result


def _run(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"Maven did not finish within {MAVEN_TIMEOUT_S} s",
                             "check the network to repo.maven.apache.org, or run the command by hand: "
                           + " ".join(command)) from None


def first_error(text: str) -> str:
    for line in text.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if line.startswith("[ERROR]") and len(line) > len("[ERROR] "):
            return line[len("[ERROR] "):].strip()[:500]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else "no output"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BadInput(f"the app runner needs {name} and it is not on PATH", _INSTALL)
    return path
