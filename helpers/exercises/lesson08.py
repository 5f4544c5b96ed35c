"""Checkers for lesson 08's exercises (tokenization, byte-pair encoding).

1. ``encode_fast(text, ranks)`` (build): GPT-2's way of encoding, lowest rank first in each
   chunk of the pre-split pattern; compared with ``gpt2.encode_ordinary`` token for token.
2. ``merge_at_matches(ids, pair, new_id)`` (debug): a ``merge`` with a planted bug
   (:func:`planted_merge`) that merges overlapping occurrences of a pair twice.
3. ``prediction``, ``measured`` (predict): how many tokens a Russian line costs under the
   4,096-token vocabulary learnt on Shakespeare. A correct measurement is ✅ whether or not the
   prediction held; the verdict reports the gap and names the likely slip behind it.
4. ``perplexity_per_token(bits_per_char, n_chars, n_tokens)`` (derive): the other direction
   of section 7's conversion, into another unit: the per-token perplexity a model must reach
   to score ``bits_per_char`` on a text of ``n_chars`` characters cut into ``n_tokens`` tokens.

Every reference is computed here (with :mod:`helpers.bpe` and :mod:`math`); the known
mistakes are recognised by computing them too, and named.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Callable

import regex

from helpers import bpe
from helpers.exercises import NotAttempted, Wrong, attempted, checker, run, same_code

__all__ = ["check_1", "check_2", "check_3", "check_4", "planted_merge", "RUSSIAN"]

_NEVER = 1 << 62


def _short(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[:width] + "...")


def _text_difference(got: str, expected: str) -> str:
    """Where two strings first differ, with a few characters of each around that place."""
    k = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
             min(len(got), len(expected)))
    lo = max(0, k - 8)
    return (f"they differ from character {k} on: got {got[lo:k + 12]!r}, "
            f"expected {expected[lo:k + 12]!r}")


def _ids(value, what: str) -> list[int]:
    if not isinstance(value, (list, tuple)):
        raise Wrong(f"{what} should be a list of token ids (ints), got {type(value).__name__}")
    for v in value:
        if isinstance(v, (bytes, str)):
            raise Wrong(f"{what} holds {type(v).__name__} pieces like {v!r}: return token ids, "
                        "the rank of each piece (ranks[piece])")
        if isinstance(v, bool) or not isinstance(v, int):
            raise Wrong(f"{what} should hold ints (token ids), holds {v!r}")
    return list(value)


# ---- exercise 1 (build): encoding, lowest rank first --------------------------------------

TEXTS_1 = [
    "Hello world",
    "hello.world, tokenization",
    " antidisestablishmentarianism",
    "In 2024, 1,234,567.89 people paid $19.99.",
    "Café crème, naïve façade, Zürich.",
    "生存还是毁灭，这是一个值得考虑的问题。",
    "Good night 🌙, sweet prince 👑!",
    "    four spaces,\ta tab  and two",
    " aaaaaaaa!!!!!!!!",
    "Thou art'st",
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n",
]
SMALL_MERGES = 300  # a second vocabulary: GPT-2's first 300 merges only


def _parts(piece: bytes) -> list[bytes]:
    return [piece[i:i + 1] for i in range(len(piece))]


def _lowest_first(piece: bytes, ranks: dict, rightmost: bool = False) -> list[bytes]:
    parts = _parts(piece)
    while len(parts) > 1:
        pair_ranks = [ranks.get(a + b, _NEVER) for a, b in zip(parts, parts[1:])]
        if min(pair_ranks) == _NEVER:
            break
        i = pair_ranks.index(min(pair_ranks))
        if rightmost:                       # the slip: the last of equal ranks
            i = len(pair_ranks) - 1 - pair_ranks[::-1].index(min(pair_ranks))
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


def _highest_first(piece: bytes, ranks: dict) -> list[bytes]:
    parts = _parts(piece)
    while len(parts) > 1:
        pair_ranks = [ranks.get(a + b, -1) for a, b in zip(parts, parts[1:])]
        if max(pair_ranks) < 0:
            break
        i = pair_ranks.index(max(pair_ranks))
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


def _first_found(piece: bytes, ranks: dict) -> list[bytes]:
    parts = _parts(piece)
    merged = True
    while merged:
        merged = False
        for i in range(len(parts) - 1):
            if parts[i] + parts[i + 1] in ranks:
                parts[i:i + 2] = [parts[i] + parts[i + 1]]
                merged = True
                break
    return parts


def _most_frequent(piece: bytes, ranks: dict) -> list[bytes]:
    parts = _parts(piece)
    while len(parts) > 1:
        counts = Counter((a, b) for a, b in zip(parts, parts[1:]) if a + b in ranks)
        if not counts:
            break
        (a, b), _ = counts.most_common(1)[0]
        out, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(parts[i])
                i += 1
        parts = out
    return parts


def _longest_match(piece: bytes, ranks: dict) -> list[bytes]:
    parts, i = [], 0
    while i < len(piece):
        j = next(j for j in range(len(piece), i, -1) if piece[i:j] in ranks)
        parts.append(piece[i:j])
        i = j
    return parts


def _encode_with(text: str, ranks: dict, split: Callable[[bytes, dict], list[bytes]],
                 pre_split: bool = True) -> list[int]:
    chunks = regex.findall(bpe.GPT2_SPLIT_PATTERN, text) if pre_split else [text]
    return [ranks[p] for chunk in chunks for p in split(chunk.encode("utf-8"), ranks)]


_MISTAKES_1 = [
    (lambda t, r: _encode_with(t, r, lambda p, rk: _lowest_first(p, rk, rightmost=True)),
     "on a tie (the same pair several times in a chunk, as in '!!!!!!!!') you merge the "
     "RIGHTMOST one; GPT-2 merges the leftmost of equal ranks first"),
    (lambda t, r: _encode_with(t, r, _highest_first),
     "you merge the pair with the HIGHEST rank first; the lowest rank was merged earliest in "
     "training, and its merge must come first"),
    (lambda t, r: _encode_with(t, r, _first_found),
     "you merge the first pair (from the left) that is in the vocabulary; merge the pair "
     "with the lowest rank, wherever it is in the chunk"),
    (lambda t, r: _encode_with(t, r, _most_frequent),
     "you merge the most frequent pair of the chunk; frequency chose the merges during "
     "training, but encoding follows their ranks: merge the lowest rank first"),
    (lambda t, r: _encode_with(t, r, _longest_match),
     "you take the longest piece in the vocabulary at each position (greedy longest match, "
     "as WordPiece does); BPE merges pairs, the lowest rank first"),
    (lambda t, r: _encode_with(t, r, _lowest_first, pre_split=False),
     "you encode the whole text as one chunk; cut it with bpe.GPT2_SPLIT_PATTERN first "
     "(regex.findall) and encode each chunk on its own: merges never cross a chunk boundary"),
]


def _pieces(ids: list[int], vocab: list[bytes]) -> list[str]:
    return [vocab[i].decode("utf-8", errors="replace") if 0 <= i < len(vocab) else f"<{i}?>"
            for i in ids]


def _run_1(encode_fast, text: str, ranks: dict, where: str):
    """Run the learner's encoder, naming two slips by the error they raise: str pieces looked
    up in ``ranks`` (keys are bytes) and the pattern given to ``re`` (it has no \\p{...})."""
    try:
        return encode_fast(text, ranks)
    except KeyError as e:
        key = e.args[0] if e.args else None
        if isinstance(key, str):
            raise Wrong(f"{where} looked up the str piece {key!r} in ranks, whose keys are "
                        "bytes: turn each chunk into bytes with .encode('utf-8') before "
                        "cutting it into pieces") from None
    except re.error as e:
        if "bad escape" in str(e):
            raise Wrong(f"{where}: the pattern's \\p{{L}} and \\p{{N}} (Unicode letters, "
                        "numbers) are unknown to Python's re module ('bad escape'): use the "
                        "regex module, regex.findall(bpe.GPT2_SPLIT_PATTERN, text)") from None
    except Exception:
        pass
    return run(encode_fast, text, ranks)     # any other error: reported as it is


@checker(1)
def check_1(encode_fast, gpt2):
    """``encode_fast(text, ranks)`` -> token ids, with ``ranks`` a dict bytes -> id;
    ``gpt2``: the lesson's ``BPETokenizer.gpt2()`` (the reference, and its ranks)."""
    if not isinstance(gpt2, bpe.BPETokenizer) or gpt2.vocab_size != 50257:
        raise Wrong("pass the lesson's GPT-2 tokenizer as the second argument: "
                    "ex.check_1(encode_fast, gpt2)")
    small = bpe.BPETokenizer(gpt2.merges[:SMALL_MERGES], byte_order=gpt2.byte_order)
    cases = [(gpt2, t) for t in TEXTS_1] + [(small, t) for t in TEXTS_1[:3]]
    outputs = []
    for tok, text in cases:
        which = ("GPT-2's ranks" if tok is gpt2
                 else f"the ranks of GPT-2's first {SMALL_MERGES} merges")
        where = f"encode_fast({_short(text)}, ranks) with {which}"
        outputs.append((where, _ids(_run_1(encode_fast, text, tok.ranks, where), where)))
    for (tok, text), (where, got) in zip(cases, outputs):
        expected = tok.encode_ordinary(text)
        if got == expected:
            continue
        if any(not 0 <= i < tok.vocab_size for i in got):
            bad = next(i for i in got if not 0 <= i < tok.vocab_size)
            raise Wrong(f"{where} gives id {bad}, outside the vocabulary (0..{tok.vocab_size - 1})")
        decoded = tok.decode(got)
        if decoded != text:
            if _raw_bytes_read(got, tok) == text.encode("utf-8"):
                raise Wrong(f"{where}: single bytes have ids of their own: the id of byte b is "
                            "ranks[bytes([b])], not b (GPT-2 numbers its 256 bytes in another "
                            "order)")
            raise Wrong(f"{where}: your ids do not decode to the text ("
                        f"{_text_difference(decoded, text)}); every byte of every chunk must "
                        "end in exactly one token")
        k = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                 min(len(got), len(expected)))
        shown = (f"{where}: {len(got)} tokens, expected {len(expected)}; from token {k} on "
                 f"got {_pieces(got[k:k + 4], tok.vocab)}, "
                 f"expected {_pieces(expected[k:k + 4], tok.vocab)}")
        here = [why for mistake, why in _MISTAKES_1 if got == mistake(text, tok.ranks)]
        everywhere = [why for mistake, why in _MISTAKES_1
                      if all(out == mistake(t, tk.ranks)
                             for (tk, t), (_, out) in zip(cases, outputs))]
        if everywhere or here:
            raise Wrong(f"{shown}: {(everywhere or here)[0]}")
        raise Wrong(f"{shown}: in each chunk, merge the adjacent pair whose merged bytes have "
                    "the lowest rank, again and again, until no adjacent pair is in ranks")
    return (f"token for token GPT-2's on {len(TEXTS_1)} texts (Chinese, emoji, spaces "
            f"included), and with GPT-2's first {SMALL_MERGES} merges only")


