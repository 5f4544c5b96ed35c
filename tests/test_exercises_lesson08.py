"""Lesson 08's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers "wrong" with a message that names the mistake."""
import math
import re
from collections import Counter

import pytest
import regex
from exercise_support import stub

from helpers import bpe
from helpers.data import load_shakespeare
from helpers.exercises import lesson08 as ex


@pytest.fixture(scope="module")
def gpt2():
    return bpe.BPETokenizer.gpt2()


@pytest.fixture(scope="module")
def tok_4096():
    text = load_shakespeare()
    return bpe.BPETokenizer.train(text[:int(0.9 * len(text))], vocab_size=4096)


# ---- exercise 1 (build): encode_fast --------------------------------------------------

def encode_chunk(piece, ranks, pick=min):        # the notebook's worked solution, with `pick`
    parts = [bytes([b]) for b in piece]
    while len(parts) > 1:
        candidates = [(ranks[a + b], i) for i, (a, b) in enumerate(zip(parts, parts[1:]))
                      if a + b in ranks]
        if not candidates:
            break
        _, i = pick(candidates)
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return [ranks[p] for p in parts]


def encode_fast(text, ranks):
    return [i for chunk in regex.findall(bpe.GPT2_SPLIT_PATTERN, text)
            for i in encode_chunk(chunk.encode("utf-8"), ranks)]


def highest_then_leftmost(candidates):
    return max(candidates, key=lambda rank_i: (rank_i[0], -rank_i[1]))


def rightmost_lowest(candidates):               # lowest rank, the RIGHTMOST on a tie
    return min(candidates, key=lambda rank_i: (rank_i[0], -rank_i[1]))


def encode_highest_rank(text, ranks):
    return [i for chunk in regex.findall(bpe.GPT2_SPLIT_PATTERN, text)
            for i in encode_chunk(chunk.encode("utf-8"), ranks, pick=highest_then_leftmost)]


def encode_first_found(text, ranks):
    return [i for chunk in regex.findall(bpe.GPT2_SPLIT_PATTERN, text)
            for i in encode_chunk(chunk.encode("utf-8"), ranks,
                                  pick=lambda c: min(c, key=lambda rank_i: rank_i[1]))]


def encode_most_frequent(text, ranks):
    ids = []
    for chunk in regex.findall(bpe.GPT2_SPLIT_PATTERN, text):
        parts = [bytes([b]) for b in chunk.encode("utf-8")]
        while True:
            counts = Counter(p for p in zip(parts, parts[1:]) if p[0] + p[1] in ranks)
            if not counts:
                break
            pair = counts.most_common(1)[0][0]
            out, i = [], 0
            while i < len(parts):
                if tuple(parts[i:i + 2]) == pair:
                    out.append(pair[0] + pair[1])
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        ids += [ranks[p] for p in parts]
    return ids


def encode_longest_match(text, ranks):
    ids = []
    for chunk in regex.findall(bpe.GPT2_SPLIT_PATTERN, text):
        piece = chunk.encode("utf-8")
        while piece:
            end = max(j for j in range(1, len(piece) + 1) if piece[:j] in ranks)
            ids.append(ranks[piece[:end]])
            piece = piece[end:]
    return ids


def encode_no_pre_split(text, ranks):
    return encode_chunk(text.encode("utf-8"), ranks)


def encode_raw_bytes(text, ranks):               # unmerged bytes as their byte values
    ids = encode_fast(text, ranks)
    byte_of = {v: k[0] for k, v in ranks.items() if len(k) == 1}
    return [byte_of[i] if i < 256 else i for i in ids]


def encode_str_pieces(text, ranks):              # forgot .encode(): str pieces
    out = []
    for chunk in regex.findall(bpe.GPT2_SPLIT_PATTERN, text):
        parts = list(chunk)
        while len(parts) > 1:
            found = [(ranks[a + b], i) for i, (a, b) in enumerate(zip(parts, parts[1:]))
                     if a + b in ranks]
            if not found:
                break
            _, i = min(found)
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        out += [ranks[p] for p in parts]
    return out


def encode_with_re(text, ranks):                  # the standard library's re, not regex
    return [i for chunk in re.findall(bpe.GPT2_SPLIT_PATTERN, text)
            for i in encode_chunk(chunk.encode("utf-8"), ranks)]


