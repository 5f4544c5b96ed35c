"""Byte-pair encoding (lesson 08): GPT-2's tokenizer, trained from scratch and loaded from its file.

Text -> UTF-8 bytes -> tokens. A byte-level BPE tokenizer starts from the 256 possible
bytes and learns *merges*: the most frequent adjacent pair of tokens becomes a new
token, again and again, until the vocabulary has the size asked for. Encoding replays
the merges in the order they were learnt; decoding concatenates each token's bytes.

* :func:`get_pair_counts`, :func:`merge` and :func:`train_merges_plain`: the plain loop,
  short and slow (it recounts every pair after every merge), for a small text;
* :func:`train_merges`: the same merges, fast: it counts over the table of *distinct*
  pre-split chunks with their frequencies and, after each merge, updates the pair counts of
  only the chunks that contained the merged pair (``tests/test_bpe.py`` checks the two agree);
* :class:`BPETokenizer`: ``train``, ``encode``, ``decode``, ``vocab_size``, special tokens,
  GPT-2's own vocabulary (:meth:`BPETokenizer.gpt2`, from ``data/gpt2.tiktoken``), and
  save/load in a readable text file. With GPT-2's vocabulary it gives exactly ``tiktoken``'s
  tokens.

Like GPT-2, text is first cut into chunks by :data:`GPT2_SPLIT_PATTERN` (words with their
leading space, numbers, punctuation, whitespace), and merges never cross a chunk boundary:
" dog" and " dog." share the token for " dog". Token ids are also merge priorities (ranks):
a lower id was merged earlier. Special tokens (``<|endoftext|>``) come after the ordinary
ones and are never merged with anything.
"""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import AbstractSet, Iterable, Literal, Sequence

import regex

__all__ = [
    "GPT2_SPLIT_PATTERN",
    "ENDOFTEXT",
    "get_pair_counts",
    "merge",
    "best_pair",
    "train_merges_plain",
    "train_merges",
    "BPETokenizer",
]

# GPT-2's pre-tokenizer, exactly as tiktoken writes it (possessive ++ quantifiers, the \s++$
# branch): contractions, optional space + letters, optional space + digits, optional space +
# other symbols, then whitespace. \p{L} / \p{N} need the `regex` package, not `re`.
GPT2_SPLIT_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
ENDOFTEXT = "<|endoftext|>"
FILE_HEADER = "from-value-to-gpt bpe v1"

Pair = tuple[int, int]


# --- the plain loop (slow, for small texts) ------------------------------------------


def get_pair_counts(ids: Sequence[int], counts: dict[Pair, int] | None = None) -> dict[Pair, int]:
    """How often each adjacent pair occurs in ``ids``, added to ``counts`` if given."""
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids: Sequence[int], pair: Pair, new_id: int) -> list[int]:
    """``ids`` with every occurrence of ``pair`` replaced by ``new_id``, left to right."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def best_pair(counts: dict[Pair, int]) -> Pair:
    """The most frequent pair; ties go to the smaller pair (ids compared in order), so the
    choice never depends on the order in which pairs were counted."""
    return min(counts, key=lambda p: (-counts[p], p))


def _chunks(text: str, pattern: str | None, special_tokens: Sequence[str] = ()) -> list[str]:
    """The pre-split chunks of ``text`` (the whole text if ``pattern`` is None), with the
    special tokens' text cut out first (so no merge ever involves them)."""
    if special_tokens:
        cut = "|".join(regex.escape(s) for s in sorted(special_tokens, key=len, reverse=True))
        return [c for part in regex.split(cut, text) for c in _chunks(part, pattern)]
    if pattern is None:
        return [text] if text else []
    return regex.findall(pattern, text)