def _raw_bytes_read(ids: list[int], tok: bpe.BPETokenizer) -> bytes:
    """The bytes ``ids`` stand for if ids 0-255 are read as raw byte values (the slip of a
    learner who starts from ``list(text.encode())`` with GPT-2's byte order)."""
    return b"".join(bytes([i]) if i < 256 else tok.vocab[i] for i in ids)


# ---- exercise 2 (debug): a merge with a planted bug --------------------------------------

def planted_merge(ids, pair, new_id):
    # A classmate's merge: find where the pair occurs, then rebuild the list in one pass.
    starts = {i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == pair}
    out = []
    for i, token in enumerate(ids):
        if i in starts:
            out.append(new_id)
        elif i - 1 not in starts:
            out.append(token)
    return out


def _advance_by_one(ids, pair, new_id):
    out = []
    for i, token in enumerate(ids):
        out.append(new_id if i + 1 < len(ids) and (token, ids[i + 1]) == pair else token)
    return out


def _right_to_left(ids, pair, new_id):
    return bpe.merge(list(ids)[::-1], pair[::-1], new_id)[::-1]


def _discard_after_each(ids, pair, new_id):
    # the "fix": for i in sorted(starts): starts.discard(i + 1)
    starts = {i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == pair}
    for i in sorted(starts):
        starts.discard(i + 1)
    return _rebuild(ids, starts, new_id)


