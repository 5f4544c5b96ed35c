"""Train the lesson-07 GPT on tiny Shakespeare: ``python -m helpers.train_gpt --help``.

One process on a laptop::

    python -m helpers.train_gpt --n-layer 4 --n-embd 128 --steps 2000 --out runs/gpt.pt

On characters (the default, lesson 07) or on BPE tokens (lesson 08)::

    python -m helpers.train_gpt --tokenizer bpe --vocab-size 1024 --out runs/gpt_bpe.pt
    python -m helpers.train_gpt --tokenizer runs/my.bpe --out runs/gpt_bpe.pt  # a saved one

The text is cut into train and validation by characters (first 90 %) whatever the tokenizer;
``--tokenizer bpe`` trains the BPE tokenizer on the training part only (deterministic), and the
checkpoints carry the tokenizer. Losses are per token; the logged bits per character divide
them by the validation split's characters per token, so runs on different tokenizers compare.

Many processes (several GPUs, or several machines) with DistributedDataParallel::

    torchrun --nproc_per_node=4 -m helpers.train_gpt --out runs/gpt.pt ...

Each process draws its own share of every batch (``--batch-size`` is per process,
so the global batch is batch_size x processes), gradients are averaged across
processes (gloo on CPU, NCCL on CUDA), and rank 0 alone logs and saves.

Files written beside ``--out`` (say ``runs/gpt.pt``):

* ``runs/gpt.pt`` -- the checkpoint with the best validation loss so far
  (weights only, no optimizer state: the file you ship and sample from);
* ``runs/gpt.last.pt`` -- the latest state: weights, optimizer, step, the run's
  arguments and every random generator it uses (batches; dropout on the CPU and on
  CUDA or MPS, for every process). Written at every evaluation, at the end and on
  Ctrl-C; ``--resume`` continues from it exactly: the same batches, dropout masks
  and weights as a run that was never stopped;
* ``runs/gpt.history.json`` -- the loss history (step, train, val, tokens/s, ...)
  so a notebook can plot a run it did not train.

Ctrl-C asks the run to stop: it finishes the step it is in, saves ``NAME.last.pt``
and exits (status 130). A second Ctrl-C exits at once, without writing anything.

The training loop reads as its named steps: :func:`set_up`, :func:`training_step`,
:func:`evaluate`, :func:`save_state` and :func:`restore_state`, driven by :func:`train`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from . import device as choose_device
from .bpe import BPETokenizer
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint, write_atomically
from .data import (
    CharTokenizer,
    Tokenizer,
    estimate_loss,
    get_batch,
    load_shakespeare_splits,
    shakespeare_text_splits,
)
from .gpt import GPT, GPTConfig
from .progress import progress

__all__ = [
    "lr_at",
    "last_path",
    "history_path",
    "parse_args",
    "set_up",
    "training_step",
    "evaluate",
    "save_state",
    "restore_state",
    "train",
    "main",
    "Run",
    "build_tokenizer",
]

LN2 = math.log(2.0)
# Model flags: every GPTConfig field but vocab_size, which the tokenizer sets (--vocab-size
# chooses it for --tokenizer bpe).
MODEL_FIELDS = [f for f in fields(GPTConfig) if f.name != "vocab_size"]
DEFAULT_BPE_VOCAB_SIZE = 1024
# What --resume lets you change: the length of the run, how it reports, where it lives.
MAY_CHANGE_ON_RESUME = ("steps", "log_interval", "no_progress")


def lr_at(step: int, lr: float, min_lr: float, warmup_steps: int, decay_steps: int) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up, then cosine decay to ``min_lr``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if step >= decay_steps:
        return min_lr
    progress_ = (step - warmup_steps) / max(1, decay_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress_)) * (lr - min_lr)


def last_path(out: Path) -> Path:
    """``runs/gpt.pt`` -> ``runs/gpt.last.pt`` (the resumable latest state)."""
    out = Path(out)
    return out.with_name(out.stem + ".last" + out.suffix)


def history_path(out: Path) -> Path:
    """``runs/gpt.pt`` -> ``runs/gpt.history.json``."""
    out = Path(out)
    return out.with_name(out.stem + ".history.json")


# --- command line -----------------------------------------------------------------


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except the None ones whose help text says what they default to."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m helpers.train_gpt", formatter_class=_HelpFormatter,
        description="Train a GPT on tiny Shakespeare, on characters (lesson 07) or on BPE "
                    "tokens (lesson 08).")
    k = p.add_argument_group("tokenizer (the model's vocab_size is the tokenizer's)")
    k.add_argument("--tokenizer", default="char",
                   help="'char': the 65 characters of the text; 'bpe': a byte-level BPE "
                        "tokenizer trained on the training split (helpers.bpe, GPT-2's split "
                        "pattern, <|endoftext|> included) with --vocab-size tokens; or the path "
                        "of a tokenizer file saved with helpers.bpe.BPETokenizer.save")
    k.add_argument("--vocab-size", type=int, default=None,
                   help=f"with --tokenizer bpe: the vocabulary size, 256 bytes + merges + 1 "
                        f"special token (default {DEFAULT_BPE_VOCAB_SIZE})")
    m = p.add_argument_group("model (helpers.gpt.GPTConfig; vocab_size comes from the tokenizer)")
    for f in MODEL_FIELDS:
        if isinstance(f.default, bool):
            m.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction,
                           default=f.default, help=f.metadata["help"])
        else:
            m.add_argument(_flag(f.name), type=type(f.default), default=f.default,
                           help=f.metadata["help"])
    t = p.add_argument_group("training")
    t.add_argument("--steps", type=int, default=2000, help="total optimizer steps of the run")
    t.add_argument("--batch-size", type=int, default=32,
                   help="sequences per step and per process")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW)")
    t.add_argument("--min-lr", type=float, default=None,
                   help="final learning rate (default: lr / 10)")
    t.add_argument("--warmup-steps", type=int, default=100,
                   help="linear warm-up of the learning rate")
    t.add_argument("--lr-decay-steps", type=int, default=None,
                   help="step where the cosine reaches --min-lr (default: --steps)")
    t.add_argument("--weight-decay", type=float, default=0.1,
                   help="AdamW weight decay (matrices only)")
    t.add_argument("--beta1", type=float, default=0.9, help="AdamW beta1")
    t.add_argument("--beta2", type=float, default=0.99, help="AdamW beta2")
    t.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0: off)")
    t.add_argument("--eval-interval", type=int, default=250,
                   help="evaluate (and save) every N steps")
    t.add_argument("--eval-iters", type=int, default=50,
                   help="batches per split per evaluation")
    t.add_argument("--seed", type=int, default=1337, help="initial weights, batches and dropout")
    t.add_argument("--device", default="auto",
                   help="auto (helpers.device(): COURSE_DEVICE, else cuda, mps, cpu), cpu, "
                        "cuda, cuda:N, mps")
    t.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; on a CPU shared with other jobs "
                        "1 is often faster)")
    t.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                   help="bfloat16: mixed precision (autocast) for forward; weights stay float32. "
                        "Faster on CPUs with AVX512-BF16/AMX and on recent GPUs")
    o = p.add_argument_group("files and reporting")
    o.add_argument("--out", type=Path, default=Path("runs/gpt.pt"),
                   help="best-validation checkpoint; NAME.last.pt and NAME.history.json go "
                        "beside it")
    o.add_argument("--resume", action="store_true",
                   help="continue from NAME.last.pt beside --out with the run's own arguments; "
                        "only --steps, --log-interval and --no-progress may change")
    o.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    o.add_argument("--log-interval", type=int, default=50,
                   help="record the batch loss every N steps")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments of a run; ``args.given`` holds the names of the flags given explicitly."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    probe = _build_parser()
    for action in probe._actions:
        action.default = argparse.SUPPRESS
    args.given = sorted(vars(probe.parse_args(argv)))
    for name in ("steps", "batch_size", "eval_interval", "eval_iters", "log_interval"):
        if getattr(args, name) < 1:
            parser.error(f"{_flag(name)} must be at least 1, got {getattr(args, name)}")
    if args.warmup_steps < 0 or args.lr <= 0:
        parser.error("--warmup-steps must be >= 0 and --lr > 0")
    if args.min_lr is None:
        args.min_lr = args.lr / 10
    if args.lr_decay_steps is None:
        args.lr_decay_steps = args.steps
    if args.tokenizer == "bpe":
        if args.vocab_size is None:
            args.vocab_size = DEFAULT_BPE_VOCAB_SIZE
        if args.vocab_size < 257:
            parser.error(f"--vocab-size must be at least 257 (256 bytes + <|endoftext|>), "
                         f"got {args.vocab_size}")
    elif args.vocab_size is not None:
        parser.error(f"--vocab-size is for --tokenizer bpe; --tokenizer {args.tokenizer} "
                     "fixes its own vocabulary")
    return args


def _run_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments as saved in checkpoints and the history: plain values only."""
    return {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "given"
    }


