"""Property-based bad input: whatever lands in a trace, manifest, run config, recipe, sweep spec or a
size option, the parsers answer with slm-edge's own one-line error or accept it, never crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slm_edge.analysis.run import analyze
from slm_edge.errors import SlmEdgeError
from slm_edge.records.manifest import Manifest
from slm_edge.export.recipes import load_recipe
from slm_edge.analysis.recommend import parse_size
from slm_edge.workflows.sweep import load_spec
from slm_edge.records.trace import RunConfig, Trace

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=12)
documents = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                         | st.dictionaries(st.text(max_size=10), children, max_size=5), max_leaves=20)


def _keys_of(name: str) -> list[str]:
    from slm_edge.records._json import schema

    return list(schema(name)["properties"])


def near(keys: list[str]):
    """Objects that use the real keys with arbitrary values: past the first checks, into the details."""
    return st.dictionaries(st.sampled_from(keys), documents, max_size=len(keys))


def _write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(content))
    return path


@FUZZ
@given(document=documents | near(_keys_of("trace")))
def test_trace_loader(document, tmp_path):
    path = _write(tmp_path, "trace.json", document)
    try:
        trace = Trace.load(path)
    except SlmEdgeError as err:
        assert "\n" not in err.one_line()
        return
    analyze(trace)  # a trace that validates can be analysed


@FUZZ
@given(document=documents | near(_keys_of("run_config")))
def test_run_config_loader(document, tmp_path):
    try:
        RunConfig.load(_write(tmp_path, "run_config.json", document))
    except SlmEdgeError:
        pass


@FUZZ
@given(document=documents | near(["schema", "schema_version", "files", "model_file", "runtime"]))
def test_manifest_reader(document, tmp_path):
    folder = tmp_path / "artifact"
    folder.mkdir(exist_ok=True)
    _write(folder, "manifest.json", document)
    try:
        Manifest.read(folder)
    except SlmEdgeError:
        pass


@FUZZ
@given(raw=st.binary(max_size=64))
def test_truncated_or_binary_files(raw, tmp_path):
    for loader in (Trace.load, RunConfig.load):
        with pytest.raises(SlmEdgeError):
            loader(_write(tmp_path, "x.json", raw if raw.strip() else b"{"))


@FUZZ
@given(document=documents | near(["model", "backend", "quant", "group_size", "block_size", "max_seq_len", "path"]))
def test_recipe_loader(document, tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        load_recipe(path)
    except SlmEdgeError:
        pass


@FUZZ
@given(document=documents | near(["name", "models", "backends", "prompt_lengths", "threads", "decode_tokens",
                                   "repeats", "verify"]))
def test_sweep_spec_loader(document, tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        load_spec(path)
    except SlmEdgeError:
        pass


@FUZZ
@given(text=st.text(max_size=16))
def test_size_option(text):
    try:
        assert parse_size(text) >= 0
    except SlmEdgeError:
        pass


@FUZZ
@given(text=st.text(max_size=20))
def test_integer_list_options(text):
    from slm_edge.cli.output import int_list as _int_list

    try:
        values = _int_list(text, "--prompt-lengths")
    except SlmEdgeError as err:
        assert "--prompt-lengths" in err.one_line()
        return
    assert values and all(isinstance(v, int) and v >= 1 for v in values)
