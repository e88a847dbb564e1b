"""One peer engine in its own process, timed by slm-edge's own runner loop, writing a trace in
slm-edge's schema, so peers and slm-edge artifacts go through the very same measurement and
analysis code. Engines:
  llama.cpp      llama-cpp-python on a GGUF file (the original Q4_1 weights of the default)
  torch-eager    transformers in PyTorch eager, fp32, DynamicCache: the floor

    python benchmarks/peer_worker.py --engine llama.cpp --threads 2 --out trace.json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["llama.cpp", "torch-eager"], required=True)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--max-seq-len", type=int, default=1024)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    # torch is the runtime only for torch-eager; elsewhere its OpenMP workers must stay off the cores
    os.environ["OMP_NUM_THREADS"] = str(args.threads if args.engine == "torch-eager" else 1)

    import time

    import torch

    from slm_edge import cache
    from slm_edge.runtime.step import StepLlm
    from slm_edge.runner.loop import TraceWriter, _one_run, prompt_for
    from slm_edge.runner.samplers import Sampler, read_status_memory
    from slm_edge.model.sources import default_gguf_path, resolve_source

    source = resolve_source(args.model)
    if args.engine == "llama.cpp":
        import llama_cpp

        weights = default_gguf_path()
        version = llama_cpp.__version__

        class Llm(StepLlm):
            def __init__(self):
                self.llm = llama_cpp.Llama(str(weights), n_ctx=args.max_seq_len, n_batch=512, n_ubatch=512,
                                           n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
                self.max_seq_len = args.max_seq_len

            def step(self, tokens, start):
                if start == 0:
                    self.llm.reset()
                self.llm.eval(tokens)
                return torch.from_numpy(self.llm.scores[self.llm.n_tokens - 1].copy())
    else:
        from transformers import DynamicCache

        weights = source.hf_dir / "model.safetensors"
        version = torch.__version__
        torch.set_num_threads(args.threads)

        class Llm(StepLlm):
            def __init__(self):
                self.model = source.load_model()
                self.max_seq_len = args.max_seq_len
                self.cache = None

            @torch.no_grad()
            def step(self, tokens, start):
                if start == 0:
                    self.cache = DynamicCache(config=self.model.config)
                out = self.model(input_ids=torch.tensor([tokens]), past_key_values=self.cache, use_cache=True)
                return out.logits[0, -1].float()

    config = {"artifact": {"manifest_sha256": cache.sha256_file(weights), "model_file": weights.name,
                           "engine": args.engine},
              "prompt_lengths": [args.prompt_tokens], "decode_tokens": args.decode_tokens, "repeats": args.repeats,
              "warmup": args.warmup, "threads": [args.threads], "sample_interval_ms": 50.0}
    writer = TraceWriter(args.out, config, emulated=True)
    writer.trace["software"] = {"python": sys.version.split()[0], args.engine: version,
                                "omp_num_threads": os.environ["OMP_NUM_THREADS"]}
    sampler = Sampler(writer.origin_ns, 50.0)
    sampler.start()
    sampler.mark("load", "start")
    start = time.perf_counter_ns()
    llm = Llm()
    sampler.mark("load", "end")
    writer.trace["loads"].append({"threads": args.threads, "load_ms": (time.perf_counter_ns() - start) / 1e6,
                                  "rss_after_bytes": read_status_memory()[0]})
    prompt = prompt_for(args.prompt_tokens, source.config["vocab_size"], 0)
    for index in range(args.warmup + args.repeats):
        record = _one_run(llm, sampler, prompt, args.decode_tokens, len(writer.trace["runs"]))
        record.update(threads=args.threads, prompt_length=args.prompt_tokens, warmup=index < args.warmup,
                      repeat=index if index < args.warmup else index - args.warmup)
        writer.trace["runs"].append(record)
        writer.flush(sampler)
    sampler.stop()
    writer.flush(sampler, "complete")


if __name__ == "__main__":
    sys.exit(main())
