"""`slm-edge verify`: run an artifact on this machine and compare it with the PyTorch reference.

Two figures, both over the same number of greedy steps:
  * greedy agreement: the artifact and the reference each decode greedily on their own; the
    share of positions where they chose the same token (1.0 means identical text);
  * mean KL(reference ‖ artifact) of the next-token distributions along the artifact's own
    sequence (the reference is teacher-forced on it, so a single early flip does not poison it).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from slm_edge import cache
from slm_edge.errors import BadInput
from slm_edge.contract import MANIFEST, VERIFY_FILE
from slm_edge.records.manifest import Manifest
from slm_edge.model.sources import ModelSource, resolve_source

DEFAULT_PROMPT = "What is the capital of France?"


def source_from_manifest(manifest: Manifest) -> ModelSource:
    described = manifest.source
    if described.kind == "card":
        spec = described.name
    elif described.kind == "default":
        spec = "smollm2-135m"
    else:
        spec = described.origin
    source = resolve_source(
        spec,
        random_weights=described.random_weights,
        seed=described.seed or 0,
        trust_remote_code=described.trust_remote_code,
    )
    if source.source_hash != described.sha256:
        raise BadInput(
            f"the model source {spec} has changed since this artifact was exported",
            "re-export the artifact from the current source (`slm-edge export ... {force}`)",
        )
    return source


def prompt_tokens(source: ModelSource, prompt: str) -> tuple[list[int], object]:
    tokenizer = source.load_tokenizer()
    if tokenizer is None:
        # Random-weight cards have no tokenizer: a fixed token sequence stands in for text.
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(3, source.config["vocab_size"], (12,), generator=generator).tolist()
        return ids, None
    if getattr(tokenizer, "chat_template", None):
        encoded = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=True
        )
        return list(encoded["input_ids"]), tokenizer
    return tokenizer(prompt)["input_ids"], tokenizer


def reference_greedy(model, prompt: list[int], steps: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            do_sample=False,
            max_new_tokens=steps,
            min_new_tokens=steps,
            pad_token_id=0,
        )
    return out[0, len(prompt):].tolist()


def reference_logits_along(model, prompt: list[int], tokens: list[int]) -> torch.Tensor:
    """Next-token logits of the reference at each position of prompt + tokens[:-1]."""
    sequence = torch.tensor([prompt + tokens[:-1]])
    with torch.no_grad():
        logits = model(sequence).logits[0].float()
    return logits[len(prompt) - 1:]


def mean_kl(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    ref_logp = torch.log_softmax(reference, dim=-1)
    cand_logp = torch.log_softmax(candidate, dim=-1)
    return float((ref_logp.exp() * (ref_logp - cand_logp)).sum(-1).mean())


def verify_artifact(folder: Path, *, steps: int = 32, prompt: str = DEFAULT_PROMPT, threads: int = 0,
                    engine: str | None = None) -> dict:
    from slm_edge.runtime.engines import load_engine

    folder = Path(folder)
    manifest = Manifest.read(folder)
    manifest.check_files(folder)
    source = source_from_manifest(manifest)
    tokens, tokenizer = prompt_tokens(source, prompt)
    if len(tokens) + steps > manifest.max_seq_len:
        raise BadInput(
            f"prompt ({len(tokens)} tokens) + {steps} steps exceed the artifact's max length {manifest.max_seq_len}",
            "use fewer {steps} or a shorter {prompt}",
        )
    engine = engine or manifest.engines[0]
    llm = load_engine(folder, manifest, engine, threads=threads)
    chosen, artifact_logits = llm.greedy(tokens, steps)
    model = source.load_model()
    expected = reference_greedy(model, tokens, steps)
    reference = reference_logits_along(model, tokens, chosen)
    agreement = sum(a == b for a, b in zip(chosen, expected)) / steps
    result = {
        "artifact": str(folder),
        "manifest_sha256": cache.sha256_file(folder / MANIFEST),
        "engine": engine,
        "backend": manifest.backend,
        "scheme": manifest.quantization.scheme,
        "export_path": manifest.export_path,
        "steps": steps,
        "prompt": prompt if tokenizer else None,
        "prompt_tokens": len(tokens),
        "greedy_agreement": agreement,
        "identical_tokens": chosen == expected,
        "first_divergence": next((i for i, (a, b) in enumerate(zip(chosen, expected)) if a != b), None),
        "teacher_forced_top1_agreement": float(
            (reference.argmax(-1) == torch.stack(artifact_logits).argmax(-1)).float().mean()
        ),
        "mean_kl": mean_kl(reference, torch.stack(artifact_logits)),
        "artifact_tokens": chosen,
        "reference_tokens": expected,
        "artifact_text": tokenizer.decode(chosen, skip_special_tokens=True) if tokenizer else None,
        "reference_text": tokenizer.decode(expected, skip_special_tokens=True) if tokenizer else None,
    }
    name = VERIFY_FILE if engine == manifest.engines[0] else f"verify-{engine}.json"
    cache.atomic_write_text(folder / name, json.dumps(result, indent=2) + "\n")
    return result
