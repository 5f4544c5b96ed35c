"""GPT speed on this machine: training step (ms/step, tokens/s) and generation (characters/s).

Two configs: nanoGPT's suggested CPU recipe (n_layer=4, n_head=4, n_embd=128,
block_size=64, batch_size=12, dropout=0), and the config of the shipped
checkpoint ``data/gpt_shakespeare.pt`` (read from the file when present).
Figures are medians over >= 20 steps after warm-up. Other processes on the machine
slow every figure down; the core count and load average are printed with them.

    python bench/gpt_bench.py                    # both configs, then the recipe trained 2,000 steps
    python bench/gpt_bench.py --no-recipe-run    # speed figures only
    python bench/gpt_bench.py --config 4,4,192,128,32   # n_layer,n_head,n_embd,block,batch

The reference (a quiet 2-core machine): nanoGPT's own trainer, same recipe,
~40 ms/step (19k tokens/s), validation 1.886 after 2,000 steps.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from helpers.checkpoint import load_checkpoint
from helpers.data import get_batch, load_shakespeare_splits
from helpers.gpt import GPT, GPTConfig

ROOT = Path(__file__).resolve().parent.parent
RECIPE = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, dropout=0.0)


def time_training(
    config: GPTConfig,
    batch_size: int,
    steps: int = 30,
    warmup: int = 5,
    lr: float = 1e-3,
    dtype: str = "float32",
) -> tuple[float, float]:
    """Median ms per training step (forward, backward, AdamW) and tokens/s.

    ``dtype="bfloat16"`` runs the forward under autocast, as ``train_gpt --dtype bfloat16`` does.
    """
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if dtype == "bfloat16"
        else contextlib.nullcontext()
    )
    splits, _ = load_shakespeare_splits()
    torch.manual_seed(0)
    model = GPT(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(warmup + steps):
        x, y = get_batch(splits["train"], config.block_size, batch_size, generator=gen)
        t0 = time.perf_counter()
        with autocast:
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    ms = 1000 * statistics.median(times)
    return ms, batch_size * config.block_size / (ms / 1000)


def time_generation(model: GPT, n_chars: int = 300, repeats: int = 3) -> float:
    """Characters per second of ``generate`` (one sequence, temperature 1, context cropped)."""
    model.eval()
    gen = torch.Generator().manual_seed(0)
    idx = torch.zeros((1, 1), dtype=torch.long)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.generate(idx, n_chars, generator=gen)
        rates.append(n_chars / (time.perf_counter() - t0))
    return statistics.median(rates)


def report(
    name: str, config: GPTConfig, batch_size: int, model: GPT | None = None, dtype: str = "float32"
) -> None:
    ms, tps = time_training(config, batch_size)
    if model is None:
        torch.manual_seed(0)
        model = GPT(config)
    cps = time_generation(model)
    print(
        f"{name}: {model.num_params():,} params, n_layer={config.n_layer} n_head={config.n_head} "
        f"n_embd={config.n_embd} block_size={config.block_size} batch_size={batch_size} "
        f"dropout={config.dropout}"
    )
    print(
        f"  training   {ms:7.1f} ms/step  {tps:9,.0f} tokens/s  "
        "(float32; median of 30 steps after 5 warm-up)"
    )
    if dtype != "float32":
        ms, tps = time_training(config, batch_size, dtype=dtype)
        print(
            f"  training   {ms:7.1f} ms/step  {tps:9,.0f} tokens/s  ({dtype} autocast, as trained)"
        )
    print(f"  generation {cps:7.1f} characters/s (one sequence, no KV cache)", flush=True)


def recipe_run(threads: int | None = None) -> None:
    """Train nanoGPT's CPU recipe for 2,000 steps with our trainer; print the validation loss."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "recipe.pt"
        cmd = [
            sys.executable,
            "-m",
            "helpers.train_gpt",
            "--n-layer",
            "4",
            "--n-head",
            "4",
            "--n-embd",
            "128",
            "--block-size",
            "64",
            "--batch-size",
            "12",
            "--dropout",
            "0",
            "--steps",
            "2000",
            "--lr",
            "1e-3",
            "--min-lr",
            "1e-4",
            "--warmup-steps",
            "100",
            "--beta2",
            "0.99",
            "--eval-interval",
            "2000",
            "--eval-iters",
            "200",
            "--no-progress",
            "--out",
            str(out),
        ]
        if threads:
            cmd += ["--threads", str(threads)]
        print(
            "nanoGPT CPU recipe, 2,000 steps with helpers.train_gpt:\n  "
            + " ".join(cmd[1:-1] + [out.name]),
            flush=True,
        )
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        ck = load_checkpoint(out)
        last = ck.extra["history"]["evals"][-1]
        print(
            f"  validation loss {last['val']:.3f} (train {last['train']:.3f}) after {ck.step} "
            f"steps, {wall:.0f} s wall; nanoGPT's trainer: 1.886",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--recipe-run",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train the nanoGPT recipe for 2,000 steps and print its validation loss "
        "(~1.5 min on a quiet 2-core machine)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 is faster when other jobs share "
        "the CPU)",
    )
    p.add_argument(
        "--config",
        action="append",
        default=[],
        help="extra config to time: n_layer,n_head,n_embd,block_size,batch_size[,dropout]",
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {load:.2f}"
    )
    recipe_cfg = GPTConfig(vocab_size=65, **{k: v for k, v in RECIPE.items() if k != "batch_size"})
    report("nanoGPT CPU recipe", recipe_cfg, RECIPE["batch_size"])
    shipped = ROOT / "data" / "gpt_shakespeare.pt"
    if shipped.is_file():
        ck = load_checkpoint(shipped)
        train_args = ck.extra.get("train_args", {})
        report(
            "shipped checkpoint",
            ck.config,
            train_args.get("batch_size", 32),
            ck.model,
            dtype=train_args.get("dtype", "float32"),
        )
    else:
        print("shipped checkpoint: data/gpt_shakespeare.pt not found, skipped")
    for spec in args.config:
        vals = spec.split(",")
        cfg = GPTConfig(
            vocab_size=65,
            n_layer=int(vals[0]),
            n_head=int(vals[1]),
            n_embd=int(vals[2]),
            block_size=int(vals[3]),
            dropout=float(vals[5]) if len(vals) > 5 else 0.0,
        )
        report(f"config {spec}", cfg, int(vals[4]))
    if args.recipe_run:
        recipe_run(args.threads)


if __name__ == "__main__":
    main()