def train_merges_plain(text: str, n_merges: int,
                       pattern: str | None = GPT2_SPLIT_PATTERN) -> list[Pair]:
    """The first ``n_merges`` merges of ``text``: recount every pair, merge the best, repeat.

    Merge ``k`` creates token ``256 + k``. Stops early if no pair is left (the text is too
    small). ``pattern=None`` treats the text as one chunk (no pre-split).
    """
    chunks = [list(chunk.encode("utf-8")) for chunk in _chunks(text, pattern)]
    merges: list[Pair] = []
    for new_id in range(256, 256 + n_merges):
        counts: dict[Pair, int] = {}
        for ids in chunks:
            get_pair_counts(ids, counts)
        if not counts:  # every chunk is a single token
            break
        pair = best_pair(counts)
        chunks = [merge(ids, pair, new_id) for ids in chunks]
        merges.append(pair)
    return merges


# --- the fast version --------------------------------------------------------------


def train_merges(text: str, n_merges: int, pattern: str | None = GPT2_SPLIT_PATTERN,
                 special_tokens: Sequence[str] = ()) -> list[Pair]:
    """The same merges as :func:`train_merges_plain`, in seconds instead of hours.

    Two ideas: (1) a text of a million characters has only tens of thousands of *distinct*
    chunks, so count pairs once per distinct chunk, weighted by its frequency; (2) a merge
    changes only the chunks that contain the merged pair, so subtract their old pairs and add
    their new ones instead of recounting everything. A heap finds the best pair; entries made
    stale by later updates are skipped when they surface. The text of ``special_tokens``
    is cut out of ``text`` before counting.
    """
    table = Counter(_chunks(text, pattern, special_tokens))
    words = [list(chunk.encode("utf-8")) for chunk in table]
    freqs = list(table.values())
    counts: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, set[int]] = defaultdict(set)  # pair -> the words it (may) occur in
    for w, (ids, freq) in enumerate(zip(words, freqs)):
        for pair in zip(ids, ids[1:]):
            counts[pair] += freq
            where[pair].add(w)
    # min-heap on (-count, pair): the same order as best_pair
    heap = [(-count, pair) for pair, count in counts.items()]
    heapq.heapify(heap)
    merges: list[Pair] = []
    while len(merges) < n_merges:
        while heap and counts.get(heap[0][1]) != -heap[0][0]:
            heapq.heappop(heap)  # stale: the pair's count has changed since this entry
        if not heap:  # every chunk is a single token
            break
        _, pair = heapq.heappop(heap)
        new_id = 256 + len(merges)
        merges.append(pair)
        changed = set()
        for w in where.pop(pair):
            old = words[w]
            new = merge(old, pair, new_id)
            if len(new) == len(old):
                continue  # an earlier merge already took this word's occurrences
            for p in zip(old, old[1:]):
                counts[p] -= freqs[w]
                changed.add(p)
            for p in zip(new, new[1:]):
                counts[p] += freqs[w]
                where[p].add(w)
                changed.add(p)
            words[w] = new
        for p in changed:
            if counts[p] > 0:
                heapq.heappush(heap, (-counts[p], p))
            else:
                del counts[p]
    return merges


# --- the tokenizer -----------------------------------------------------------------

_NEVER = 1 << 62  # the rank of a pair that is no token: above every real rank


def _bpe(piece: bytes, ranks: dict[bytes, int], stop_at: int = _NEVER) -> list[bytes]:
    """Split ``piece`` into tokens: start from single bytes and merge, at each step, the
    adjacent pair whose merged bytes have the lowest rank (the leftmost on a tie, as
    tiktoken does), until no pair with a rank below ``stop_at`` is left."""
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        pair_ranks = [ranks.get(a + b, _NEVER) for a, b in zip(parts, parts[1:])]
        lowest = min(pair_ranks)
        if lowest >= stop_at:
            break
        i = pair_ranks.index(lowest)
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