def _refuse(what: str, saved: Any, now: Any) -> None:
    raise SystemExit(
        f"--resume: {what} was {saved!r} in the run being resumed, now {now!r}; only "
        "--steps, --log-interval and --no-progress may change (leave a flag out to keep "
        "its saved value)"
    )


def resumed_arguments(args: argparse.Namespace, saved: dict[str, Any]) -> argparse.Namespace:
    """The saved run's arguments; of the flags given, only --steps and the reporting flags change.

    A flag given explicitly with a value other than the saved one is refused with one line
    (``SystemExit``) naming the flag, the saved value and the new one.
    """
    given = getattr(args, "given", None)  # None (a Namespace built by hand): every flag counts
    merged = vars(args).copy()
    for name, value in vars(args).items():
        if name in ("given", "resume", "out") or name not in saved:
            continue
        if given is not None and name not in given:
            merged[name] = saved[name]  # left out: the run's own value
        elif name not in MAY_CHANGE_ON_RESUME and value != saved[name]:
            _refuse(_flag(name), saved[name], value)
    return argparse.Namespace(**merged)


# --- set-up -------------------------------------------------------------------------


class _Dist:
    """Rank, world size and device of this process; DDP set-up when launched by torchrun."""

    def __init__(self, device_arg: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1
        dev = choose_device(device_arg)  # "auto": COURSE_DEVICE, else the best device present
        if self.enabled and dev.type == "cuda":
            dev = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(dev)
        self.device = dev
        if self.enabled:
            import torch.distributed as tdist

            tdist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_agree(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank (a collective under DDP)."""
        if not self.enabled:
            return flag
        import torch.distributed as tdist

        t = torch.tensor([int(flag)], device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        return bool(t.item())

    def barrier(self) -> None:
        """Wait for every rank (before tearing down: rank 0 may still be writing a save)."""
        if self.enabled:
            import torch.distributed as tdist

            tdist.barrier()

    def close(self) -> None:
        if self.enabled:
            import torch.distributed as tdist

            tdist.destroy_process_group()


class _CtrlC:
    """The first Ctrl-C (SIGINT) only sets ``requested``: the loop stops at the next step
    boundary and saves. A second one raises ``KeyboardInterrupt`` at once, without saving.
    A repeat within half a second counts as the same Ctrl-C: torchrun forwards the
    terminal's SIGINT to processes that already received it."""

    def __init__(self):
        self.requested = False
        self._first_at = 0.0
        self._previous = None

    def _handle(self, signum, frame) -> None:
        now = time.monotonic()
        if not self.requested:
            self.requested, self._first_at = True, now
        elif now - self._first_at > 0.5:
            raise KeyboardInterrupt

    def __enter__(self) -> "_CtrlC":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@dataclass
class Run:
    """Everything a training run holds; the named steps below read and update it."""

    args: argparse.Namespace
    dist: _Dist
    config: GPTConfig
    tokenizer: Tokenizer
    splits: dict[str, torch.Tensor]
    chars_per_token: float  # of the validation split: turns nats/token into nats/char
    model: GPT
    ddp_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    batch_gen: torch.Generator
    autocast: Any
    step: int = 0
    history: dict = field(default_factory=lambda: {"evals": [], "batch_losses": []})
    best_val: float = float("inf")
    elapsed_before: float = 0.0
    t_start: float = field(default_factory=time.perf_counter)
    t_last: float = field(default_factory=time.perf_counter)
    step_last: int = 0
    tokens_per_s: float = 0.0

    @property
    def out(self) -> Path:
        return Path(self.args.out)

    @property
    def tokens_per_step(self) -> int:
        return self.args.batch_size * self.config.block_size * self.dist.world


def build_tokenizer(args: argparse.Namespace, texts: dict[str, str]) -> Tokenizer:
    """The tokenizer ``--tokenizer`` (and ``--vocab-size``) ask for; ``texts`` are the splits."""
    if args.tokenizer == "char":
        return CharTokenizer(texts["train"] + texts["val"])
    if args.tokenizer == "bpe":
        return BPETokenizer.train(texts["train"], args.vocab_size)  # training text only
    try:
        return BPETokenizer.load(args.tokenizer)
    except (OSError, ValueError) as e:
        raise SystemExit(f"--tokenizer {args.tokenizer}: {e}") from None


def set_up(args: argparse.Namespace) -> Run:
    """Data, device, model, optimizer and batch stream; with ``--resume`` the saved state."""
    saved = None
    if args.resume:  # first: the saved arguments decide the model, the seed, the batches...
        if not last_path(args.out).exists():
            raise SystemExit(
                f"--resume: no saved run state at {last_path(args.out)} (a run with --out "
                f"{args.out} writes it there); start the run without --resume"
            )
        saved = load_checkpoint(last_path(args.out))
        saved_args = saved.extra.get("train_args")
        if not isinstance(saved_args, dict):
            raise CheckpointError(
                f"{last_path(args.out)}: extra['train_args'] is missing; it cannot be resumed"
            )
        args = resumed_arguments(args, saved_args)
    texts = shakespeare_text_splits()
    # resuming: the tokenizer the run was trained with, as saved (no BPE training again)
    tok = saved.tokenizer if saved is not None else build_tokenizer(args, texts)
    splits, _ = load_shakespeare_splits(tokenizer=tok)
    chars_per_token = len(texts["val"]) / len(splits["val"])
    if args.threads:  # after --resume: the run's own thread count (it sets the summation order)
        torch.set_num_threads(args.threads)
    dist = _Dist(args.device)
    if saved is not None:
        where = f"{last_path(args.out)}: extra"
        for key, now in (("world_size", dist.world), ("device_type", dist.device.type)):
            if _entry(saved.extra, key, where, type(now)) != now:
                _refuse(key.replace("_", " "), saved.extra[key], now)
    config = GPTConfig(
        vocab_size=tok.vocab_size, **{f.name: getattr(args, f.name) for f in MODEL_FIELDS}
    )
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = GPT(config).to(dist.device)
    optimizer = torch.optim.AdamW(
        model.param_groups(args.weight_decay), lr=args.lr, betas=(args.beta1, args.beta2)
    )
    batch_gen = torch.Generator().manual_seed(
        args.seed
    )  # same stream on every rank; each takes a slice
    torch.manual_seed(args.seed + 1 + dist.rank)  # dropout masks differ per rank
    ddp_model = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(model, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None)
    autocast = (
        torch.autocast(dist.device.type, dtype=torch.bfloat16)
        if args.dtype == "bfloat16"
        else contextlib.nullcontext()
    )
    run = Run(
        args=args,
        dist=dist,
        config=config,
        tokenizer=tok,
        splits=splits,
        chars_per_token=chars_per_token,
        model=model,
        ddp_model=ddp_model,
        optimizer=optimizer,
        batch_gen=batch_gen,
        autocast=autocast,
    )
    if saved is not None:
        if saved.config != config:
            raise CheckpointError(
                f"{last_path(args.out)}: its config {saved.config} differs from its "
                f"own train_args' model flags {config}"
            )
        restore_state(run, saved)
    model.train()
    return run


# --- one training step, evaluation ---------------------------------------------------


def training_step(run: Run) -> torch.Tensor:
    """One optimizer step on the next batch of the stream; returns the loss (a tensor)."""
    args, dist = run.args, run.dist
    lr = lr_at(run.step, args.lr, args.min_lr, args.warmup_steps, args.lr_decay_steps)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    B, T = args.batch_size, run.config.block_size
    x, y = get_batch(
        run.splits["train"], T, B * dist.world, generator=run.batch_gen
    )  # global batch
    x = x[dist.rank * B : (dist.rank + 1) * B].to(dist.device)  # (B, T): this rank's share
    y = y[dist.rank * B : (dist.rank + 1) * B].to(dist.device)
    with run.autocast:
        _, loss = run.ddp_model(x, y)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if args.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), args.grad_clip)
    run.optimizer.step()
    run.step += 1
    return loss