def _rebuild(ids, starts, new_id):
    """The planted merge's second pass (kept whole in planted_merge, which the learner reads):
    each start becomes new_id and the token after it is dropped."""
    out = []
    for i, token in enumerate(ids):
        if i in starts:
            out.append(new_id)
        elif i - 1 not in starts:
            out.append(token)
    return out


def _first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return list(ids[:i]) + [new_id] + list(ids[i + 2:])
    return list(ids)


def _skip_overlapping_runs(ids, pair, new_id):
    starts = {i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == pair}
    lone = {i for i in starts if i - 1 not in starts and i + 1 not in starts}
    out = []
    for i, token in enumerate(ids):
        if i in lone:
            out.append(new_id)
        elif i - 1 not in lone:
            out.append(token)
    return out


_MISTAKES_2 = [
    (planted_merge, "an occurrence that overlaps the one before it (in 'aaa' the second 'aa' "
                    "starts inside the first) is merged as well, so the middle token is used "
                    "twice and the text grows: once a pair is merged, both its tokens are "
                    "consumed and cannot start the next occurrence"),
    (_advance_by_one, "after a match the pair's second token is kept as well: a merged pair "
                      "must consume both of its tokens"),
    (_right_to_left, "the occurrences are taken from the right ('aaa' -> 'a' + 'aa'); take "
                     "them from the left, as the training loop did"),
    (_discard_after_each, "a run of four or more merges only its first pair ('aaaa' -> 'aa', "
                          "'a', 'a'): the occurrence at position 2 starts after the first "
                          "merged pair ends, so it is real, yet it was skipped as an overlap. "
                          "Skip an occurrence only if it starts inside a pair that was "
                          "actually merged, deciding from the left"),
    (_first_only, "only the first occurrence is merged; every occurrence must be"),
    (_skip_overlapping_runs, "overlapping occurrences are now left out altogether ('aaa' stays "
                             "'a', 'a', 'a'); the first of them is a real occurrence: merge it, "
                             "skip only the ones that start inside a merged pair"),
]