class BPETokenizer:
    """A byte-level BPE tokenizer: 256 byte tokens, merges, then special tokens.

    ``BPETokenizer(merges)`` builds one from its merges: merge ``k``, a pair of token ids,
    creates id ``256 + k``. ``byte_order`` says which byte each of ids 0-255 stands for
    (default: id ``b`` is byte ``b``; GPT-2 numbers its bytes in another order). The special
    tokens get the ids after the merges, in the order given. Usually you get one from
    :meth:`train`, :meth:`gpt2`, :meth:`from_tiktoken_file` or :meth:`load`.

    * ``encode(text)`` refuses text that contains a special token's text (as tiktoken does,
      so that user text cannot inject ``<|endoftext|>``); ``allowed_special`` lets them
      through as special tokens, :meth:`encode_ordinary` encodes them as plain text.
    * ``decode(ids)`` never raises on ids that cut a UTF-8 character in half: the broken
      bytes decode to U+FFFD (``errors="replace"``); :meth:`decode_bytes` gives the raw bytes.
      An id outside the vocabulary is a ``ValueError``.
    """

    def __init__(self, merges: Iterable[Sequence[int]], pattern: str | None = GPT2_SPLIT_PATTERN,
                 special_tokens: Sequence[str] = (ENDOFTEXT,),
                 byte_order: Sequence[int] | None = None):
        self.pattern = pattern
        self.byte_order = list(range(256)) if byte_order is None else [int(b) for b in byte_order]
        if sorted(self.byte_order) != list(range(256)):
            raise ValueError("byte_order must list each byte value 0-255 exactly once")
        self.merges: list[Pair] = []
        vocab = [bytes([b]) for b in self.byte_order]  # id -> the bytes it stands for
        for k, pair in enumerate(merges):
            a, b = (int(i) for i in pair)
            if not (0 <= a < len(vocab) and 0 <= b < len(vocab)):
                raise ValueError(f"merge {k} ({a}, {b}) names a token that does not exist yet "
                                 f"(ids so far: 0-{len(vocab) - 1})")
            self.merges.append((a, b))
            vocab.append(vocab[a] + vocab[b])
        self.ranks: dict[bytes, int] = {}  # bytes -> id, the merge priority
        for i, piece in enumerate(vocab):
            # if two merges ever make the same bytes, the encoder uses the earlier id
            self.ranks.setdefault(piece, i)
        names = list(special_tokens)
        if len(set(names)) != len(names) or not all(isinstance(s, str) and s for s in names):
            raise ValueError(f"special tokens must be distinct non-empty strings, got {names}")
        self.special_tokens = {s: len(vocab) + i for i, s in enumerate(names)}
        self.vocab: list[bytes] = vocab + [s.encode("utf-8") for s in names]
        self._split = regex.compile(pattern) if pattern is not None else None
        self._cache: dict[str, list[int]] = {}  # chunk -> its ids: text repeats its words

    # --- building one ---

    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str | None = GPT2_SPLIT_PATTERN,
              special_tokens: Sequence[str] = (ENDOFTEXT,)) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        ``vocab_size`` counts everything: 256 bytes, the merges and the special tokens
        (``train(text, 1024)`` has ids 0-1023, ``<|endoftext|>`` = 1023). Deterministic. A text
        too small to make that many merges is refused (with the largest size it allows)
        rather than giving a smaller vocabulary than asked for. Special tokens' text in
        ``text`` (document separators) is cut out before counting: it is never merged.
        """
        smallest = 256 + len(special_tokens)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) \
                or vocab_size < smallest:
            raise ValueError(
                f"vocab_size must be an integer >= {smallest} (256 byte tokens + "
                f"{len(special_tokens)} special), got {vocab_size!r}")
        if not text:
            raise ValueError("cannot train a BPE tokenizer on an empty text")
        n_merges = vocab_size - smallest
        merges = train_merges(text, n_merges, pattern, special_tokens)
        if len(merges) < n_merges:
            raise ValueError(
                f"vocab_size={vocab_size} is out of reach: after {len(merges)} merges every "
                f"chunk of the {len(text):,}-character text is a single token; use "
                f"vocab_size <= {smallest + len(merges)} or a longer text")
        return cls(merges, pattern, special_tokens)

    @classmethod
    def from_tiktoken_file(cls, path: str | os.PathLike, pattern: str = GPT2_SPLIT_PATTERN,
                           special_tokens: Sequence[str] = (ENDOFTEXT,)) -> BPETokenizer:
        """A tokenizer from a tiktoken ranks file: one ``base64(token bytes) rank`` per line.

        The ranks are ids in merge order; the merges are recovered from them (each token's
        bytes, encoded with the ranks below its own, end as exactly two tokens: its merge).
        """
        import base64
        import binascii

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no tiktoken ranks file at {path}")
        vocab: list[bytes] = []
        try:
            lines = path.read_text(encoding="ascii").splitlines()
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not a tiktoken ranks file (it is not ASCII text); "
                             "the file is damaged") from None
        for n, line in enumerate(lines, start=1):
            try:
                token, rank = line.split()
                piece = base64.b64decode(token, validate=True)
            except (ValueError, binascii.Error):
                raise ValueError(f"{path} line {n}: expected 'base64(bytes) rank', "
                                 f"got {line[:60]!r}; the file is damaged") from None
            if rank != str(len(vocab)):
                raise ValueError(f"{path} line {n}: rank {rank}, expected {len(vocab)} "
                                 "(ranks must be 0, 1, 2, ... in order); the file is damaged")
            vocab.append(piece)
        if len(vocab) < 256 or sorted(vocab[:256]) != [bytes([b]) for b in range(256)]:
            raise ValueError(f"{path}: ranks 0-255 must be the 256 single bytes; "
                             "the file is damaged or not a byte-level BPE vocabulary")
        ranks = {piece: i for i, piece in enumerate(vocab)}
        merges = []
        for i in range(256, len(vocab)):
            parts = _bpe(vocab[i], ranks, stop_at=i)
            if len(parts) != 2:
                raise ValueError(f"{path}: rank {i} ({vocab[i]!r}) is not a merge of two "
                                 "earlier tokens; the file is damaged")
            merges.append((ranks[parts[0]], ranks[parts[1]]))
        return cls(merges, pattern, special_tokens, byte_order=[p[0] for p in vocab[:256]])

    @classmethod
    def gpt2(cls) -> BPETokenizer:
        """GPT-2's tokenizer (50,257 tokens) from ``data/gpt2.tiktoken``, verified by checksum."""
        from .data import data_path

        return cls.from_tiktoken_file(data_path("gpt2.tiktoken"))

    # --- encoding and decoding ---

    @property
    def vocab_size(self) -> int:
        """Every id: 256 bytes + merges + special tokens."""
        return len(self.vocab)

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = self._cache.get(chunk)
        if ids is None:
            ids = self._cache[chunk] = [self.ranks[p] for p in _bpe(chunk.encode(), self.ranks)]
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``; a special token's text is encoded as ordinary text."""
        chunks = self._split.findall(text) if self._split is not None else [text]
        ids: list[int] = []
        for chunk in chunks:
            ids.extend(self._encode_chunk(chunk))
        return ids

    def encode(self, text: str,
               allowed_special: Literal["all"] | AbstractSet[str] = frozenset()) -> list[int]:
        """Token ids of ``text``. The text of a special token not in ``allowed_special``
        raises a ``ValueError``; the allowed ones become their special ids."""
        allowed = set(self.special_tokens) if allowed_special == "all" else set(allowed_special)
        unknown = allowed - set(self.special_tokens)
        if unknown:
            raise ValueError(f"allowed_special names {sorted(unknown)}, which are not special "
                             f"tokens of this tokenizer ({sorted(self.special_tokens)})")
        for special in self.special_tokens:
            if special not in allowed and special in text:
                raise ValueError(
                    f"the text contains the special token {special!r} (at character "
                    f"{text.index(special)}); pass allowed_special={{{special!r}}} to encode it "
                    "as the special token, or use encode_ordinary to encode it as plain text")
        if not allowed:
            return self.encode_ordinary(text)
        # cut the text at the allowed special tokens (longest first, so one that contains
        # another wins), encode the pieces between them as ordinary text
        alternatives = "|".join(regex.escape(s) for s in sorted(allowed, key=len, reverse=True))
        ids: list[int] = []
        for i, piece in enumerate(regex.split(f"({alternatives})", text)):
            ids.extend([self.special_tokens[piece]] if i % 2 else self.encode_ordinary(piece))
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes the ids stand for, concatenated."""
        from .data import checked_ids  # here, so that importing helpers.bpe needs no PyTorch

        return b"".join(self.vocab[i] for i in checked_ids(ids, self.vocab_size))

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``. Ids that cut a multi-byte character apart give U+FFFD for the
        broken bytes instead of raising (a model can sample any id sequence)."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # --- saving: a plain dict (checkpoints) and a readable text file ---

    def to_dict(self) -> dict:
        """Plain values only (a checkpoint stores this): :func:`helpers.data.tokenizer_from_dict`
        rebuilds the tokenizer from it."""
        return {
            "kind": "bpe",
            "pattern": self.pattern,
            "special_tokens": list(self.special_tokens),
            "byte_order": list(self.byte_order),
            "merges": [list(pair) for pair in self.merges],
        }

    @classmethod
    def from_dict(cls, d: dict) -> BPETokenizer:
        """The inverse of :meth:`to_dict`; a malformed dict is one ``ValueError`` line."""
        try:
            if d.get("kind") != "bpe":
                raise ValueError(f"kind is {d.get('kind')!r}, not 'bpe'")
            pattern, specials = d["pattern"], d["special_tokens"]
            if pattern is not None and not isinstance(pattern, str):
                raise ValueError("'pattern' must be a string or None")
            return cls([tuple(p) for p in d["merges"]], pattern, specials, d["byte_order"])
        except (KeyError, TypeError, AttributeError, regex.error) as e:
            raise ValueError(f"not a BPE tokenizer dict ({type(e).__name__}: {e})") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tokenizer as text: a header, then one merge per line.

        ::

            from-value-to-gpt bpe v1
            pattern "<the split pattern, as a JSON string>"      (pattern null: no pre-split)
            special "<|endoftext|>"                               (one line per special token)
            bytes 0 1 2 ... 255                                   (which byte ids 0-255 stand for)
            merges 767
            116 104  # b't' + b'h' -> b'th'                      (merge k makes id 256 + k)

        Everything after ``#`` is a comment for the reader; :meth:`load` ignores it.
        """
        from .checkpoint import write_atomically

        lines = [FILE_HEADER, f"pattern {json.dumps(self.pattern)}"]
        lines += [f"special {json.dumps(s)}" for s in self.special_tokens]
        lines.append("bytes " + " ".join(map(str, self.byte_order)))
        lines.append(f"merges {len(self.merges)}")
        for k, (a, b) in enumerate(self.merges):
            lines.append(f"{a} {b}  # {self.vocab[a]!r} + {self.vocab[b]!r} -> "
                         f"{self.vocab[256 + k]!r}")
        return write_atomically(path, "\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> BPETokenizer:
        """Read a file written by :meth:`save`; anything wrong is one ``ValueError`` line."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer file at {path}; save one with "
                                    "BPETokenizer.save(path)")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            lines = []
        if not lines or lines[0] != FILE_HEADER:
            raise ValueError(f"{path} is not a tokenizer file written by BPETokenizer.save "
                             f"(its first line should be {FILE_HEADER!r})")
        pattern, specials, byte_order, merges = None, [], None, []
        n_merges = None
        for n, line in enumerate(lines[1:], start=2):
            line = line.split("#", 1)[0].strip() if n_merges is not None else line
            try:
                if n_merges is not None:  # the merge lines
                    if line:
                        a, b = line.split()
                        merges.append((int(a), int(b)))
                    continue
                key, _, value = line.partition(" ")
                if key == "pattern":
                    pattern = json.loads(value)
                elif key == "special":
                    specials.append(json.loads(value))
                elif key == "bytes":
                    byte_order = [int(b) for b in value.split()]
                elif key == "merges":
                    n_merges = int(value)
                else:
                    raise ValueError(f"unknown entry {key!r}")
            except ValueError as e:
                raise ValueError(f"{path} line {n}: {line[:60]!r} cannot be read ({e}); "
                                 "the file is damaged") from None
        if n_merges is None or len(merges) != n_merges:
            raise ValueError(f"{path}: its header promises {n_merges} merges, it holds "
                             f"{len(merges)}; the file is truncated or damaged")
        try:
            return cls(merges, pattern, specials, byte_order)
        except (ValueError, regex.error) as e:
            raise ValueError(f"{path}: {e}; the file is damaged") from None

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BPETokenizer) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash((self.pattern, tuple(self.merges), tuple(self.special_tokens)))