def _log(msg: str, bar=None) -> None:
    """Print a line without breaking the progress bar."""
    if bar is not None:
        bar.write(msg)
        sys.stdout.flush()
    else:
        print(msg, flush=True)


def _record_loss(run: Run, loss: torch.Tensor, bar) -> None:
    """Every --log-interval steps: the batch loss and tokens/s into the history and the bar."""
    if run.step % run.args.log_interval and run.step != run.args.steps:
        return
    lossf = loss.item()
    now = time.perf_counter()
    run.tokens_per_s = (
        (run.step - run.step_last) * run.tokens_per_step / max(now - run.t_last, 1e-9)
    )
    run.t_last, run.step_last = now, run.step
    if run.dist.main:
        run.history["batch_losses"].append([run.step, lossf])
        if bar is not None:
            bar.set_postfix(loss=f"{lossf:.3f}", tok_s=f"{run.tokens_per_s:,.0f}")


def evaluate(run: Run, bar=None) -> bool:
    """Mean train and validation loss on fixed batches (rank 0); True if validation improved."""
    improved = False
    if run.dist.main:
        gen = torch.Generator().manual_seed(
            run.args.seed + 12345
        )  # the same eval batches every time
        losses = estimate_loss(
            run.model,
            run.splits,
            run.args.eval_iters,
            run.config.block_size,
            run.args.batch_size,
            generator=gen,
        )
        improved = losses["val"] < run.best_val
        run.best_val = min(run.best_val, losses["val"])
        elapsed = run.elapsed_before + time.perf_counter() - run.t_start
        run.history["evals"].append(
            {
                "step": run.step,
                "train": losses["train"],
                "val": losses["val"],
                "tokens_per_s": run.tokens_per_s,
                "elapsed_s": elapsed,
                "lr": run.optimizer.param_groups[0]["lr"],
            }
        )
        _log(
            f"step {run.step:>6}: train {losses['train']:.4f} val {losses['val']:.4f} "
            f"({losses['val'] / LN2 / run.chars_per_token:.3f} bits/char) "
            f"best val {run.best_val:.4f} | "
            f"{run.tokens_per_s:,.0f} tokens/s | {elapsed / 60:.1f} min",
            bar,
        )
    if run.dist.enabled:
        import torch.distributed as tdist

        flag = [improved]
        tdist.broadcast_object_list(flag, src=0)
        improved = flag[0]
    return improved


