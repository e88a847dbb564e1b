"""ONNX fast path: onnxruntime-genai's model builder (GroupQueryAttention graphs, MatMulNBits int4/int8).

The builder reads a Hugging Face folder (config, safetensors, tokenizer) and writes model.onnx,
its external data and genai_config.json. It needs a tokenizer even though the graph does not;
for sources without one (random-weight cards) it gets a placeholder that is not shipped.
Gemma 3 is built through patches.py (its per-layer-type RoPE in the form the builder reads).

A GGUF source's weights were quantized already (the embedded default: Q4_1 layers, Q8_0 tied
embedding); the builder's int4 re-quantizes their dequantized floats onto another grid, which
costs as much again as the first quantization (BENCHMARKS.md, "Quality of the default's schemes").
`_keep_source_grids` stores such weights on their own grid instead, losslessly.
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
from slm_edge.export import grids
from slm_edge.export.onnx.patches import gemma3_builder_patched, per_layer_type_rope
from slm_edge.model.sources import ModelSource


# The causal-LM architectures onnxruntime-genai 0.18's builder dispatches on (its create_model);
# the builder has no public list, so this mirrors it for the families an SLM user meets.
BUILDER_ARCHITECTURES = (
    "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "GemmaForCausalLM",
    "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM", "PhiForCausalLM", "GraniteForCausalLM",
    "OlmoForCausalLM", "NemotronForCausalLM", "SmolLM3ForCausalLM", "InternLM2ForCausalLM", "Ernie4_5ForCausalLM",
)


# Sliding-window layers keep a max_seq_len cache like the others, masked by GroupQueryAttention's
# local_window_size: the builder's default window-sized caches (GQA sliding_window_cache) would break
# the one-buffer-shape-for-every-layer contract our loop and the manifest's share_buffer follow.
_FULL_LENGTH_CACHES = ("windowed_kv_cache=false",)


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
    rope = _per_layer_type_rope(config)
    if rope is not None and architecture != "Gemma3ForCausalLM":  # patches.py translates Gemma 3's only
        return ("onnxruntime-genai 0.18's builder cannot read RoPE parameters given per layer type "
                f"(transformers 5's form for {architecture})")
    if rope is not None and _scaling(rope.get("full_attention")) != _scaling(rope.get("sliding_attention")):
        return ("onnxruntime-genai 0.18's builder gives sliding-window layers the full-attention layers' RoPE "
                "scaling, and this model scales them differently")
    if config.get("use_bidirectional_attention"):
        return "onnxruntime-genai's builder makes causal attention only, and this model attends both ways"
    rotary_half = _rotary_dim(config) // 2
    if rotary_half % 8:
        # onnxruntime's GroupQueryAttention checks this at run time, after a build that succeeded
        return (f"onnxruntime's GroupQueryAttention needs half the rotary width to be a multiple of 8, and this "
                f"model rotates {2 * rotary_half} dimensions of each head")
    return None


def _rotary_dim(config: dict) -> int:
    from slm_edge.records.manifest import Architecture, rotary_fraction

    return int(Architecture.from_hf_config(config).head_dim * rotary_fraction(config))


def _scaling(rope: dict | None) -> dict:
    """A layer type's RoPE less its theta (the builder takes each type's theta, one scaling for both)."""
    return {k: v for k, v in (rope or {}).items() if k != "rope_theta"}


def _per_layer_type_rope(config: dict) -> dict | None:
    """transformers 5 normalises RoPE into `rope_parameters`, one dict per layer type for models
    that mix sliding and full attention; the builder expects a single `rope_type` there (patches.py
    translates Gemma 3's)."""
    from transformers import AutoConfig

    values = {k: v for k, v in config.items() if k != "model_type"}
    try:
        return per_layer_type_rope(AutoConfig.for_model(config.get("model_type", ""), **values))
    except (ValueError, KeyError, TypeError):
        return None


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

    # the builder refuses a model with no end token anywhere (Phi-1/1.5's configs name none; their hub
    # tokenizer does): a card without one gets id 0, which only the genai engine's generate would act on
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<id_0>", bos_token=token("bos_token_id"),
                            eos_token=token("eos_token_id") or "<id_0>").save_pretrained(folder)


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

    # accuracy_level always passed: left out, the builder takes 4 on CPU (quant_config.py), so 0 meant 4
    extra = [f"block_size={block_size}", "is_symmetric=true", "hf_remote=false", "hf_token=false",
             f"accuracy_level={accuracy_level}", *_FULL_LENGTH_CACHES]
    log = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="slm-edge-onnx-builder-") as work, gemma3_builder_patched():
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
        if scheme == "int4" and source.kind in ("gguf", "default"):  # the embedded default is a GGUF
            with timer.stage("keep the GGUF's quantization grids (no re-quantization)"):
                _keep_source_grids(hf, staging, block_size, work, log)
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


