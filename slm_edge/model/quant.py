"""Quantization schemes each backend can build, and the checks that keep a bad choice from exporting."""

from __future__ import annotations

from dataclasses import dataclass

from slm_edge.errors import BadInput


@dataclass(frozen=True)
class Scheme:
    name: str
    description: str
    weight_bits: int  # bits per linear weight (before scales)
    grouped: bool  # takes a group/block size


SCHEMES = {
    "executorch": {
        "fp32": Scheme("fp32", "fp32 weights and activations, XNNPACK", 32, False),
        "fp16": Scheme("fp16", "fp16 weights and activations (XNNPACK fp16 kernels on ARMv8.2+)", 16, False),
        "8da4w": Scheme("8da4w", "int4 grouped weights, int8 dynamic activations, XNNPACK", 4, True),
        "8da8w": Scheme("8da8w", "int8 weights (per channel or grouped), int8 dynamic activations, XNNPACK", 8, True),
        "int8": Scheme("int8", "int8 per-channel weights only, fp32 activations", 8, False),
    },
    "onnx": {
        "fp32": Scheme("fp32", "fp32 weights and activations", 32, False),
        "fp16": Scheme("fp16", "fp16 weights and activations, fp32 graph inputs/outputs", 16, False),
        "int8": Scheme("int8", "int8 weights: MatMulNBits 8-bit blocks (builder) or per-channel weights with "
                       "dynamically quantized int8 activations, MatMulInteger (generic)", 8, True),
        "int4": Scheme("int4", "int4 weights in blocks (MatMulNBits), activations per accuracy_level", 4, True),
    },
}

ONNX_BLOCK_SIZES = (16, 32, 64, 128, 256)
# MatMulNBits accuracy levels: the compute type of the activations (0 = the EP's default).
ONNX_ACCURACY_LEVELS = {0: "EP default", 1: "fp32", 2: "fp16", 3: "bf16", 4: "int8"}
# Execution providers the phone's onnxruntime-android may have; the artifact records the choice.
ONNX_EXECUTION_PROVIDERS = ("cpu", "xnnpack", "nnapi", "qnn")

EMBEDDING_QUANT = {"none": None, "8w": "8,0", "4w": "4,32"}


def scheme_for(backend: str, name: str) -> Scheme:
    table = SCHEMES.get(backend)
    if table is None:
        raise BadInput(f"unknown backend '{backend}'", f"use one of: {', '.join(SCHEMES)}")
    if name not in table:
        raise BadInput(
            f"the {backend} backend cannot build quantization scheme '{name}'",
            f"use one of: {', '.join(table)}",
        )
    return table[name]


def linear_in_features(config: dict) -> dict[str, int]:
    """Input width of each kind of linear layer in a decoder block (what a group must divide)."""
    from slm_edge.records.manifest import Architecture

    facts = Architecture.from_hf_config(config)
    return {
        "q/k/v and gate/up projections (hidden size)": facts.hidden_size,
        "attention output projection (heads × head dim)": facts.attention_heads * facts.head_dim,
        "FFN down projection (intermediate size)": facts.ffn_size,
    }


def _first_undivided(config: dict, size: int) -> tuple[str, int] | None:
    """The first linear layer whose input width `size` does not divide, as (layer, width)."""
    return next(((layer, width) for layer, width in linear_in_features(config).items() if width % size), None)


def _dividing(config: dict, sizes) -> list[int]:
    """Those of `sizes` that divide every linear layer's input width."""
    return [size for size in sizes if _first_undivided(config, size) is None]


def check_group_size(config: dict, scheme: Scheme, group_size: int) -> None:
    """Refuse a group size that does not divide every quantized layer, instead of silently skipping layers."""
    if not scheme.grouped:
        return
    if group_size < 0:
        raise BadInput(f"group size {group_size} is negative", "use 0 (per channel) or a positive size such as 32")
    if group_size == 0:
        if scheme.name == "8da4w":
            raise BadInput("8da4w needs a group size (int4 per channel loses too much)", "use {group_size} 32, 64 or 128")
        return
    if scheme.name == "8da8w":
        # XNNPACK's blockwise weights are 4-bit only: lowering asserts "Only 4b group quantization is supported"
        raise BadInput(f"8da8w takes int8 weights per channel only (XNNPACK has no grouped 8-bit weights), "
                       f"not group size {group_size}", "use {group_size} 0 with 8da8w")
    undivided = _first_undivided(config, group_size)
    if undivided:
        divisors = _dividing(config, (32, 64, 128, 256))
        hint = f"use {{group_size}} {divisors[0]}" if divisors else "use {group_size} 0 (per channel) with 8da8w"
        raise BadInput(f"group size {group_size} does not divide the {undivided[0]} = {undivided[1]}", hint)


def check_block_size(config: dict, scheme: Scheme, block_size: int) -> None:
    """Refuse an ONNX block size that does not divide every quantized layer."""
    undivided = _first_undivided(config, block_size) if scheme.grouped else None
    if undivided:
        fits = _dividing(config, ONNX_BLOCK_SIZES)
        raise BadInput(f"{scheme.name} block size {block_size} does not divide the {undivided[0]} = {undivided[1]}",
                       f"use {{block_size}} {fits[-1] if fits else 16}")