# (text, the pair to merge, as two characters); new_id is 256
CASES_2 = [("the other then", ("t", "h")), ("banana bandana", ("a", "n")), ("aaa", ("a", "a")),
           ("aaaa", ("a", "a")), ("x  y   z    !", (" ", " ")), ("aaaaa b", ("a", "a")),
           ("", ("a", "b")), ("x", ("x", "x"))]


@checker(2)
def check_2(merge_at_matches):
    """``merge_at_matches(ids, pair, new_id)``: every occurrence of ``pair`` replaced by
    ``new_id``, left to right (the attempt cell holds :func:`planted_merge`: unchanged,
    it is "not attempted")."""
    if same_code(merge_at_matches, planted_merge):
        raise NotAttempted
    cases = []
    for t, (a, b) in CASES_2:
        vocab = {i: bytes([i]) for i in range(256)} | {256: (a + b).encode()}
        cases.append((list(t.encode()), (ord(a), ord(b)), 256, vocab))
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"th", 257: b"thth"}
    cases.append(([256, 256, 256, 32, 256], (256, 256), 257, vocab))   # "ththth th"
    for ids, pair, new_id, vocab in cases:
        text = b"".join(vocab[i] for i in ids).decode()
        shown_pair = (vocab[pair[0]].decode(), vocab[pair[1]].decode())
        where = f"merging {shown_pair} in {text!r}"
        before = list(ids)
        got = _ids(run(merge_at_matches, ids, pair, new_id), f"{where}: the result")
        if ids != before:
            raise Wrong(f"{where}: merge_at_matches changed the list it was given; build a new "
                        "list and leave ids as it is")
        expected = bpe.merge(before, pair, new_id)
        if got == expected:
            continue
        pieces = [vocab[i].decode() if i in vocab else f"<{i}?>" for i in got]
        read = "".join(pieces)
        shown = (f"{where}: got {got} = {pieces}, expected {expected} = "
                 f"{[vocab[i].decode() for i in expected]}")
        if read != text:
            shown += f"; the tokens read {read!r}, not {text!r} ({_text_difference(read, text)})"
        for mistake, why in _MISTAKES_2:
            if got == mistake(before, pair, new_id):
                raise Wrong(f"{shown}: {why}")
        raise Wrong(f"{shown}: scan from the left; at a match emit new_id and skip both tokens "
                    "of the pair, otherwise keep the token")
    return "every occurrence merged once, from the left, overlapping runs ('aaaaa') included"


