"""`slm-edge eval`: an artifact and its PyTorch reference teacher-forced over a corpus (figures.py has
the definitions), results kept beside the artifact in eval.json keyed by corpus and settings."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from slm_edge.errors import BadInput
from slm_edge.quality import figures, results
from slm_edge.quality.corpus import Chunks, load_corpus, make_chunks
from slm_edge.quality.verify import source_from_manifest
from slm_edge.records.manifest import Manifest

DEFAULT_CONTEXT = 512
DEFAULT_TOKENS = 4096
MAX_TOKENS = 1_000_000  # the reference's cached logits alone grow by vocab x 2 bytes a token
FEEDS = ("prefill", "steps")


@dataclass(frozen=True)
class EvalRequest:
    corpus: str | None = None  # a shipped corpus (corpus.shipped_corpora), or
    text: Path | None = None  # the user's file (plain text or JSONL of prompts)
    tokens: int = DEFAULT_TOKENS  # scored tokens wanted
    context: int | None = None  # chunk length; None: DEFAULT_CONTEXT, or the artifact's max length if shorter
    engine: str | None = None
    feed: str | None = None  # None: the engine's fastest (runtime.step.StepLlm.along_feed)
    threads: int = 0


def plan_chunks(folder: Path, manifest: Manifest, request: EvalRequest):
    """(the model source, its tokenizer, the chunks): everything about the text, before any run."""
    source = source_from_manifest(manifest)
    context = request.context
    if context is None:
        context = min(DEFAULT_CONTEXT, manifest.max_seq_len)
    elif context > manifest.max_seq_len:
        raise BadInput(f"a context of {context} tokens is longer than the artifact's max length {manifest.max_seq_len}",
                       f"use {{context}} {manifest.max_seq_len} or less, or re-export with a larger {{max_seq_len}}")
    if context < 4:
        raise BadInput(f"a context of {context} tokens leaves nothing to score", "use {context} 4 or more")
    if not 1 <= request.tokens <= MAX_TOKENS:
        raise BadInput(f"{request.tokens} scored tokens asked for", f"use {{tokens}} between 1 and {MAX_TOKENS}")
    tokenizer = source.load_tokenizer()
    if tokenizer is None and (request.text or request.corpus):
        raise BadInput(f"{source.name} has no tokenizer, so no text can be scored on it",
                       "drop {text}/{corpus} (a fixed token stream is scored), or export from a source with a tokenizer")
    corpus = load_corpus(request.corpus, request.text)
    chunks = make_chunks(corpus, tokenizer, context=context, scored_tokens=request.tokens,
                         vocab_size=int(manifest.architecture.vocab_size), first_scored=figures.first_scored(context))
    return source, chunks


def score_chunks(llm, reference, chunks: Chunks, feed: str | None, progress=None) -> tuple[figures.PositionScores, dict]:
    """Run the artifact along every chunk beside the reference's cached logits; per-position scores
    and where the time went."""
    import torch

    scores = figures.PositionScores([], [], [], [], [])
    timing = {"artifact_s": 0.0, "reference_read_s": 0.0, "figures_s": 0.0}
    for index, chunk in enumerate(chunks.chunks):
        if progress:
            progress(index, len(chunks.chunks))
        t0 = time.perf_counter()
        artifact = llm.logits_along(list(chunk), feed)
        t1 = time.perf_counter()
        expected = torch.from_numpy(reference.chunk(index))
        t2 = time.perf_counter()
        targets = torch.tensor(chunk[1:]).unsqueeze(-1)
        ref_logp, art_logp = torch.log_softmax(expected, -1), torch.log_softmax(artifact.float(), -1)
        kl = (ref_logp.exp() * (ref_logp - art_logp)).sum(-1)
        scores.reference_nll.append(-ref_logp.gather(-1, targets)[:, 0].double().numpy())
        scores.artifact_nll.append(-art_logp.gather(-1, targets)[:, 0].double().numpy())
        scores.kl.append(kl.clamp_min(0).double().numpy())
        scores.reference_argmax.append(expected.argmax(-1).numpy())
        scores.artifact_argmax.append(artifact.argmax(-1).numpy())
        timing["artifact_s"] += t1 - t0
        timing["reference_read_s"] += t2 - t1
        timing["figures_s"] += time.perf_counter() - t2
    timing["reference_read_s"] -= reference.seconds  # what computing the reference took is its own line
    return scores, timing


def evaluate_artifact(folder: Path, request: EvalRequest = EvalRequest(), progress=None) -> dict:
    from slm_edge.quality.reference import ReferenceLogits
    from slm_edge.runtime.engines import load_engine, resolve_engine

    started = time.perf_counter()
    folder = Path(folder)
    manifest = Manifest.read(folder)
    manifest.check_files(folder)
    engine = resolve_engine(manifest, request.engine)
    if request.feed is not None and request.feed not in FEEDS:
        raise BadInput(f"unknown feed '{request.feed}'", f"use {' or '.join(FEEDS)}")
    if request.feed == "prefill" and engine == "executorch" and not manifest.runtime.full_logits:
        from slm_edge.runtime.executorch_llm import last_position_only

        raise last_position_only()  # before loading: the runtime prints to stderr as it loads
    t0 = time.perf_counter()
    source, chunks = plan_chunks(folder, manifest, request)
    tokenize_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    llm = load_engine(folder, manifest, engine, threads=request.threads)
    load_s = time.perf_counter() - t0
    feed = request.feed or llm.along_feed
    reference = ReferenceLogits(source, chunks)
    scores, timing = score_chunks(llm, reference, chunks, feed, progress)
    if not sum(max(0, len(a) - chunks.first_scored) for a in scores.kl):
        raise BadInput(f"the text gives no token to score at positions ≥ {chunks.first_scored}", "use a longer text")
    first = chunks.first_scored
    entry = {
        "engine": engine,
        "feed": feed,
        "corpus": {"name": chunks.corpus, "sha256": chunks.corpus_sha256, "tokenizer": chunks.tokenizer},
        "context": chunks.context,
        "max_seq_len": manifest.max_seq_len,
        "chunks": len(chunks.chunks),
        "tokens_requested": request.tokens,
        "first_scored_position": first,
        "note": chunks.note,
        "summary": figures.summary(scores, first),
        "by_position": figures.by_position(scores, chunks.context),
        "timing": {"tokenize_s": tokenize_s, "load_s": load_s, "reference_s": reference.seconds,
                   "reference_cached": reference.cached, **timing, "total_s": time.perf_counter() - started},
        "scores": results.pack_scores(scores),
    }
    return results.save(folder, manifest, chunks, entry)
