"""The course's data sets, loaded from ``data/`` and verified, plus tokenizers and batches.

Nothing is downloaded: the files ship with the course. Every file is checked
against ``data/SHA256SUMS`` the first time it is loaded in a process, so a missing
or damaged file is reported by name with the fix, not as a parse error later.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DataFileError", "data_dir", "data_path", "verify_all",
    "load_shakespeare", "shakespeare_text_splits", "Tokenizer", "CharTokenizer",
    "checked_ids", "tokenizer_from_dict", "load_shakespeare_splits", "get_batch", "estimate_loss",
    "whole_split_loss", "bits_per_char",
    "Housing", "load_housing", "load_mnist", "make_moons",
]

CHECKSUM_FILE = "SHA256SUMS"


class DataFileError(OSError):
    """A course data file is missing or damaged; the message says which and how to fix it."""


def data_dir() -> Path:
    """The course's ``data/`` folder, found from anywhere.

    ``COURSE_DATA_DIR`` wins if set; otherwise the ``data/`` beside the ``helpers``
    package (the repository), so notebooks work whatever their working directory.
    """
    env = os.environ.get("COURSE_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parent.parent / "data")
    for folder in candidates:
        if (folder / CHECKSUM_FILE).is_file():
            return folder
    looked_in = ", ".join(str(c) for c in candidates)
    raise DataFileError(
        f"cannot find the course's data folder (looked in {looked_in}): "
        f"it holds {CHECKSUM_FILE}; run from a clone of the course or set COURSE_DATA_DIR"
    )


def _expected_checksums(folder: Path) -> dict[str, str]:
    sums = {}
    for line in (folder / CHECKSUM_FILE).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    return sums


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_verified: set[Path] = set()


def data_path(name: str, verify: bool = True) -> Path:
    """Path of data file ``name``, checked against its recorded SHA-256 (once per process)."""
    folder = data_dir()
    expected = _expected_checksums(folder)
    if name not in expected:
        raise DataFileError(
            f"{name!r} is not a course data file; known files: {', '.join(sorted(expected))}"
        )
    path = folder / name
    fix = (f"restore it with `git checkout -- data/{name}` "
           f"(or copy it from the shared data folder; see data/README.md)")
    if not path.is_file():
        raise DataFileError(f"data file {name!r} is missing from the data folder; {fix}")
    if verify and path not in _verified:
        actual = _sha256(path)
        if actual != expected[name]:
            raise DataFileError(
                f"data file {name!r} is damaged: its SHA-256 is {actual[:12]}…, "
                f"expected {expected[name][:12]}… (from data/{CHECKSUM_FILE}); {fix}"
            )
        _verified.add(path)
    return path


def verify_all() -> dict[str, str]:
    """Verify every data file; returns {name: "ok"} or raises :class:`DataFileError`."""
    return {name: (data_path(name) and "ok") for name in _expected_checksums(data_dir())}


# --- Shakespeare, the tokenizers and batches (lessons 04-07) -------------------

def load_shakespeare() -> str:
    """Tiny Shakespeare: 1,115,394 characters of plays."""
    return data_path("tinyshakespeare.txt").read_text(encoding="utf-8")


def shakespeare_text_splits(train_fraction: float = 0.9) -> dict[str, str]:
    """Tiny Shakespeare cut by characters: ``{"train": first 90 %, "val": the rest}``.

    Every tokenizer sees the same cut (:func:`load_shakespeare_splits` encodes each part), so
    models on characters and on BPE tokens are trained and validated on the same text.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction}")
    text = load_shakespeare()
    n = int(train_fraction * len(text))
    return {"train": text[:n], "val": text[n:]}


@runtime_checkable
class Tokenizer(Protocol):
    """What the trainer, the checkpoints and the evaluation need from a tokenizer.

    :class:`CharTokenizer` (lesson 04) and :class:`helpers.bpe.BPETokenizer` (lesson 08) both
    fit, so none of that code asks which one it holds. ``to_dict()`` gives plain values (str,
    int, lists, dicts: what ``torch.load(weights_only=True)`` reads back), and
    :func:`tokenizer_from_dict` rebuilds the tokenizer from them.
    """

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def to_dict(self) -> dict: ...


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """The tokenizer whose ``to_dict()`` gave ``d``; a malformed ``d``: one ``ValueError`` line."""
    if not isinstance(d, dict):
        raise ValueError(f"a tokenizer dict must be a dict, got {type(d).__name__}")
    kind = d.get("kind")
    if kind == "char":
        return CharTokenizer.from_dict(d)
    if kind == "bpe":
        from .bpe import BPETokenizer  # imported here: helpers.bpe imports this module

        return BPETokenizer.from_dict(d)
    raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'char' or 'bpe'")