# ---- exercise 3 (predict): a Russian line under the Shakespeare vocabulary ----------------

RUSSIAN = "Быть или не быть, вот в чём вопрос."


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Wrong(f"{what} should be a number of tokens, got {value!r}")
    return float(value)


@checker(3)
def check_3(prediction, measured, tok_4096):
    """``prediction``: the number of tokens of :data:`RUSSIAN` under ``tok_4096``, written
    before measuring; ``measured``: ``len(tok_4096.encode_ordinary(russian))``. The
    measurement must be right; the prediction is compared with it, never marked wrong."""
    attempted(prediction)
    prediction = _number(prediction, "prediction")
    if measured is None or measured is Ellipsis:
        raise Wrong("you have a prediction; now measure: store the number of tokens of "
                    "russian under tok_4096 in measured")
    if not isinstance(tok_4096, bpe.BPETokenizer) or tok_4096.vocab_size != 4096:
        raise Wrong("pass the lesson's 4,096-token vocabulary as the third argument: "
                    "ex.check_3(prediction, measured, tok_4096)")
    truth = len(tok_4096.encode_ordinary(RUSSIAN))
    if isinstance(measured, (list, tuple)):
        raise Wrong(f"measured holds the {len(measured)} token ids themselves; store their "
                    "number, len(...)")
    measured = _number(measured, "measured")
    n_chars, n_bytes = len(RUSSIAN), len(RUSSIAN.encode("utf-8"))
    letters = sum(ch.isalpha() for ch in RUSSIAN)
    if measured != truth:
        gpt2_count = len(bpe.BPETokenizer.gpt2().encode_ordinary(RUSSIAN))
        ratio = (f" (that is {n_chars} characters, not tokens)" if measured == n_chars else
                 f" (that is GPT-2's count, {gpt2_count}: measure with tok_4096)"
                 if measured == gpt2_count else
                 " (a ratio? store the number of tokens itself)" if measured < 10 else "")
        raise Wrong(f"measured is {measured:g}{ratio}, but tok_4096 encodes the line into "
                    f"{truth} tokens: measure len(tok_4096.encode_ordinary(russian)) on the "
                    f"line {RUSSIAN!r}")
    why = (f"{letters} Cyrillic letters x 2 UTF-8 bytes + {n_chars - letters} spaces and "
           f"punctuation marks x 1 byte = {n_bytes} bytes, and tok_4096 learnt its merges on "
           "Shakespeare's ASCII text, so no merge contains a byte of a Cyrillic letter: one "
           "token per byte")
    outcome = f"measured {truth} tokens, you predicted {prediction:g}"
    if abs(prediction - truth) <= 1:
        return f"{outcome}, so your prediction held. Why {truth}: {why}"
    slips = [
        (n_chars, "one token per character: a Cyrillic letter is 2 UTF-8 bytes, and no merge "
                  "joins them"),
        (2 * n_chars, "2 tokens for every character: the spaces, the comma and the full stop "
                      "are ASCII, 1 byte each"),
        (2 * letters, "the letters alone: the spaces and punctuation marks are tokens too"),
        (3 * n_chars, "3 bytes per character is Chinese; Cyrillic letters take 2, ASCII 1"),
    ]
    slip = next((s for value, s in slips if abs(prediction - value) <= 2),
                "you expected merges to join characters, but none covers Cyrillic"
                if prediction < n_chars else "")
    gap = f"off by {prediction - truth:+g}"
    return (f"{outcome} ({gap}), so your prediction did not hold"
            + (f": it looks like {slip}" if slip else "") + f". Why {truth}: {why}")


# ---- exercise 4 (derive): the per-token perplexity that matches a bits-per-character score

# (bits per character, characters, tokens): a character model, then BPE-like ratios
CASES_4 = [(2.205, 1000, 1000), (2.0, 1000, 400), (1.5, 1234, 300), (3.0, 200, 120)]


