"""The one line a user acts on, from eval's headline figures (no numpy: the CLI and reports import it)."""

from __future__ import annotations


def quality_line(summary: dict) -> str:
    """One sentence a user can act on: how far the artifact is from its reference, in their terms."""
    ratio, top1, kl = summary["ppl_ratio"], summary["top1_agreement"], summary["kl_mean"]
    # bands on the perplexity ratio, the figure llama.cpp's quantization tables lead with; the top-1
    # share tells "close" from "close on average but often a different next token"
    if kl < 1e-3 and top1 >= 0.99:
        verdict = "indistinguishable from the reference: ship it"
    elif ratio <= 1.05 and top1 >= 0.85:
        verdict = "close to the reference: fine for most uses, check a few of your own prompts"
    elif ratio <= 1.25:
        verdict = ("noticeably degraded: compare on your own prompts (`slm-edge eval --text FILE`) "
                   "or try a finer scheme (int8; 8da8w --group-size 0; a smaller --block-size)")
    else:
        verdict = "far from the reference: use a finer scheme (int8; 8da8w --group-size 0) or check the export"
    return (f"perplexity {summary['ppl_artifact']:.2f} vs {summary['ppl_reference']:.2f} (×{ratio:.3f}), "
            f"same top-1 token {top1:.1%}, mean KL {kl:.3g} — {verdict}")
