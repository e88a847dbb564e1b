"""What a sweep does with a failed cell, by the error's kind: a bad input or a runtime failure is
recorded and the sweep goes on; a device that is gone stops it after recording (the rest would
fail the same way), and a rerun resumes. Nothing is exported here."""

from __future__ import annotations

import json

from slm_edge.errors import BadInput, DeviceGone, RuntimeFailure
from slm_edge.workflows import sweep


def _spec(tmp_path, models: list[str]) -> sweep.SweepSpec:
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: kinds\nmodels: [{', '.join(models)}]\nbackends:\n  onnx: [fp32]\n")
    return sweep.load_spec(path)


def test_cells_with_bad_input_are_recorded_and_the_sweep_goes_on(tmp_path):
    """A real failing input: model names that are no file, folder, hub id or built-in name."""
    lines = []
    state = sweep.run_sweep(_spec(tmp_path, ["no-such-model-a", "no-such-model-b"]), tmp_path / "out",
                            progress=lines.append)
    cells = state["cells"]
    assert list(cells) == ["no-such-model-a-onnx-fp32", "no-such-model-b-onnx-fp32"]
    for name, cell in cells.items():
        assert cell["status"] == "failed" and cell["kind"] == "bad input", cell
        assert "unknown model" in cell["error"]
    assert "stopped" not in state
    assert json.loads((tmp_path / "out" / sweep.STATE_FILE).read_text()) == state
    assert all(": failed — unknown model" in line for line in lines)


def test_a_device_gone_stops_the_sweep_after_recording_it(tmp_path, monkeypatch):
    spec = _spec(tmp_path, ["a", "b", "c", "d"])
    failures = {"a-onnx-fp32": BadInput("the artifact is too large", "export a smaller one"),
                "b-onnx-fp32": RuntimeFailure("the runner crashed"),
                "c-onnx-fp32": DeviceGone("the device stopped answering", "reconnect it")}
    ran = []

    def run_cell(cell, spec, out):
        ran.append(cell.name)
        if cell.name in failures:
            raise failures[cell.name]

    monkeypatch.setattr(sweep, "run_cell", run_cell)
    lines = []
    state = sweep.run_sweep(spec, tmp_path / "out", progress=lines.append)
    assert ran == ["a-onnx-fp32", "b-onnx-fp32", "c-onnx-fp32"]  # d never ran
    assert {name: cell["kind"] for name, cell in state["cells"].items()} == {
        "a-onnx-fp32": "bad input", "b-onnx-fp32": "runtime failure", "c-onnx-fp32": "device gone"}
    assert state["stopped"] == {"cell": "c-onnx-fp32", "error": failures["c-onnx-fp32"].one_line(), "cells_not_run": 1}
    assert json.loads((tmp_path / "out" / sweep.STATE_FILE).read_text()) == state  # recorded before stopping
    assert lines[-1] == "the device is gone: sweep stopped, 1 cells not run (rerun to resume)"

    # the device is back: a rerun runs every cell that did not complete, and the stop is cleared
    failures.clear()
    ran.clear()
    state = sweep.run_sweep(spec, tmp_path / "out", progress=lines.append)
    assert ran == ["a-onnx-fp32", "b-onnx-fp32", "c-onnx-fp32", "d-onnx-fp32"]
    assert "stopped" not in state and all(cell["status"] == "complete" for cell in state["cells"].values())
