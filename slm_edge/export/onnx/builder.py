"""ONNX fast path: onnxruntime-genai's model builder (GroupQueryAttention graphs, MatMulNBits int4/int8).

The builder reads a Hugging Face folder (config, safetensors, tokenizer) and writes model.onnx,
its external data and genai_config.json. It needs a tokenizer even though the graph does not;
for sources without one (random-weight cards) it gets a placeholder that is not shipped.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from slm_edge.errors import RuntimeFailure
from slm_edge.model.sources import ModelSource


# The causal-LM architectures onnxruntime-genai 0.18's builder dispatches on (its create_model);
# the builder has no public list, so this mirrors it for the families an SLM user meets.
BUILDER_ARCHITECTURES = (
    "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "GemmaForCausalLM",
    "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM", "PhiForCausalLM", "GraniteForCausalLM",
    "OlmoForCausalLM", "NemotronForCausalLM", "SmolLM3ForCausalLM", "InternLM2ForCausalLM", "Ernie4_5ForCausalLM",
)


@dataclass
class OnnxBuild:
    model_file: str
    genai_config: bool
    log_tail: str


def causal_lm_architecture(config: dict) -> str | None:
    """The transformers class name of a config (GGUF-loaded configs carry no `architectures`)."""
    if config.get("architectures"):
        return config["architectures"][0]
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(config.get("model_type", ""))


def builder_blocker(config: dict) -> str | None:
    architecture = causal_lm_architecture(config)
    if architecture not in BUILDER_ARCHITECTURES:
        return f"onnxruntime-genai's builder does not know {architecture or config.get('model_type')}"
    if _per_layer_type_rope(config):
        return ("onnxruntime-genai 0.18's builder cannot read RoPE parameters given per layer type "
                "(transformers 5's form for Gemma 3 and other sliding-window models)")
    return None


def _per_layer_type_rope(config: dict) -> bool:
    """transformers 5 normalises RoPE into `rope_parameters`, one dict per layer type for models
    that mix sliding and full attention; the builder expects a single `rope_type` there."""
    from transformers import AutoConfig

    values = {k: v for k, v in config.items() if k != "model_type"}
    try:
        rope = getattr(AutoConfig.for_model(config.get("model_type", ""), **values), "rope_parameters", None)
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(rope, dict) and bool(rope) and all(isinstance(v, dict) for v in rope.values())


def _placeholder_tokenizer(folder: Path, config: dict) -> None:
    """A word-level tokenizer over the model's vocabulary ids, only so the builder can run."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"<id_{i}>": i for i in range(config["vocab_size"])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<id_0>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()

    def token(key: str) -> str | None:
        value = config.get(key)
        value = value[0] if isinstance(value, list) and value else value
        return f"<id_{value}>" if isinstance(value, int) and 0 <= value < config["vocab_size"] else None

    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<id_0>", bos_token=token("bos_token_id"),
                            eos_token=token("eos_token_id")).save_pretrained(folder)


def _builder_input(source: ModelSource, model, workdir: Path) -> Path:
    """A clean HF folder for the builder: the source's files linked, or the random-weight model saved."""
    folder = workdir / "hf"
    folder.mkdir()
    if source.random_weights or source.hf_dir is None:
        model.save_pretrained(folder)
    else:
        for item in source.hf_dir.iterdir():
            if item.is_file() and item.name != "config.json":
                os.symlink(item.resolve(), folder / item.name)
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else dict(source.config)
    config.pop("quantization_config", None)  # GGUF-loaded configs: the weights are plain floats now
    config["architectures"] = [causal_lm_architecture(source.config)]
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if not (folder / "tokenizer.json").exists() and not (folder / "tokenizer.model").exists():
        _placeholder_tokenizer(folder, config)
    return folder


def export_builder(source: ModelSource, model, *, scheme: str, block_size: int, accuracy_level: int,
                   max_seq_len: int, staging: Path, timer) -> OnnxBuild:
    from onnxruntime_genai.models.builder import create_model, parse_extra_options

    extra = [f"block_size={block_size}", "is_symmetric=true", "hf_remote=false", "hf_token=false"]
    if accuracy_level:
        extra.append(f"accuracy_level={accuracy_level}")
    log = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="slm-edge-onnx-builder-") as work:
        work = Path(work)
        with timer.stage("prepare the builder's input folder"):
            hf = _builder_input(source, model, work)
        with timer.stage(f"build ONNX ({scheme}) with onnxruntime-genai's model builder"):
            try:
                # The builder prints progress to stdout; keep it for the error message instead.
                logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
                with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                    options = parse_extra_options(None, str(hf), str(staging), scheme, "cpu", str(work / "cache"), extra)
                    create_model(None, str(hf), str(staging), scheme, "cpu", str(work / "cache"), **options)
            except Exception as exc:
                raise RuntimeFailure(
                    f"onnxruntime-genai's builder failed on {source.name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                    "try {path} generic (torch.onnx export), or report the model to slm-edge",
                ) from exc
    placeholder = source.tokenizer_dir is None
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        if placeholder and (staging / name).exists():
            (staging / name).unlink()  # not a real tokenizer: do not ship it
    _limit_context(staging / "genai_config.json", max_seq_len)
    return OnnxBuild(model_file="model.onnx", genai_config=True, log_tail=log.getvalue()[-2000:])


def _limit_context(genai_config: Path, max_seq_len: int) -> None:
    """The builder sizes the context to the model's maximum; the artifact promises max_seq_len."""
    config = json.loads(genai_config.read_text())
    config["model"]["context_length"] = max_seq_len
    config["search"]["max_length"] = max_seq_len
    genai_config.write_text(json.dumps(config, indent=4))
