"""Train the lesson-06 GPT on tiny Shakespeare: ``python -m helpers.train_gpt --help``.

One process on a laptop::

    python -m helpers.train_gpt --n-layer 4 --n-embd 128 --steps 2000 --out runs/gpt.pt

Many processes (several GPUs, or several machines) with DistributedDataParallel::

    torchrun --nproc_per_node=4 -m helpers.train_gpt --out runs/gpt.pt ...

Each process draws its own share of every batch (``--batch-size`` is per process,
so the global batch is batch_size x processes), gradients are averaged across
processes (gloo on CPU, NCCL on CUDA), and rank 0 alone logs and saves.

Files written beside ``--out`` (say ``runs/gpt.pt``):

* ``runs/gpt.pt`` -- the checkpoint with the best validation loss so far
  (weights only, no optimizer state: the file you ship and sample from);
* ``runs/gpt.last.pt`` -- the latest state, with optimizer and RNG states,
  written at every evaluation, at the end and on Ctrl-C: ``--resume`` continues
  from it exactly (same batches, same dropout masks, same weights as an
  uninterrupted run);
* ``runs/gpt.history.json`` -- the loss history (step, train, val, tokens/s,
  ...) so a notebook can plot a run it did not train.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from . import device as choose_device
from .data import get_batch, load_shakespeare_splits
from .gpt import GPT, GPTConfig, load_checkpoint, save_checkpoint
from .data import estimate_loss

__all__ = ["lr_at", "last_path", "history_path", "main", "parse_args", "train"]

LN2 = math.log(2.0)


def lr_at(step: int, lr: float, min_lr: float, warmup_steps: int, decay_steps: int) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up, then cosine decay to ``min_lr``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if step >= decay_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, decay_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def last_path(out: Path) -> Path:
    """``runs/gpt.pt`` -> ``runs/gpt.last.pt`` (the resumable latest state)."""
    return out.with_name(out.stem + ".last" + out.suffix)


def history_path(out: Path) -> Path:
    """``runs/gpt.pt`` -> ``runs/gpt.history.json``."""
    return out.with_name(out.stem + ".history.json")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except the None ones whose help text says what they default to."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m helpers.train_gpt",
        description="Train a character-level GPT on tiny Shakespeare (lesson 07).",
        formatter_class=_HelpFormatter)
    m = p.add_argument_group("model (ignored with --resume: the checkpoint's config is used)")
    defaults = GPTConfig()
    m.add_argument("--block-size", type=int, default=defaults.block_size, help="context length in characters")
    m.add_argument("--n-layer", type=int, default=defaults.n_layer, help="transformer blocks")
    m.add_argument("--n-head", type=int, default=defaults.n_head, help="attention heads per block")
    m.add_argument("--n-embd", type=int, default=defaults.n_embd, help="width (a multiple of --n-head)")
    m.add_argument("--dropout", type=float, default=defaults.dropout, help="dropout probability")
    m.add_argument("--bias", action=argparse.BooleanOptionalAction, default=defaults.bias,
                   help="biases in Linear and LayerNorm layers")
    t = p.add_argument_group("training")
    t.add_argument("--steps", type=int, default=2000, help="total optimizer steps of the run")
    t.add_argument("--batch-size", type=int, default=32, help="sequences per step and per process")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW)")
    t.add_argument("--min-lr", type=float, default=None, help="final learning rate (default: lr / 10)")
    t.add_argument("--warmup-steps", type=int, default=100, help="linear warm-up of the learning rate")
    t.add_argument("--lr-decay-steps", type=int, default=None,
                   help="step where the cosine reaches --min-lr (default: --steps)")
    t.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay (matrices only)")
    t.add_argument("--beta1", type=float, default=0.9, help="AdamW beta1")
    t.add_argument("--beta2", type=float, default=0.99, help="AdamW beta2")
    t.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0: off)")
    t.add_argument("--eval-interval", type=int, default=250,
                   help="evaluate (and save) every N steps")
    t.add_argument("--eval-iters", type=int, default=50, help="batches per split per evaluation")
    t.add_argument("--seed", type=int, default=1337, help="initial weights, batches and dropout")
    t.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps")
    t.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; on a CPU shared with other jobs 1 is often faster)")
    t.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                   help="bfloat16: mixed precision (autocast) for forward; weights stay float32. "
                        "Faster on CPUs with AVX512-BF16/AMX and on recent GPUs")
    o = p.add_argument_group("files")
    o.add_argument("--out", type=Path, default=Path("runs/gpt.pt"),
                   help="best-validation checkpoint; NAME.last.pt and NAME.history.json go beside it")
    o.add_argument("--resume", action="store_true", help="continue from NAME.last.pt beside --out")
    o.add_argument("--no-progress", action="store_true", help="no tqdm bar (log lines only)")
    o.add_argument("--log-interval", type=int, default=50, help="record the batch loss every N steps")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "eval_interval", "eval_iters", "log_interval"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.warmup_steps < 0 or args.lr <= 0:
        p.error("--warmup-steps must be >= 0 and --lr > 0")
    if args.min_lr is None:
        args.min_lr = args.lr / 10
    if args.lr_decay_steps is None:
        args.lr_decay_steps = args.steps
    return args


class _Dist:
    """Rank, world size and device of this process; DDP set-up when launched by torchrun."""

    def __init__(self, device_arg: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1
        dev = choose_device(device_arg)
        if self.enabled and dev.type == "cuda":
            dev = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(dev)
        self.device = dev
        if self.enabled:
            import torch.distributed as dist
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self.enabled:
            import torch.distributed as dist
            dist.destroy_process_group()


def _log(msg: str, bar=None) -> None:
    """Print a line without breaking the progress bar."""
    if bar is not None:
        bar.write(msg)
        sys.stdout.flush()
    else:
        print(msg, flush=True)


def train(args: argparse.Namespace) -> dict:
    """Run the training loop described by ``args`` (see :func:`parse_args`); returns the history."""
    if args.threads:
        torch.set_num_threads(args.threads)
    dist = _Dist(args.device)
    out = Path(args.out)
    splits, tok = load_shakespeare_splits()

    start_step, history, resume_state = 0, {"evals": [], "batch_losses": []}, None
    if args.resume:
        lp = last_path(out)
        ck = load_checkpoint(lp, tokenizer=tok)
        config, resume_state = ck.config, ck
        start_step = ck.step
        history = ck.extra.get("history", history)
        if dist.main:
            print(f"resuming from {lp} at step {start_step}", flush=True)
    else:
        config = GPTConfig(vocab_size=tok.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                           n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, bias=args.bias)

    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = GPT(config).to(dist.device)
    # AdamW with weight decay on matrices only (not on biases or LayerNorm gains: 1-D tensors).
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(args.beta1, args.beta2))
    batch_gen = torch.Generator().manual_seed(args.seed)  # same stream on every rank; each takes a slice
    torch.manual_seed(args.seed + 1 + dist.rank)  # dropout masks differ per rank
    if resume_state is not None:
        model.load_state_dict(resume_state.model.state_dict())
        if resume_state.optimizer_state is None:
            raise SystemExit(f"{last_path(out)} has no optimizer state; it cannot be resumed exactly")
        optimizer.load_state_dict(resume_state.optimizer_state)
        rng = resume_state.extra["rng"]
        batch_gen.set_state(rng["batch"])
        torch.set_rng_state(rng["torch"][dist.rank] if dist.rank < len(rng["torch"]) else rng["torch"][0])
    model.train()
    ddp_model = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP
        ddp_model = DDP(model, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None)

    B, T, W = args.batch_size, config.block_size, dist.world
    tokens_per_step = B * T * W
    best_val = min((e["val"] for e in history["evals"]), default=float("inf"))
    train_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    if dist.main:
        print(f"GPT {config} | {model.num_params():,} parameters | device {dist.device} x {W} process(es) "
              f"| {tokens_per_step:,} tokens/step | threads {torch.get_num_threads()}", flush=True)

    def rng_states() -> dict:
        states = [torch.get_rng_state()]
        if dist.enabled:
            import torch.distributed as tdist
            gathered = [None] * W
            tdist.all_gather_object(gathered, states[0])
            states = gathered
        return {"batch": batch_gen.get_state(), "torch": states}

    def save(step: int, val_improved: bool) -> None:
        rng = rng_states()  # collective under DDP: every rank calls save()
        if not dist.main:
            return
        extra = {"history": history, "train_args": train_args, "rng": rng, "world_size": W}
        save_checkpoint(last_path(out), model, optimizer, step, config, tok, extra=extra)
        if val_improved:
            save_checkpoint(out, model, None, step, config, tok,
                            extra={"history": history, "train_args": train_args})
        history_path(out).write_text(json.dumps(
            {"config": asdict(config), "train_args": train_args, "world_size": W,
             "tokens_per_step": tokens_per_step, **history}, indent=1))

    def evaluate(step: int, tokens_per_s: float, elapsed: float) -> bool:
        nonlocal best_val
        if dist.main:
            gen = torch.Generator().manual_seed(args.seed + 12345)  # the same eval batches every time
            losses = estimate_loss(model, splits, args.eval_iters, T, B, generator=gen)
            improved = losses["val"] < best_val
            best_val = min(best_val, losses["val"])
            history["evals"].append({"step": step, "train": losses["train"], "val": losses["val"],
                                     "tokens_per_s": tokens_per_s, "elapsed_s": elapsed,
                                     "lr": optimizer.param_groups[0]["lr"]})
            msg = (f"step {step:>6}: train {losses['train']:.4f} val {losses['val']:.4f} "
                   f"({losses['val'] / LN2:.3f} bits/char) best val {best_val:.4f} | "
                   f"{tokens_per_s:,.0f} tokens/s | {elapsed / 60:.1f} min")
            _log(msg, bar)
        else:
            improved = False
        if dist.enabled:
            import torch.distributed as tdist
            flag = [improved]
            tdist.broadcast_object_list(flag, src=0)
            improved = flag[0]
        return improved

    bar = None
    if dist.main and not args.no_progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=args.steps, initial=start_step, desc="training", unit="step",
                   mininterval=1.0 if sys.stderr.isatty() else 30.0, dynamic_ncols=True)
    autocast = (torch.autocast(dist.device.type, dtype=torch.bfloat16) if args.dtype == "bfloat16"
                else contextlib.nullcontext())
    step = start_step
    t_start = time.perf_counter()
    t_last, step_last, tok_s = t_start, step, 0.0
    elapsed_before = history["evals"][-1]["elapsed_s"] if history["evals"] else 0.0
    try:
        if step == 0:
            evaluate(0, 0.0, 0.0)
        while step < args.steps:
            lr = lr_at(step, args.lr, args.min_lr, args.warmup_steps, args.lr_decay_steps)
            for g in optimizer.param_groups:
                g["lr"] = lr
            x, y = get_batch(splits["train"], T, B * W, generator=batch_gen)  # the global batch
            x = x[dist.rank * B:(dist.rank + 1) * B].to(dist.device)  # (B, T) this rank's share
            y = y[dist.rank * B:(dist.rank + 1) * B].to(dist.device)
            with autocast:
                _, loss = ddp_model(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            step += 1
            if step % args.log_interval == 0 or step == args.steps:
                lossf = loss.item()
                now = time.perf_counter()
                tok_s = (step - step_last) * tokens_per_step / max(now - t_last, 1e-9)
                t_last, step_last = now, step
                if dist.main:
                    history["batch_losses"].append([step, lossf])
                    if bar is not None:
                        bar.set_postfix(loss=f"{lossf:.3f}", tok_s=f"{tok_s:,.0f}")
            if bar is not None:
                bar.update(1)
            if step % args.eval_interval == 0 or step == args.steps:
                elapsed = elapsed_before + time.perf_counter() - t_start
                save(step, evaluate(step, tok_s, elapsed))
    except KeyboardInterrupt:
        if dist.main:
            _log(f"interrupted at step {step}: saving {last_path(out)} (resume with --resume)", bar)
        if not dist.enabled:  # under torchrun the other ranks may be gone; save without collectives
            save(step, False)
        elif dist.main:
            extra = {"history": history, "train_args": train_args,
                     "rng": {"batch": batch_gen.get_state(), "torch": [torch.get_rng_state()] * W},
                     "world_size": W}
            save_checkpoint(last_path(out), model, optimizer, step, config, tok, extra=extra)
        raise
    finally:
        if bar is not None:
            bar.close()
        dist.close()
    if dist.main:
        print(f"done: {step} steps, best val {best_val:.4f} ({best_val / LN2:.3f} bits/char); "
              f"best checkpoint {out}, history {history_path(out)}", flush=True)
    return history


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
