"""BPE speed on this machine: training time of lesson 08's tokenizer, and encoding throughput
of our encoder next to tiktoken's (Rust), in one run.

* training: ``BPETokenizer.train`` on tiny Shakespeare's training split (the first 90 % of
  the characters), for 1,024 and 4,096 tokens (``--vocab-sizes``), seconds (best of
  ``--repeat``);
* encoding: the whole of tiny Shakespeare (1,115,394 characters, 1.1 MB) with GPT-2's
  vocabulary, our encoder (a fresh tokenizer, empty chunk cache: the first pass; then the
  second pass, cache warm) against tiktoken built from the same ``data/gpt2.tiktoken``,
  MB/s of UTF-8 input, alternating the two, best of ``--repeat``; and whether the tokens agree.

    python bench/bpe_bench.py
    python bench/bpe_bench.py --vocab-sizes 512,1024,2048,4096 --repeat 5

Other processes on the machine slow every figure down; the core count and load average are
printed with them. Prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import time

import tiktoken
from tiktoken.load import load_tiktoken_bpe

from helpers.bpe import ENDOFTEXT, GPT2_SPLIT_PATTERN, BPETokenizer
from helpers.data import data_path, load_shakespeare, shakespeare_text_splits


def best_of(repeat: int, fn) -> tuple[float, object]:
    """The shortest wall time of ``repeat`` calls of ``fn``, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab-sizes", default="1024,4096",
                   help="comma-separated vocabulary sizes to train")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    args = p.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f}, "
          f"tiktoken {tiktoken.__version__}")

    train = shakespeare_text_splits()["train"]
    print(f"training on the training split: {len(train):,} characters")
    for vocab_size in (int(v) for v in args.vocab_sizes.split(",")):
        seconds, tok = best_of(args.repeat, lambda v=vocab_size: BPETokenizer.train(train, v))
        print(f"  vocab {vocab_size:>6,}: {seconds:6.2f} s ({len(tok.merges):,} merges, "
              f"{len(train) / len(tok.encode(train)):.2f} characters per token)", flush=True)

    text = load_shakespeare()
    megabytes = len(text.encode("utf-8")) / 1e6
    t0 = time.perf_counter()
    ours = BPETokenizer.gpt2()
    load_s = time.perf_counter() - t0
    reference = tiktoken.Encoding(
        "gpt2", pat_str=GPT2_SPLIT_PATTERN,
        mergeable_ranks=load_tiktoken_bpe(str(data_path("gpt2.tiktoken"))),
        special_tokens={ENDOFTEXT: 50256})
    print(f"encoding the whole text, {megabytes:.2f} MB, GPT-2's vocabulary "
          f"(ours loaded in {load_s:.2f} s: ranks read, merges recovered)")
    t0 = time.perf_counter()
    ids = ours.encode_ordinary(text)  # the first pass fills the chunk cache
    cold = time.perf_counter() - t0
    warm, tik = float("inf"), float("inf")
    for _ in range(args.repeat):  # alternate, so both see the same machine load
        warm = min(warm, best_of(1, lambda: ours.encode_ordinary(text))[0])
        seconds, ref_ids = best_of(1, lambda: reference.encode_ordinary(text))
        tik = min(tik, seconds)
    print(f"  ours, first pass (cache cold): {megabytes / cold:6.2f} MB/s ({cold:.2f} s)")
    print(f"  ours, cache warm:              {megabytes / warm:6.2f} MB/s ({warm:.2f} s)")
    print(f"  tiktoken:                      {megabytes / tik:6.2f} MB/s ({tik:.3f} s)")
    print(f"  tiktoken / ours (cold): {cold / tik:.1f}x; {len(ids):,} tokens, "
          f"identical to tiktoken's: {ids == ref_ids}")


if __name__ == "__main__":
    main()