def _slips_4(bits: float, n_chars: int, n_tokens: int) -> list[tuple[float, str]]:
    per_token = bits * n_chars / n_tokens          # bits per token
    return [
        (2 ** bits, "that is the perplexity per CHARACTER: a token stands for n_chars / n_tokens "
                    "characters, so each token costs that many times more bits"),
        (2 ** (bits * n_tokens / n_chars), "the ratio is upside down: the text costs "
                                           "bits x n_chars in all, shared by n_tokens tokens"),
        (math.exp(per_token), "you raised e to a loss in BITS: e^x is for nats; a loss in bits "
                              "gives a perplexity of 2^x (or convert: x bits = x ln 2 nats)"),
        (10 ** per_token, "base 10: a loss in bits gives a perplexity of 2^x"),
        (per_token, "that is the loss in bits per token, not a perplexity: the perplexity is "
                    "2 to that power"),
        (math.exp(per_token / math.log(2)), "you DIVIDED by ln 2 to turn bits into nats; 1 bit "
                                            "= ln 2 nats, so multiply: x bits = x ln 2 nats"),
        (per_token * math.log(2), "that is the loss in nats per token, not a perplexity: the "
                                  "perplexity is e to that power"),
        (2 ** (bits * n_chars // n_tokens), "you used integer division (//), which drops the "
                                            "fraction of the exponent: use /"),
        (2 ** (bits * (n_chars // n_tokens)), "you used integer division (//) for the "
                                              "characters per token, which drops its fraction: "
                                              "use /"),
        (2 ** (bits * n_chars / (n_tokens + 1)), "you shared the cost among n_tokens + 1 "
                                                 "predictions; each of the n_tokens tokens is "
                                                 "one prediction"),
        (2 ** (bits * n_chars / (n_tokens - 1)), "you shared the cost among n_tokens - 1 "
                                                 "predictions; each of the n_tokens tokens is "
                                                 "one prediction"),
        (2 ** bits * n_chars / n_tokens, "you scaled the perplexity itself by n_chars / n_tokens; "
                                         "log-probabilities add up over the text, so it is the "
                                         "EXPONENT (the loss) that scales"),
    ]


@checker(4)
def check_4(perplexity_per_token):
    """``perplexity_per_token(bits_per_char, n_chars, n_tokens)`` ->
    2 ** (bits_per_char x n_chars / n_tokens)."""
    for bits, n_chars, n_tokens in CASES_4:
        where = (f"perplexity_per_token({bits}, {n_chars}, {n_tokens}) ({bits} bits per "
                 f"character, {n_chars:,} characters, {n_tokens:,} tokens)")
        try:
            got = run(perplexity_per_token, bits, n_chars, n_tokens)
        except Wrong as err:
            if "OverflowError" not in str(err):
                raise
            raise Wrong(f"{where} overflows ({err}): the whole text's cost, {bits * n_chars:g} "
                        "bits, is too big an exponent for a float (2^1024 is the limit); "
                        "divide by n_tokens BEFORE exponentiating") from None
        if hasattr(got, "item") and getattr(got, "ndim", 0) == 0:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise Wrong(f"{where} should be a number (a Python float), got {got!r}")
        expected = 2 ** (bits * n_chars / n_tokens)
        if math.isclose(got, expected, rel_tol=1e-6):
            continue
        shown = f"{where} is {got:.6g}, expected {expected:.6g}"
        rounded = got in (round(expected), int(expected))
        if rounded and isinstance(got, int):     # round() or int(): a float 4.0 may be `//`
            raise Wrong(f"{shown}: you rounded the perplexity to a whole number; it is a "
                        "float (keep every digit)")
        for value, why in _slips_4(bits, n_chars, n_tokens):
            if math.isclose(got, value, rel_tol=1e-6):
                raise Wrong(f"{shown}: {why}")
        if rounded:
            raise Wrong(f"{shown}: you rounded the perplexity to a whole number; it is a "
                        "float (keep every digit)")
        raise Wrong(f"{shown} (a factor {got / expected:.4g} off): count the whole text's cost "
                    "in bits, share it among the tokens, and turn that mean loss into a "
                    "perplexity")
    return ("2 ** (bits per character x characters / tokens): the text's cost is the same "
            "however it is cut into predictions")