def checked_ids(ids: Iterable[int] | torch.Tensor, vocab_size: int) -> list[int]:
    """``ids`` as a list, each checked to lie in ``0..vocab_size-1`` (a 1-D tensor is fine):
    what every tokenizer's ``decode`` does first, with one clear line for a bad id."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() > 1:
            raise ValueError("decode takes one sequence of ids, "
                             f"got a tensor of shape {tuple(ids.shape)}")
        ids = ids.tolist()
    ids = list(ids)
    for i in ids:
        if not 0 <= i < vocab_size:
            raise ValueError(f"token id {i} is outside the vocabulary (0..{vocab_size - 1})")
    return ids


class CharTokenizer:
    """Characters <-> integers: the vocabulary is the sorted set of a text's characters.

    ``CharTokenizer(tok.chars)`` rebuilds the same tokenizer, which is how a
    checkpoint stores it (``to_dict()``: ``{"kind": "char", "chars": tok.chars}``).
    """

    def __init__(self, text: str):
        if not text:
            raise ValueError("CharTokenizer needs a non-empty text to build its vocabulary from")
        self.chars = "".join(sorted(set(text)))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError:
            pos = next(i for i, ch in enumerate(text) if ch not in self.stoi)
            ch = text[pos]
            raise ValueError(
                f"character {ch!r} (U+{ord(ch):04X}) at position {pos} is not in the tokenizer's "
                f"vocabulary of {self.vocab_size} characters; remove it from the input or build "
                "the tokenizer from a text that contains it"
            ) from None

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        return "".join(self.chars[i] for i in checked_ids(ids, self.vocab_size))

    def to_dict(self) -> dict:
        """Plain values: what a checkpoint stores (:func:`tokenizer_from_dict` reads it)."""
        return {"kind": "char", "chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict) -> CharTokenizer:
        chars = d.get("chars")
        if not isinstance(chars, str) or not chars or "".join(sorted(set(chars))) != chars:
            raise ValueError("a character tokenizer's 'chars' must be a non-empty string of "
                             f"sorted distinct characters, got {str(chars)[:40]!r}")
        return cls(chars)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)


def load_shakespeare_splits(
        train_fraction: float = 0.9,
        tokenizer: Tokenizer | None = None) -> tuple[dict[str, torch.Tensor], Tokenizer]:
    """Split tiny Shakespeare and encode it: first 90 % of the characters train, the rest validate.

    Returns ``({"train": LongTensor, "val": LongTensor}, tokenizer)``. The text is cut by
    characters first (:func:`shakespeare_text_splits`), then each part is encoded with
    ``tokenizer``, by default a :class:`CharTokenizer` of the whole text (for characters this
    is the same as encoding the whole text and cutting the ids).
    """
    texts = shakespeare_text_splits(train_fraction)
    tok = tokenizer if tokenizer is not None else CharTokenizer(texts["train"] + texts["val"])
    splits = {name: torch.tensor(tok.encode(part), dtype=torch.long)
              for name, part in texts.items()}
    return splits, tok


def get_batch(data: torch.Tensor, block_size: int, batch_size: int,
              device: torch.device | str | None = None,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch of ``batch_size`` windows: x is (B, T), y is x shifted one to the left.

    ``generator`` (a CPU ``torch.Generator``) makes the batch reproducible.
    """
    if data.dim() != 1:
        raise ValueError("get_batch expects a 1-D tensor of token ids, "
                         f"got shape {tuple(data.shape)}")
    if len(data) <= block_size:
        raise ValueError(f"data has {len(data)} tokens, too few for block_size={block_size}")
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[ix[:, None] + offsets]  # (B, T)
    y = data[ix[:, None] + offsets + 1]  # (B, T)
    if device is not None:
        x, y = x.to(device), y.to(device)
    return x, y



def estimate_loss(model: torch.nn.Module, splits: dict[str, torch.Tensor], iters: int,
                  block_size: int, batch_size: int,
                  generator: torch.Generator | None = None) -> dict[str, float]:
    """Mean loss over ``iters`` random batches of each split, in eval mode (no dropout).

    A single batch's loss is noisy; averaging many gives a number worth comparing.
    ``model(x, y)`` must return ``(logits, loss)``; its train/eval mode is restored
    afterwards, even on error (:func:`helpers.evaluating`).
    """
    from . import evaluating

    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    device = next(model.parameters()).device
    out = {}
    with evaluating(model):
        for name, data in splits.items():
            losses = torch.empty(iters)
            for k in range(iters):
                x, y = get_batch(data, block_size, batch_size, device=device, generator=generator)
                _, loss = model(x, y)
                losses[k] = loss.item()
            out[name] = losses.mean().item()
    return out