def _keep_source_grids(hf: Path, staging: Path, block_size: int, work: Path, log) -> None:
    """Rewrite the builder's int4 MatMulNBits weights from the source's floats where those floats already lie
    on a grid MatMulNBits can hold at this block size: 4-bit min/max blocks (GGUF Q4_1) and a tied embedding
    + LM head on 8-bit symmetric blocks (GGUF Q8_0). Weights on no such grid keep the builder's quantization.

    Q4_1 is w = s*(q - zp) with a float zp. MatMulNBits takes float zero points, but onnxruntime's CPU
    kernel then skips prepacking and dequantizes the whole weight on every call (matmul_nbits.cc: PrePack
    returns early on `has_unquantized_zero_point_`, Compute falls to ComputeBUnpacked), which made decode
    ~12x slower. So each such weight is stored symmetric instead, w = s*(q - 8) + s*(8 - zp), i.e.
    y = MatMulNBits(x) [default zero point 8: prepacked] + BlockSum(x) @ C with C[k/block, n] = s*(8 - zp)
    (`_add_block_offsets`), exact to fp32 rounding. The Q8_0 head becomes 8-bit MatMulNBits +
    GatherBlockQuantized (default zero point 128) at accuracy_level 4 whatever the recipe's: onnxruntime
    has no prepacked fp32-activation kernel for 8 bits (MlasIsQNBitGemmAvailable), so any other level
    dequantizes its 28M weights per call (136 ms a call on x86 against 2 ms at level 4). BENCHMARKS.md,
    "Quality of the default's schemes", has the figures."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    from onnxruntime_genai.models.builder import create_model, parse_extra_options

    fp32_dir = work / "fp32"
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        extra = ["hf_remote=false", "hf_token=false", *_FULL_LENGTH_CACHES]
        options = parse_extra_options(None, str(hf), str(fp32_dir), "fp32", "cpu", str(work / "cache"), extra)
        create_model(None, str(hf), str(fp32_dir), "fp32", "cpu", str(work / "cache"), **options)
    floats = {t.name: t for t in onnx.load(fp32_dir / "model.onnx").graph.initializer}
    model = onnx.load(staging / "model.onnx")
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    changed = False
    offsets = {}  # node name -> C [k/block, n]
    for node in list(graph.node):
        attrs = {a.name: a for a in node.attribute}
        if node.op_type != "MatMulNBits" or attrs["bits"].i != 4 or len(node.input) > 3:
            continue
        b_name, s_name = node.input[1], node.input[2]
        source_name = b_name.rsplit("_Q4", 1)[0]
        if source_name not in floats or attrs["block_size"].i != block_size:
            continue
        w = numpy_helper.to_array(floats[source_name]).astype(np.float32)  # [K, N]
        k, n = w.shape
        shared = [u for u in users[b_name] if u is not node]
        if not shared:
            grid = grids.q4_1_grid(w.T, block_size)
            if grid is None or _rank(graph, node.input[0]) != 3:
                continue
            q, scale, zp = grid
            inits[b_name].CopyFrom(numpy_helper.from_array((q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8), b_name))
            inits[s_name].CopyFrom(numpy_helper.from_array(scale.reshape(tuple(inits[s_name].dims)), s_name))
            offsets[node.name] = grids.block_offsets(scale, zp).T
            changed = True
            continue
        # a tied embedding: Reshape(B) -> GatherBlockQuantized reads the same bytes and scales
        reshapes = [u for u in shared if u.op_type == "Reshape"]
        gathers = [g for r in reshapes for g in users.get(r.output[0], []) if g.op_type == "GatherBlockQuantized"]
        if len(shared) != 1 or len(reshapes) != 1 or len(gathers) != 1:
            continue
        grid = grids.q8_0_grid(w.T, block_size)
        if grid is None:
            continue
        q, scale = grid
        inits[b_name].CopyFrom(numpy_helper.from_array((q + 128).astype(np.uint8), b_name))
        inits[s_name].CopyFrom(numpy_helper.from_array(scale.reshape(tuple(inits[s_name].dims)), s_name))
        shape_name = b_name + "_rows"
        graph.initializer.append(numpy_helper.from_array(np.array([n, k], dtype=np.int64), shape_name))
        reshapes[0].input[1] = shape_name
        stale = [v for v in graph.value_info if v.name == reshapes[0].output[0]]  # the builder's 4-bit row shape
        for value in stale:
            graph.value_info.remove(value)
        attrs["bits"].i = 8
        if "accuracy_level" in attrs:
            attrs["accuracy_level"].i = 4
        else:
            node.attribute.append(onnx.helper.make_attribute("accuracy_level", 4))
        next(a for a in gathers[0].attribute if a.name == "bits").i = 8
        changed = True
    if offsets:
        _add_block_offsets(graph, offsets, block_size)
    if changed:
        # the head's old 4-bit row shape is no input of anything now: onnxruntime would warn of it at every load
        used = {name for node in graph.node for name in node.input}
        for stale in [t for t in graph.initializer if t.name not in used]:
            graph.initializer.remove(stale)
        for stale in [n for n in graph.node if n.op_type == "Constant" and not set(n.output) & used]:
            graph.node.remove(stale)
        data = (staging / "model.onnx.data")
        (staging / "model.onnx").unlink()
        data.unlink(missing_ok=True)
        onnx.save(model, staging / "model.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                  location=data.name, size_threshold=1024)


def _rank(graph, name: str) -> int | None:
    for value in list(graph.value_info) + list(graph.input):
        if value.name == name and value.type.tensor_type.HasField("shape"):
            return len(value.type.tensor_type.shape.dim)
    return None


def _add_block_offsets(graph, offsets: dict, block_size: int) -> None:
    """After each symmetric MatMulNBits in `offsets` (node name -> C [K/block, N]) add BlockSum(x) @ C:
    Reshape x [b, s, K] to [b, s, K/block, block], ReduceSum the last axis (shared by nodes reading the same
    x), MatMul by C, Add: ~6 us more per projection (2 threads, x86), where the float-zero-point kernel took
    ~0.7 ms for a 576x1536 weight."""
    import numpy as np
    from onnx import helper, numpy_helper

    nodes, sums = [], {}
    axis = "/block_offsets/last_axis"
    graph.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), axis))
    for node in graph.node:
        if node.name not in offsets:
            nodes.append(node)
            continue
        x, y, c = node.input[0], node.output[0], offsets[node.name]
        blocks = c.shape[0]
        if (x, blocks) not in sums:
            shape = f"{x}/block_shape_{blocks}"
            graph.initializer.append(numpy_helper.from_array(np.array([0, 0, blocks, block_size], dtype=np.int64), shape))
            nodes.append(helper.make_node("Reshape", [x, shape], [f"{x}/blocks_{blocks}"], name=f"{node.name}/BlockReshape"))
            nodes.append(helper.make_node("ReduceSum", [f"{x}/blocks_{blocks}", axis], [f"{x}/block_sums_{blocks}"],
                                          name=f"{node.name}/BlockSum", keepdims=0))
            sums[(x, blocks)] = f"{x}/block_sums_{blocks}"
        c_name = node.input[1].rsplit("_Q4", 1)[0] + "_block_offsets"
        graph.initializer.append(numpy_helper.from_array(c, c_name))
        node.output[0] = y + "/symmetric"
        nodes += [node,
                  helper.make_node("MatMul", [sums[(x, blocks)], c_name], [y + "/offsets"], name=f"{node.name}/Offsets"),
                  helper.make_node("Add", [y + "/symmetric", y + "/offsets"], [y], name=f"{node.name}/AddOffsets")]
    del graph.node[:]
    graph.node.extend(nodes)