def test_ex1(gpt2):
    assert ex.check_1(stub, gpt2).status == "todo"
    assert ex.check_1(encode_fast, gpt2).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (encode_highest_rank, "HIGHEST rank"),
    (lambda text, ranks: [i for chunk in regex.findall(bpe.GPT2_SPLIT_PATTERN, text)
                          for i in encode_chunk(chunk.encode(), ranks, pick=rightmost_lowest)],
     "RIGHTMOST"),
    (encode_first_found, "first pair (from the left)"),
    (encode_most_frequent, "most frequent pair"),
    (encode_longest_match, "longest piece"),
    (encode_no_pre_split, "GPT2_SPLIT_PATTERN"),
    (encode_raw_bytes, "ranks[bytes([b])]"),
    (encode_str_pieces, ".encode('utf-8')"),
    (encode_with_re, "use the regex module"),
    (lambda text, ranks: encode_fast(text.replace(" ", ""), ranks), "do not decode to the text"),
    (lambda text, ranks: [bytes([b]) for b in text.encode()], "bytes pieces"),
    (lambda text, ranks: "".join(map(str, encode_fast(text, ranks))), "list of token ids"),
])
def test_ex1_rejects(gpt2, wrong, words):
    verdict = ex.check_1(wrong, gpt2)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


def test_ex1_needs_gpt2(tok_4096):
    verdict = ex.check_1(encode_fast, tok_4096)
    assert verdict.status == "wrong" and "GPT-2 tokenizer" in verdict.message


# ---- exercise 2 (debug): merge_at_matches -------------------------------------------------

def merge_at_matches(ids, pair, new_id):         # the notebook's worked solution
    starts = set()
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair and i - 1 not in starts:
            starts.add(i)
    out = []
    for i, token in enumerate(ids):
        if i in starts:
            out.append(new_id)
        elif i - 1 not in starts:
            out.append(token)
    return out


def planted_renamed(ids, pair, new_id):          # the planted bug, cosmetically changed
    found = {k for k in range(len(ids) - 1) if (ids[k], ids[k + 1]) == pair}
    result = []
    for k, t in enumerate(ids):
        if k in found:
            result.append(new_id)
        elif k - 1 not in found:
            result.append(t)
    return result


def merge_keeps_second(ids, pair, new_id):
    return [new_id if (t, n) == pair else t for t, n in zip(ids, list(ids[1:]) + [None])]


def merge_from_the_right(ids, pair, new_id):
    out, i = [], len(ids) - 1
    while i >= 0:
        if i >= 1 and (ids[i - 1], ids[i]) == pair:
            out.append(new_id)
            i -= 2
        else:
            out.append(ids[i])
            i -= 1
    return out[::-1]


def merge_first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [new_id] + ids[i + 2:]
    return list(ids)


def merge_without_runs(ids, pair, new_id):       # a "fix" that drops overlapping runs
    starts = {i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == pair}
    starts = {i for i in starts if i - 1 not in starts and i + 1 not in starts}
    return [new_id if i in starts else t for i, t in enumerate(ids) if i - 1 not in starts]


def merge_discard_after_each(ids, pair, new_id):  # a "fix" that drops too many starts
    starts = {i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == pair}
    for i in sorted(starts):
        starts.discard(i + 1)
    return [new_id if i in starts else t for i, t in enumerate(ids) if i - 1 not in starts]


def merge_in_place(ids, pair, new_id):
    merged = merge_at_matches(ids, pair, new_id)
    ids[:] = merged
    return merged