# --- save state, restore state -------------------------------------------------------


def _rng_states(run: Run) -> dict:
    """Every generator the run draws from: the batch stream and, per rank, dropout's
    generators (CPU, and CUDA or MPS when the run uses one). A collective under DDP."""
    mine = {"cpu": torch.get_rng_state()}
    if run.dist.device.type == "cuda":
        mine["cuda"] = torch.cuda.get_rng_state(run.dist.device)
    elif run.dist.device.type == "mps":
        mine["mps"] = torch.mps.get_rng_state()
    ranks = [mine]
    if run.dist.enabled:
        import torch.distributed as tdist

        ranks = [None] * run.dist.world
        tdist.all_gather_object(ranks, mine)
    return {"batch": run.batch_gen.get_state(), "ranks": ranks}


def save_state(run: Run, improved: bool) -> None:
    """Write NAME.last.pt (everything to resume), NAME.pt if validation improved, and the
    history. Every rank calls it (its RNG states are gathered); rank 0 writes."""
    rng = _rng_states(run)
    if not run.dist.main:
        return
    train_args = _run_arguments(run.args)
    extra = {
        "history": run.history,
        "train_args": train_args,
        "rng": rng,
        "world_size": run.dist.world,
        "device_type": run.dist.device.type,
    }
    save_checkpoint(
        last_path(run.out),
        run.model,
        run.optimizer,
        run.step,
        run.config,
        run.tokenizer,
        extra=extra,
    )
    if improved:
        save_checkpoint(
            run.out,
            run.model,
            None,
            run.step,
            run.config,
            run.tokenizer,
            extra={"history": run.history, "train_args": train_args},
        )
    write_atomically(
        history_path(run.out),
        json.dumps(
            {
                "config": asdict(run.config),
                "train_args": train_args,
                "world_size": run.dist.world,
                "tokens_per_step": run.tokens_per_step,
                "val_chars_per_token": run.chars_per_token,
                **run.history,
            },
            indent=1,
        ),
    )


