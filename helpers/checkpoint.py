"""Checkpoints of the lesson-07 GPT: the file format, saving, loading, :class:`CheckpointError`.

Since lesson 08 a checkpoint carries its tokenizer, characters or BPE (format version 2);
version-1 files, which store the characters alone (``chars``), still load unchanged.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values, so
``torch.load(weights_only=True)`` reads it and loading a file from elsewhere cannot run code:

=============  ================================================================
key            value
=============  ================================================================
``format``     ``"from-value-to-gpt/gpt-checkpoint"``
``version``    ``2`` (version 1 had ``chars`` in place of ``tokenizer``)
``config``     ``asdict(GPTConfig)``: every field, nothing else
``tokenizer``  ``tokenizer.to_dict()``: plain values, with ``"kind"`` ``"char"`` or ``"bpe"``
               (:func:`helpers.data.tokenizer_from_dict` rebuilds it)
``step``       optimizer steps taken
``model``      the state dict; the tied embedding / output matrix stored once
``optimizer``  the optimizer's state dict, or ``None`` (a slim file to sample from)
``extra``      a dict of anything else plain: loss history, RNG states, arguments
=============  ================================================================

Files are written atomically (:func:`write_atomically`): to a temporary file in the
same folder, then renamed over the target, so a save cut short leaves the previous file
intact. They get ordinary permissions (0666 minus the umask, usually 0644).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Iterator

import torch
from torch import nn

from .data import CharTokenizer, Tokenizer, tokenizer_from_dict
from .gpt import GPT, GPTConfig

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "write_atomically",
]

FORMAT = "from-value-to-gpt/gpt-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: the characters alone, in "chars"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message says why and what to do."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    model: GPT
    tokenizer: Tokenizer
    config: GPTConfig
    step: int
    optimizer_state: dict | None
    extra: dict


# --- writing ------------------------------------------------------------------


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` only once it is completely written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            # 0o666 minus the umask, like any new file (mkstemp would give 0600)
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
            )
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomically(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file and a rename."""
    path = Path(path)
    with _atomic_file(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict on the CPU, tensors that share memory on the device sharing it here too.

    ``torch.save`` stores a storage once however many tensors view it, so the tied
    embedding is written once, but only if both names still point at one CPU tensor:
    ``.cpu()`` of a GPU tensor makes a new copy each time it is called.
    """
    moved: dict[tuple, torch.Tensor] = {}
    out = {}
    for name, t in model.state_dict().items():
        key = (
            t.device,
            t.untyped_storage().data_ptr(),
            t.storage_offset(),
            tuple(t.shape),
            t.stride(),
            t.dtype,
        )
        if key not in moved:
            moved[key] = t.detach().cpu()
        out[name] = moved[key]
    return out


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    config: GPTConfig,
    tokenizer: Tokenizer,
    extra: dict | None = None,
) -> Path:
    """Save model weights, optimizer state (optional), step, config and tokenizer to ``path``.

    Written atomically (a save cut short leaves the previous checkpoint intact). ``extra``
    holds anything else plain (loss history, RNG states, training arguments).
    """
    path = Path(path)
    if config.vocab_size != tokenizer.vocab_size:
        raise ValueError(
            f"config.vocab_size={config.vocab_size} but the tokenizer has "
            f"{tokenizer.vocab_size} tokens; they must agree"
        )
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": asdict(config),
        "tokenizer": tokenizer.to_dict(),
        "step": int(step),
        "model": _cpu_state_dict(model),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": extra or {},
    }
    with _atomic_file(path) as f:
        torch.save(payload, f)
    return path


# --- reading ------------------------------------------------------------------

# key -> (the types it may have, what it should be, in words); version 1 has "chars" instead
# of "tokenizer"
_SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    "config": ((dict,), "a dict of GPTConfig fields"),
    "tokenizer": ((dict,), "the tokenizer as a dict of plain values"),
    "step": ((int,), "an integer >= 0"),
    "model": ((dict,), "a state dict of tensors"),
    "optimizer": ((dict, type(None)), "an optimizer state dict or None"),
    "extra": ((dict,), "a dict"),
}


def _read(path: Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain values; weights_only loading "
            "refuses to run code from a checkpoint, so it was not loaded "
            f"({str(e).splitlines()[0][:200]})"
        ) from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint (corrupt or truncated file: "
            f"{type(e).__name__}); re-save it or restore the original"
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a GPT checkpoint of this course "
            "(no 'format' marker); save checkpoints with helpers.checkpoint.save_checkpoint"
        )
    version = ckpt.get("version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}, "
            f"this code reads versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    schema = dict(_SCHEMA)
    if version == 1:
        del schema["tokenizer"]
        schema["chars"] = ((str,), "the vocabulary as a string")
    for key, (types, what) in schema.items():
        if key not in ckpt:
            raise CheckpointError(f"{path} has no {key!r} entry ({what}); the file is incomplete")
        value = ckpt[key]
        if not isinstance(value, types) or isinstance(value, bool) or (key == "step" and value < 0):
            raise CheckpointError(
                f"{path}: its {key!r} entry should be {what}, "
                f"got {type(value).__name__} {str(value)[:60]!r}"
            )
    bad = [
        k
        for k, v in ckpt["model"].items()
        if not isinstance(k, str) or not isinstance(v, torch.Tensor)
    ]
    if bad:
        raise CheckpointError(
            f"{path}: its 'model' entry should map names to tensors; {bad[0]!r} does not"
        )
    return ckpt


def _tokenizer_of(path: Path, ckpt: dict) -> Tokenizer:
    """The checkpoint's tokenizer: version 2's ``tokenizer`` dict, version 1's ``chars``."""
    if ckpt["version"] == 1:
        chars = ckpt["chars"]
        if not chars or "".join(sorted(set(chars))) != chars:
            raise CheckpointError(
                f"{path}: its 'chars' entry is not a sorted string of distinct characters"
            )
        return CharTokenizer(chars)
    try:
        return tokenizer_from_dict(ckpt["tokenizer"])
    except ValueError as e:
        raise CheckpointError(f"{path}: its 'tokenizer' entry cannot be used: {e}") from e


def _describe(tok: Tokenizer, other: Tokenizer | None = None) -> str:
    """A tokenizer in a few words; for two character tokenizers, which characters differ."""
    if isinstance(tok, CharTokenizer):
        text = f"{tok.vocab_size} characters"
        if isinstance(other, CharTokenizer):
            text += (f" (only in yours: {sorted(set(tok.chars) - set(other.chars))[:10]}, "
                     f"only in the checkpoint: {sorted(set(other.chars) - set(tok.chars))[:10]})")
        return text
    return repr(tok)


def load_checkpoint(
    path: str | os.PathLike,
    device: torch.device | str | None = None,
    tokenizer: Tokenizer | None = None,
    config: GPTConfig | None = None,
) -> Checkpoint:
    """Rebuild the model and tokenizer saved by :func:`save_checkpoint`.

    Pass ``tokenizer`` or ``config`` to check the checkpoint matches what you expect. The
    model comes back in eval mode on ``device`` (default CPU). Raises ``FileNotFoundError``
    for a missing file and :class:`CheckpointError`, naming the key, for a corrupt, foreign,
    incomplete or inconsistent one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}: train one with `python -m helpers.train_gpt --out {path}` "
            "or check the path (the course ships data/gpt_shakespeare.pt)"
        )
    ckpt = _read(path)
    try:
        saved_config = GPTConfig.from_dict(ckpt["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its 'config' entry is not a valid GPTConfig: {e}") from e
    ckpt_tok = _tokenizer_of(path, ckpt)
    if ckpt_tok.vocab_size != saved_config.vocab_size:
        raise CheckpointError(
            f"{path}: its config says vocab_size={saved_config.vocab_size} but its tokenizer "
            f"has {ckpt_tok.vocab_size} tokens; the file is inconsistent"
        )
    if tokenizer is not None and tokenizer != ckpt_tok:
        raise CheckpointError(
            f"vocabulary mismatch: {path} was trained with {_describe(ckpt_tok)}, "
            f"yours is {_describe(tokenizer, ckpt_tok)}; use the tokenizer load_checkpoint returns"
        )
    if config is not None and asdict(config) != asdict(saved_config):
        diff = {
            k: (v, getattr(saved_config, k))
            for k, v in asdict(config).items()
            if getattr(saved_config, k) != v
        }
        raise CheckpointError(f"config mismatch with {path}: (expected, saved) = {diff}")
    model = GPT(saved_config)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: the weights in 'model' do not fit its config {saved_config} "
            f"({str(e).splitlines()[0][:200]}...)"
        ) from e
    if device is not None:
        model.to(device)
    model.eval()
    return Checkpoint(
        model=model,
        tokenizer=ckpt_tok,
        config=saved_config,
        step=ckpt["step"],
        optimizer_state=ckpt["optimizer"],
        extra=ckpt["extra"],
    )
