"""The profiler app's pure-Java core (android_app/core): compiled with javac, its JUnit tests run,
and its desktop Main run against a config the host would send, so the trace the app writes is
checked against the same schema and analysis as the Linux runner's."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from slm_edge.analysis.run import analyze
from slm_edge import contract as android
from slm_edge.contract import CONFIG_SCHEMA_VERSION, TRACE_SCHEMA_VERSION
from slm_edge.records.trace import RunConfig, Trace

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "android_app" / "core" / "src"
JARS = [Path("/usr/share/java") / name for name in ("gson.jar", "junit4.jar", "hamcrest-core.jar")]

pytestmark = pytest.mark.skipif(
    shutil.which("javac") is None or not all(jar.is_file() for jar in JARS),
    reason="needs javac and the Debian junit4 / libgoogle-gson-java jars (tools/setup.sh installs them)",
)


def _java(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def classes(tmp_path_factory) -> str:
    """Main and test sources compiled into a temporary folder; returns the classpath."""
    out = tmp_path_factory.mktemp("core-classes")
    sources = sorted(str(p) for p in CORE.rglob("*.java"))
    classpath = ":".join(str(j) for j in JARS)
    compiled = _java("javac", "-Xlint:all,-serial", "-Werror", "--release", "17", "-d", str(out), "-cp", classpath,
                     *sources, timeout=120)
    assert compiled.returncode == 0, compiled.stderr
    return f"{out}:{classpath}"


def test_junit_tests_pass(classes):
    tests = sorted(".".join(p.relative_to(CORE / "test" / "java").with_suffix("").parts)
                   for p in (CORE / "test" / "java").rglob("*Test.java"))
    assert tests
    result = _java("java", "-cp", classes, "org.junit.runner.JUnitCore", *tests)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "OK (" in result.stdout


def test_contract_matches_the_host(classes):
    result = _java("java", "-cp", classes, "dev.slmedge.profiler.core.Main", "--contract")
    assert result.returncode == 0, result.stderr
    java = json.loads(result.stdout)
    python = {name: value for name, value in vars(android).items()
              if name.isupper() and isinstance(value, (str, int)) and name not in android.HOST_ONLY}
    assert python, "no constants found in slm_edge/contract.py"
    for name, value in python.items():
        assert java.get(name) == value, f"Contract.{name} is {java.get(name)!r}, contract.py says {value!r}"
    # and the other way: nothing the app declares is missing on the host
    java_only = sorted(set(java) - set(python) - {"trace_dir(RUN_ID)"})
    assert not java_only, f"Contract.java declares {java_only}, which slm_edge/contract.py lacks"
    assert java["trace_dir(RUN_ID)"] == android.trace_dir("RUN_ID")
    assert java["TRACE_SCHEMA_VERSION"] == TRACE_SCHEMA_VERSION
    assert java["CONFIG_SCHEMA_VERSION"] == CONFIG_SCHEMA_VERSION


def _run_config(tmp_path: Path) -> Path:
    artifact = tmp_path / "artifacts" / "tiny"
    artifact.mkdir(parents=True)
    manifest = artifact / "manifest.json"
    manifest.write_text(json.dumps({"schema": "slm-edge/manifest", "model_file": "model.pte"}))
    config = {
        "schema": "slm-edge/run-config",
        "schema_version": CONFIG_SCHEMA_VERSION,
        "artifact": {"dir": "../artifacts/tiny", "model_file": "model.pte", "engine": "executorch",
                     "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
                     "max_seq_len": 128, "vocab_size": 512, "bos_id": 1, "tokenizer_file": None},
        "mode": "steps",
        "prompt_lengths": [8, 32],
        "decode_tokens": 12,
        "repeats": 3,
        "warmup": 1,
        "threads": [1, 2],
        "sample_interval_ms": 5.0,
        "memory_sampling": True,
        "ops": False,
        "seed": 0,
        "trace_file": "trace.json",
    }
    RunConfig.from_json(config)  # the host would send exactly this
    path = tmp_path / "run" / "run_config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(config))
    return path


def test_main_writes_a_trace_the_host_reads(classes, tmp_path):
    config = _run_config(tmp_path)
    trace_dir = tmp_path / "app-files" / "runs" / "r1"
    result = _java("java", "-cp", classes, "dev.slmedge.profiler.core.Main", str(config), str(trace_dir))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == f"{android.STATUS_PREFIX} phase=load threads=1"
    result_fields = dict(line.split("=", 1) for line in lines if not line.startswith(android.STATUS_PREFIX))
    trace_path = trace_dir / "trace.json"
    assert result_fields["status"] == "complete"
    assert result_fields["trace_sha256"] == hashlib.sha256(trace_path.read_bytes()).hexdigest()

    trace = Trace.load(trace_path)  # schema validation
    assert trace.status == "complete" and trace.errors == ()
    assert len(trace.runs) == 2 * 2 * (1 + 3)
    for run in trace.runs:
        assert run["prefill_ms"] > 0 and run["ttft_ms"] >= run["prefill_ms"]
        assert len(run["decode_step_us"]) == 12 and all(us > 0 for us in run["decode_step_us"])
        assert run["memory"]["rss_end_bytes"] > 0 and run["memory"]["hwm_end_bytes"] >= run["memory"]["rss_end_bytes"]
    assert trace.baseline_memory["rss_bytes"] > 0
    assert all(load["load_ms"] > 0 for load in trace.loads)
    phases = {marker["phase"] for marker in trace.phase_markers}
    assert {"load", "prefill", "decode"} <= phases

    report = analyze(trace).to_json()
    rows = {(row["threads"], row["prompt_length"]): row for row in report["rows"]}
    assert set(rows) == {(1, 8), (1, 32), (2, 8), (2, 32)}
    assert all(row["repeats"] == 3 for row in rows.values())


def test_main_refuses_a_bad_config_in_one_line(classes, tmp_path):
    config = _run_config(tmp_path)
    document = json.loads(config.read_text())
    document["repeats"] = 0
    config.write_text(json.dumps(document))
    result = _java("java", "-cp", classes, "dev.slmedge.profiler.core.Main", str(config), str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: run config field repeats must be between 1 and 1000, not 0"
    assert not (tmp_path / "out").exists()