def _entry(mapping: Any, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    """``mapping[key]``, or a CheckpointError naming the key if it is missing or mistyped."""
    if not isinstance(mapping, dict) or key not in mapping:
        raise CheckpointError(f"{where}[{key!r}] is missing; this checkpoint cannot be resumed")
    value = mapping[key]
    if not isinstance(value, kind):
        raise CheckpointError(
            f"{where}[{key!r}] should be {kind}, got {type(value).__name__}; "
            "this checkpoint cannot be resumed"
        )
    return value


def restore_state(run: Run, saved) -> None:
    """Put a loaded NAME.last.pt (:class:`helpers.checkpoint.Checkpoint`) back into ``run``."""
    where = f"{last_path(run.out)}: extra"
    if saved.optimizer_state is None:
        raise CheckpointError(
            f"{last_path(run.out)} has no optimizer state; it cannot be resumed exactly"
        )
    history = _entry(saved.extra, "history", where, dict)
    for key in ("evals", "batch_losses"):
        _entry(history, key, f"{where}['history']", list)
    rng = _entry(saved.extra, "rng", where, dict)
    batch_state = _entry(rng, "batch", f"{where}['rng']", torch.Tensor)
    ranks = _entry(rng, "ranks", f"{where}['rng']", list)
    if len(ranks) != run.dist.world:
        _refuse("the number of saved RNG states (one per process)", len(ranks), run.dist.world)
    mine = ranks[run.dist.rank]
    mine_where = f"{where}['rng']['ranks'][{run.dist.rank}]"
    cpu_state = _entry(mine, "cpu", mine_where, torch.Tensor)
    device_state = None
    if run.dist.device.type in ("cuda", "mps"):
        device_state = _entry(mine, run.dist.device.type, mine_where, torch.Tensor)
    run.model.load_state_dict(saved.model.state_dict())
    run.optimizer.load_state_dict(saved.optimizer_state)
    run.batch_gen.set_state(batch_state)
    torch.set_rng_state(cpu_state)
    if run.dist.device.type == "cuda":
        torch.cuda.set_rng_state(device_state, run.dist.device)
    elif run.dist.device.type == "mps":
        torch.mps.set_rng_state(device_state)
    run.step = run.step_last = saved.step
    run.history = history
    run.best_val = min((e["val"] for e in history["evals"]), default=float("inf"))
    run.elapsed_before = history["evals"][-1]["elapsed_s"] if history["evals"] else 0.0


# --- the loop ---------------------------------------------------------------------


def train(args: argparse.Namespace) -> dict:
    """Run the training loop described by ``args`` (see :func:`parse_args`); returns the history.

    On Ctrl-C it saves at the next step boundary and raises ``KeyboardInterrupt``.
    """
    with _CtrlC() as ctrl_c:
        run = set_up(args)
        args, dist = run.args, run.dist
        if dist.main:
            if args.resume:
                print(f"resuming from {last_path(run.out)} at step {run.step}", flush=True)
            print(
                f"GPT {run.config} | {run.model.num_params():,} parameters | device {dist.device} "
                f"x {dist.world} process(es) | {run.tokens_per_step:,} tokens/step | "
                f"threads {torch.get_num_threads()}",
                flush=True,
            )
            if args.tokenizer != "char":  # (the character runs' log stays as lesson 07 shows it)
                print(
                    f"tokenizer {run.tokenizer!r} from --tokenizer {args.tokenizer}: "
                    f"{run.chars_per_token:.3f} characters per token on the validation split",
                    flush=True,
                )
        bar = None
        if dist.main and not args.no_progress:
            bar = progress(
                total=args.steps,
                initial=run.step,
                desc="training",
                unit="step",
                mininterval=1.0 if sys.stderr.isatty() else 30.0,
                dynamic_ncols=True,
            )
        try:
            if run.step == 0 and not run.history["evals"]:
                evaluate(run, bar)
            run.t_start = run.t_last = time.perf_counter()
            while run.step < args.steps and not dist.all_agree(ctrl_c.requested):
                loss = training_step(run)
                _record_loss(run, loss, bar)
                if bar is not None:
                    bar.update(1)
                if run.step % args.eval_interval == 0 or run.step == args.steps:
                    save_state(run, improved=evaluate(run, bar))
            if run.step < args.steps:  # Ctrl-C: stopped between two steps
                if dist.main:
                    _log(
                        f"interrupted at step {run.step}: saving {last_path(run.out)} "
                        "(continue with --resume)",
                        bar,
                    )
                save_state(run, improved=False)
                dist.barrier()
                raise KeyboardInterrupt
            dist.barrier()  # no rank tears down the process group while another still works
        finally:
            if bar is not None:
                bar.close()
            dist.close()
        if dist.main:
            print(
                f"done: {run.step} steps, best val {run.best_val:.4f} "
                f"({run.best_val / LN2 / run.chars_per_token:.3f} bits/char); "
                f"best checkpoint {run.out}, "
                f"history {history_path(run.out)}",
                flush=True,
            )
    return run.history


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except KeyboardInterrupt:
        return 130
    except CheckpointError as e:  # a damaged or foreign checkpoint: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
