"""Quality figures from teacher-forced scores, with llama.cpp's perplexity tool's definitions
(tools/perplexity/perplexity.cpp, `--kl-divergence`; read at ggml-org/llama.cpp 050fc7f3):

  * a chunk of n_ctx tokens is scored at positions first = n_ctx/2 .. n_ctx-2 (the logits after token p
    predict token p+1; n_ctx-1-first tokens a chunk), so every scored token has at least n_ctx/2 tokens
    of context; the text's first token of each chunk is replaced by BOS (corpus.make_chunks);
  * PPL = exp(mean NLL) over the scored tokens, ± PPL · SE(mean NLL);
  * PPL(artifact)/PPL(reference) = exp(mean ln ratio) (a ratio of PPLs, not a mean of ratios);
  * KL(reference ‖ artifact) per token; mean ± SE, and percentiles with linear interpolation between
    order statistics (llama.cpp's `percentile`, numpy's default); llama.cpp leaves out of the sum the
    reference's tokens whose log-probability is below -16, we sum all of them;
  * same top-1: the artifact's and the reference's most likely next tokens are the same token (first
    index on ties); ± sqrt(p(1-p)/(N-1));
  * Δp: the artifact's probability of the actual next token minus the reference's; mean and RMS.

The by-position figures cover every position of the chunk (0 .. n_ctx-2), binned by powers of two,
so one sees how the early, little-context positions differ from the scored half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def first_scored(context: int) -> int:
    return context // 2


@dataclass
class PositionScores:
    """Per predicted token of every chunk (index p predicts token p+1), one array each; what the
    figures are computed from and what eval.json keeps for later comparisons (the phone's run)."""

    reference_nll: list[np.ndarray]
    artifact_nll: list[np.ndarray]
    kl: list[np.ndarray]
    reference_argmax: list[np.ndarray]
    artifact_argmax: list[np.ndarray]


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    n = len(values)
    mean = float(values.mean())
    return mean, float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def _scored(arrays: list[np.ndarray], first: int) -> np.ndarray:
    return np.concatenate([a[first:] for a in arrays]) if arrays else np.zeros(0)


def _percentiles(values: np.ndarray) -> dict:
    return {"median": float(np.median(values)), "p90": float(np.percentile(values, 90)),
            "p99": float(np.percentile(values, 99)), "p99_9": float(np.percentile(values, 99.9)),
            "max": float(values.max())}


def summary(scores: PositionScores, first: int) -> dict:
    """The headline figures over the scored positions (llama.cpp's)."""
    ref_nll, art_nll = _scored(scores.reference_nll, first), _scored(scores.artifact_nll, first)
    kl = _scored(scores.kl, first)
    same = _scored(scores.reference_argmax, first) == _scored(scores.artifact_argmax, first)
    n = len(kl)
    ref_mean, ref_se = _mean_se(ref_nll)
    art_mean, art_se = _mean_se(art_nll)
    ln_ratio, ln_ratio_se = _mean_se(art_nll - ref_nll)
    kl_mean, kl_se = _mean_se(kl)
    top1 = float(same.mean())
    delta_p = np.exp(-art_nll) - np.exp(-ref_nll)
    ppl_ref, ppl_art = math.exp(ref_mean), math.exp(art_mean)
    return {
        "scored_tokens": n,
        "ppl_reference": ppl_ref, "ppl_reference_se": ppl_ref * ref_se,
        "ppl_artifact": ppl_art, "ppl_artifact_se": ppl_art * art_se,
        "ppl_ratio": math.exp(ln_ratio), "ppl_ratio_se": math.exp(ln_ratio) * ln_ratio_se,
        "ppl_difference": ppl_art - ppl_ref,
        "mean_ln_ppl_ratio": ln_ratio,
        "kl_mean": kl_mean, "kl_mean_se": kl_se,
        **{f"kl_{name}": value for name, value in _percentiles(kl).items()},
        "top1_agreement": top1, "top1_agreement_se": math.sqrt(top1 * (1 - top1) / (n - 1)) if n > 1 else 0.0,
        "delta_p_mean": float(delta_p.mean()), "delta_p_rms": float(np.sqrt((delta_p ** 2).mean())),
    }


def position_bins(context: int) -> list[tuple[int, int]]:
    """[0,1), [1,2), [2,4), ... up to context-1 (the last predicting position is context-2)."""
    edges, edge = [0], 1
    while edge < context - 1:
        edges.append(edge)
        edge *= 2
    edges.append(context - 1)
    return list(zip(edges[:-1], edges[1:]))


def by_position(scores: PositionScores, context: int) -> list[dict]:
    rows = []
    for start, end in position_bins(context):
        def cut(arrays):
            parts = [a[start:end] for a in arrays if len(a) > start]  # prompts may end before the bin
            return np.concatenate(parts) if parts else np.zeros(0)

        ref_nll, art_nll, kl = cut(scores.reference_nll), cut(scores.artifact_nll), cut(scores.kl)
        if not len(kl):
            continue
        same = cut(scores.reference_argmax) == cut(scores.artifact_argmax)
        ppl_ref, ppl_art = math.exp(float(ref_nll.mean())), math.exp(float(art_nll.mean()))
        rows.append({"positions": [start, end], "tokens": len(kl), "ppl_reference": ppl_ref, "ppl_artifact": ppl_art,
                     "ppl_ratio": math.exp(float((art_nll - ref_nll).mean())), "ppl_difference": ppl_art - ppl_ref,
                     "kl_mean": float(kl.mean()), **{f"kl_{k}": v for k, v in _percentiles(kl).items()},
                     "top1_agreement": float(same.mean())})
    return rows


def device_summary(device_logprob: list[np.ndarray], device_argmax: list[np.ndarray], scores: PositionScores,
                   host_logprob: list[np.ndarray] | None, host_argmax: list[np.ndarray] | None, first: int) -> dict:
    """What the phone's per-token scores (log-probability of the actual next token, argmax) tell:
    its perplexity, top-1 agreement with the desktop reference, and agreement with this machine's
    run of the same artifact (a kernel or delegate that computes differently on the phone shows here)."""
    nll = -_scored(device_logprob, first)
    mean, se = _mean_se(nll)
    ref_nll = _scored(scores.reference_nll, first)
    argmax = _scored(device_argmax, first)
    out = {
        "scored_tokens": len(nll), "ppl_device": math.exp(mean), "ppl_device_se": math.exp(mean) * se,
        "ppl_reference": math.exp(float(ref_nll.mean())),
        "ppl_ratio_vs_reference": math.exp(float((nll - ref_nll).mean())),
        "top1_agreement_vs_reference": float((argmax == _scored(scores.reference_argmax, first)).mean()),
    }
    if host_logprob is not None and host_argmax is not None:
        every_device = np.concatenate(device_logprob)
        every_host = np.concatenate(host_logprob)
        difference = np.abs(every_device - every_host)
        out.update({
            "top1_agreement_vs_host": float((np.concatenate(device_argmax) == np.concatenate(host_argmax)).mean()),
            "logprob_abs_diff_vs_host_max": float(difference.max()),
            "logprob_abs_diff_vs_host_mean": float(difference.mean()),
            "compared_positions": len(difference),
        })
    return out