def test_ex2():
    assert ex.check_2(ex.planted_merge).status == "todo"
    assert ex.check_2(stub).status == "todo"
    assert ex.check_2(merge_at_matches).status == "correct"
    assert ex.check_2(bpe.merge).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (planted_renamed, "merged as well"),
    (planted_renamed, "the tokens read 'aaaa', not 'aaa'"),
    (merge_keeps_second, "second token is kept"),
    (merge_from_the_right, "from the right"),
    (merge_first_only, "only the first occurrence"),
    (merge_discard_after_each, "merges only its first pair"),
    (merge_without_runs, "left out altogether"),
    (merge_in_place, "changed the list"),
    (lambda ids, pair, new_id: [new_id], "expected"),
])
def test_ex2_rejects(wrong, words):
    verdict = ex.check_2(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


# ---- exercise 3 (predict): a Russian line under tok_4096 ----------------------------------

def test_ex3(tok_4096):
    measured = len(tok_4096.encode_ordinary(ex.RUSSIAN))
    assert measured == len(ex.RUSSIAN.encode("utf-8")) == 61
    assert ex.check_3(..., ..., tok_4096).status == "todo"
    assert ex.check_3(None, None, tok_4096).status == "todo"
    verdict = ex.check_3(61, measured, tok_4096)
    assert verdict.status == "correct" and "prediction held" in verdict.message
    assert ex.check_3(60, measured, tok_4096).status == "correct"      # one counting slip


@pytest.mark.parametrize("prediction, words", [
    (35, "one token per character"),
    (70, "ASCII, 1 byte each"),
    (52, "the letters alone"),
    (105, "Chinese"),
    (12, "it looks like you expected merges to join characters, but none covers Cyrillic"),
    (90, "off by +29"),
])
def test_ex3_wrong_prediction_is_reported_not_failed(tok_4096, prediction, words):
    # an honest prediction that did not hold: correct measurement, so ✅ with the gap named
    verdict = ex.check_3(prediction, 61, tok_4096)
    assert verdict.status == "correct", verdict.message
    assert "did not hold" in verdict.message and words in verdict.message, verdict.message


@pytest.mark.parametrize("prediction, measured, words", [
    (61, ..., "now measure"),
    (61, 35, "35 characters, not tokens"),
    (61, 38, "GPT-2's count"),
    (61, 1.743, "a ratio?"),
    (61, list(range(61)), "store their number"),
    (61, 13, "encodes the line into 61 tokens"),
    ("61", 61, "number of tokens"),
])
def test_ex3_rejects(tok_4096, prediction, measured, words):
    verdict = ex.check_3(prediction, measured, tok_4096)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


def test_ex3_needs_tok_4096(gpt2):
    verdict = ex.check_3(61, 61, gpt2)
    assert verdict.status == "wrong" and "4,096-token" in verdict.message


# ---- exercise 4 (derive): the per-token perplexity that matches bits per character ----------

def perplexity_per_token(bits_per_char, n_chars, n_tokens):    # the notebook's solution
    nats_in_all = bits_per_char * n_chars * math.log(2)
    return math.exp(nats_in_all / n_tokens)


def test_ex4():
    assert ex.check_4(stub).status == "todo"
    assert ex.check_4(perplexity_per_token).status == "correct"
    assert ex.check_4(lambda b, c, t: (2 ** b) ** (c / t)).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (lambda b, c, t: 2 ** b, "perplexity per CHARACTER"),
    (lambda b, c, t: 2 ** (b * t / c), "upside down"),
    (lambda b, c, t: math.exp(b * c / t), "raised e to a loss in BITS"),
    (lambda b, c, t: 10 ** (b * c / t), "base 10"),
    (lambda b, c, t: b * c / t, "loss in bits per token"),
    (lambda b, c, t: b * c / t * math.log(2), "loss in nats per token"),
    (lambda b, c, t: 2 ** b * c / t, "EXPONENT"),
    (lambda b, c, t: 2 ** (b * c // t), "integer division"),
    (lambda b, c, t: 2 ** (b * (c // t)), "integer division"),
    (lambda b, c, t: 2 ** (b * c / (t + 1)), "n_tokens + 1"),
    (lambda b, c, t: 2 ** (b * c / (t - 1)), "n_tokens - 1"),
    (lambda b, c, t: 2 ** (b * c / t) + 1, "a factor"),
    (lambda b, c, t: math.exp(b * c / math.log(2) / t), "DIVIDED by ln 2"),
    (lambda b, c, t: round(2 ** (b * c / t)), "rounded"),
    (lambda b, c, t: int(2 ** (b * c / t)), "rounded"),
    (lambda b, c, t: (2 ** (b * c)) ** (1 / t), "overflows"),
    (lambda b, c, t: math.exp(b * c * math.log(2)) ** (1 / t), "overflows"),
    (lambda b, c, t: "45", "a number"),
])
def test_ex4_rejects(wrong, words):
    verdict = ex.check_4(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message