def _whole_split_nll(model: torch.nn.Module, data: torch.Tensor, block_size: int,
                     batch_size: int) -> tuple[float, int]:
    """Summed loss (nats) over every prediction of ``data`` and how many there are."""
    from . import evaluating

    if data.dim() != 1 or len(data) < 2:
        raise ValueError("the split must be a 1-D tensor of at least 2 token ids, "
                         f"got shape {tuple(data.shape)}")
    device = next(model.parameters()).device
    n_windows = (len(data) - 1) // block_size
    end = n_windows * block_size
    x = data[:end].view(n_windows, block_size)
    y = data[1:end + 1].view(n_windows, block_size)
    pieces = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n_windows, batch_size)]
    if end < len(data) - 1:
        pieces.append((data[end:-1][None], data[end + 1:][None]))  # the shorter last window
    total, count = 0.0, 0
    with evaluating(model):
        for xb, yb in pieces:
            logits = model(xb.to(device))[0]
            yb = yb.to(device).flatten()
            total += F.cross_entropy(logits.flatten(0, 1).float(), yb, reduction="sum").item()
            count += yb.numel()
    return total, count


def whole_split_loss(model: torch.nn.Module, data: torch.Tensor, block_size: int,
                     batch_size: int = 64) -> tuple[float, int]:
    """Mean loss (nats per token) over EVERY prediction of a split, and how many there are.

    ``data`` is cut into non-overlapping windows of ``block_size`` tokens (the last one
    shorter), so each token after the first is predicted exactly once, from the tokens
    before it in its window (1 to ``block_size`` of context, the same mix as in training).
    Unlike :func:`estimate_loss` there is no sampling noise. Eval mode, restored afterwards.
    """
    total, count = _whole_split_nll(model, data, block_size, batch_size)
    return total / count, count


def bits_per_char(model: torch.nn.Module, tokenizer: Tokenizer, text: str, block_size: int,
                  batch_size: int = 64) -> float:
    """Bits per character of ``text``: a score that does not depend on the tokenizer.

    Encode ``text``, score every predicted token as :func:`whole_split_loss` does, then
    divide the total loss (nats) by the number of characters those tokens decode to (all of
    ``text`` but the first token's characters) and by ln 2. A character model's loss per
    token is already per character; a BPE model predicts several characters per token, so
    its loss per token is larger and must be spread over them before the two compare.
    """
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    total, _ = _whole_split_nll(model, ids, block_size, batch_size)
    n_chars = len(tokenizer.decode(ids[1:].tolist()))
    return total / n_chars / math.log(2)

# --- California housing (lesson 03) ------------------------------------------

@dataclass
class Housing:
    """California housing, 20,640 block groups: numeric features with NaN where empty."""
    features: np.ndarray          # (20640, 8) float64; total_bedrooms has 207 NaN
    target: np.ndarray            # (20640,) median_house_value, float64
    feature_names: list[str]
    ocean_proximity: np.ndarray   # (20640,) str, the categorical column


def load_housing() -> Housing:
    path = data_path("california_housing.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    target_col, cat_col = header.index("median_house_value"), header.index("ocean_proximity")
    numeric = [i for i in range(len(header)) if i not in (target_col, cat_col)]
    as_float = lambda s: float(s) if s != "" else math.nan  # noqa: E731 - empty cell -> NaN
    features = np.array([[as_float(r[i]) for i in numeric] for r in body], dtype=np.float64)
    target = np.array([float(r[target_col]) for r in body], dtype=np.float64)
    return Housing(features, target, [header[i] for i in numeric],
                   np.array([r[cat_col] for r in body]))


# --- MNIST (lessons 10-11) ----------------------------------------------------

def _read_idx(name: str, magic: int) -> np.ndarray:
    raw = gzip.decompress(data_path(name).read_bytes())
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataFileError(f"{name!r} is not an IDX file of the expected kind "
                            f"(magic {found:#010x}, expected {magic:#010x})")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    payload = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != math.prod(dims):
        raise DataFileError(f"{name!r} holds {payload.size} bytes of data, "
                            f"its header promises {math.prod(dims)}")
    return payload.reshape(dims)


def load_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test images: ``images`` uint8 (10000, 28, 28), ``labels`` int64 (10000,)."""
    images = _read_idx("mnist-t10k-images-idx3-ubyte.gz", 0x00000803)
    labels = _read_idx("mnist-t10k-labels-idx1-ubyte.gz", 0x00000801)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


# --- Synthetic data (lesson 02) ----------------------------------------------

def make_moons(n_samples: int = 100, noise: float = 0.1,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's ``make_moons``), without scikit-learn.

    Returns ``X`` (n, 2) float64 and ``y`` (n,) int64 in {0, 1}, shuffled with ``seed``.
    """
    if n_samples < 2:
        raise ValueError(f"make_moons needs at least 2 samples, got {n_samples}")
    rng = np.random.default_rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], axis=1)
    X = np.concatenate([outer, inner])
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    order = rng.permutation(n_samples)
    X, y = X[order], y[order]
    if noise:
        X = X + rng.normal(scale=noise, size=X.shape)
    return X, y
