"""Run an ONNX artifact: plain onnxruntime with our own KV-cache loop (what the phone's
onnxruntime-android runs, driven by the manifest's description of the graph), or
onnxruntime-genai's Generator for builder artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from slm_edge.errors import RuntimeFailure
from slm_edge.records.manifest import Manifest
from slm_edge.runtime.step import StepLlm


def _load_error(folder: Path, exc: Exception) -> RuntimeFailure:
    return RuntimeFailure(f"onnxruntime could not load {folder}: {str(exc).strip().splitlines()[0][:200]}",
                          "re-export the artifact with this slm-edge version (`slm-edge export ... {force}`)")


class OrtLlm(StepLlm):
    """The KV cache stays in onnxruntime's own buffers (OrtValues bound in and out), never copied
    through numpy. Graphs whose attention can share past and present (GroupQueryAttention) get one
    max-length buffer per layer written in place; others get each call's present as the next past."""

    def __init__(self, folder: Path, manifest: Manifest, threads: int = 0, profile_prefix: str | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0 = onnxruntime's default (one per core)
        options.inter_op_num_threads = 1
        if profile_prefix:  # onnxruntime's own per-node timing (slm_edge.runner.ops reads it)
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        try:
            self.session = ort.InferenceSession(str(Path(folder) / manifest.model_file), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types with a message only
            raise _load_error(folder, exc) from exc
        io = manifest.runtime.io
        self.inputs = io["inputs"]
        self.outputs = io["outputs"]
        self.present_to_past = {
            o["name"]: next(i["name"] for i in self.inputs
                            if i["role"] == o["role"].replace("present", "past") and i.get("layer") == o.get("layer"))
            for o in self.outputs if o["role"].startswith("present")
        }
        self.empty_past_shape = io["kv_cache"]["empty_past_shape"]
        self.shared = io["kv_cache"].get("share_buffer")
        self.max_seq_len = manifest.max_seq_len
        self.past = {}
        self.length = 0

    def _empty_past(self) -> dict:
        import onnxruntime as ort

        shape = self.shared["shape"] if self.shared else self.empty_past_shape
        return {entry["name"]: ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, dtype=entry["dtype"]))
                for entry in self.inputs if entry["role"] in ("past_key", "past_value")}

    along_feed = "prefill"

    def step(self, tokens: list[int], start: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self._run(tokens, start)[-1], dtype=np.float32))

    def chunk_logits(self, tokens: list[int]) -> torch.Tensor:
        """The graph returns every position's logits (feed "steps" is what the phone's app does)."""
        return torch.from_numpy(np.ascontiguousarray(self._run(tokens, 0), dtype=np.float32))

    def _run(self, tokens: list[int], start: int) -> np.ndarray:
        """Feed tokens at positions start..; the logits of every one of them ([len(tokens), vocab])."""
        self.check_length(start + len(tokens))
        if start == 0:
            self.past, self.length = self._empty_past(), 0
        self.check_continues(start, self.length)
        binding = self.session.io_binding()
        feeds = {
            "input_ids": np.array([tokens], dtype=np.int64),
            "attention_mask": np.ones((1, start + len(tokens)), dtype=np.int64),
            "position_ids": np.arange(start, start + len(tokens), dtype=np.int64)[None, :],
        }
        for entry in self.inputs:
            if entry["role"] in feeds:
                binding.bind_cpu_input(entry["name"], feeds[entry["role"]])
            else:
                binding.bind_ortvalue_input(entry["name"], self.past[entry["name"]])
        for entry in self.outputs:
            if self.shared and entry["name"] in self.present_to_past:
                binding.bind_ortvalue_output(entry["name"], self.past[self.present_to_past[entry["name"]]])
            else:
                binding.bind_output(entry["name"], "cpu")
        self.session.run_with_iobinding(binding)
        produced = dict(zip([o["name"] for o in self.outputs], binding.get_outputs()))
        if not self.shared:
            self.past = {self.present_to_past[name]: value for name, value in produced.items() if name in self.present_to_past}
        self.length = start + len(tokens)
        return produced[next(o["name"] for o in self.outputs if o["role"] == "logits")].numpy()[0]


class GenaiLlm(StepLlm):
    """onnxruntime-genai's Generator: its own KV buffers (shared past/present), greedy search."""

    def __init__(self, folder: Path, manifest: Manifest, threads: int = 0):
        import onnxruntime_genai as og

        try:
            config = og.Config(str(folder))
            if threads:
                config.overlay(json.dumps({"model": {"decoder": {"session_options": {"intra_op_num_threads": threads}}}}))
            self.model = og.Model(config)
        except Exception as exc:
            raise _load_error(folder, exc) from exc
        self.max_seq_len = manifest.max_seq_len
        self.generator = None
        self.length = 0

    along_feed = "prefill"

    def _append(self, tokens: list[int], start: int) -> None:
        import onnxruntime_genai as og

        self.check_length(start + len(tokens))
        if start == 0:
            params = og.GeneratorParams(self.model)
            params.set_search_options(max_length=self.max_seq_len, do_sample=False)
            self.generator, self.length = og.Generator(self.model, params), 0
        self.check_continues(start, self.length)
        self.generator.append_tokens(np.array([tokens], dtype=np.int32))
        self.length = start + len(tokens)

    def step(self, tokens: list[int], start: int) -> torch.Tensor:
        self._append(tokens, start)
        logits = self.generator.get_logits()
        return torch.from_numpy(np.ascontiguousarray(logits.reshape(-1, logits.shape[-1])[-1], dtype=np.float32))

    def chunk_logits(self, tokens: list[int]) -> torch.Tensor:
        """One append_tokens, then the model's own "logits" output, which holds every position the
        call fed (get_logits keeps only the last one)."""
        self._append(tokens, 0)
        logits = self.generator.get_output("logits")
        return torch.from_numpy(np.ascontiguousarray(logits.reshape(-1, logits.shape[-1]), dtype=np.float32))
