"""Small run-time patches to onnxruntime-genai's model builder, written against the version in PATCHED_FOR
(tests/test_export_onnx.py fails when the installed version differs, so each is re-checked on upgrade).

gemma3_builder_patched: onnxruntime-genai 0.18.0, onnxruntime_genai/models/builders/gemma.py
Gemma3Model.__init__ (and GemmaModel.__init__ before it), as onnxruntime_genai/models/builder.py
create_model instantiates it; it reads the config through builders/base.py Model.__init__,
make_config_init, make_rope_init and make_context_length_init.
"""

from __future__ import annotations

from contextlib import contextmanager

PATCHED_FOR = {"onnxruntime-genai": "0.18.0"}


def per_layer_type_rope(config) -> dict | None:
    """transformers 5's per-layer-type RoPE ({"full_attention": {...}, "sliding_attention": {...}}), or None."""
    rope = getattr(config, "rope_parameters", None)
    if isinstance(rope, dict) and rope and all(isinstance(v, dict) for v in rope.values()):
        return rope
    return None


def flatten_per_layer_type_rope(config) -> None:
    """Put a Gemma 3 config's RoPE in the form onnxruntime-genai 0.18's builder reads.

    transformers 5 keeps Gemma 3's RoPE per layer type in config.rope_parameters. The builder reads
    the transformers 4 form: Gemma3Model.__init__ (models/builders/gemma.py) takes the sliding layers'
    theta from config.rope_local_base_freq; Model.__init__ and Model.make_rope_init (builders/base.py)
    take the global layers' theta from config.rope_theta and their scaling from a flat
    config.rope_parameters ("rope_type", "factor"), which Model.make_config_init also fills from
    config.rope_scaling (in transformers 5 an alias of rope_parameters). The sliding window is read as
    config.sliding_window (Model.make_context_length_init), which transformers 5 keeps as it was.
    The builder applies the global scaling to the sliding layers' cache too, so
    builder.builder_blocker refuses configs whose two layer types differ in more than theta.
    """
    per_type = per_layer_type_rope(config)
    if per_type is None:
        return
    full, sliding = dict(per_type["full_attention"]), per_type["sliding_attention"]  # transformers fills both
    config.rope_parameters = full
    config.rope_theta = full["rope_theta"]
    config.rope_local_base_freq = sliding["rope_theta"]


@contextmanager
def gemma3_builder_patched():
    """onnxruntime-genai 0.18's Gemma3Model sees its config in the form it reads (flatten_per_layer_type_rope),
    and scales the embedding by sqrt(hidden_size) as transformers does: GemmaModel.__init__
    (builders/gemma.py) rounds the factor to two decimals (25.3 for Gemma 3 270M's 640, exactly 25.2982),
    which moved fp32 logits by 3e-4 on a tiny 640-wide Gemma 3 (3e-6 exact).

    The class patched is the one builder.py's create_model instantiates: onnxruntime_genai/models/__init__.py
    puts the models folder on sys.path and builder.py imports `builders` as a top-level package, so
    onnxruntime_genai.models.builders.gemma.Gemma3Model is another class object that create_model never uses.
    """
    from onnxruntime_genai.models import builder

    cls = builder.Gemma3Model
    original = cls.__init__

    def init(self, config, *args, **kwargs):
        exact = type(self) is cls  # Gemma4Model (a subclass) reads the per-layer-type form itself
        if exact:
            flatten_per_layer_type_rope(config)
        original(self, config, *args, **kwargs)
        if exact:  # read by make_embedding, after __init__
            self.embed_attrs["scale"] = float(config.hidden_size) ** 0.5

    cls.__init__ = init
    try:
        yield
    finally:
        cls.__init__ = original
