"""Checkers for lesson 00's warm-up exercises, one of each thinking kind: predict, then count
(tiny Shakespeare), build (a graph in lesson 01's notation), debug (a planted bug)."""
from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from functools import lru_cache

from helpers.exercises import NotAttempted, Wrong, attempted, checker, expect_equal, same_code

__all__ = ["check_1", "check_2", "check_3", "planted_most_common_pair"]


@lru_cache(maxsize=1)
def _text() -> str:
    from helpers.data import load_shakespeare
    return load_shakespeare()


def _as_number(x):
    """``x`` as a Python float when it is one real number (a Python, NumPy or 0-d torch
    scalar), else None."""
    if isinstance(x, bool):
        return None
    if isinstance(x, numbers.Real):
        return float(x)
    if getattr(x, "ndim", None) == 0 and hasattr(x, "item"):   # 0-d numpy array, torch scalar
        try:
            item = x.item()
        except Exception:
            return None
        return float(item) if isinstance(item, numbers.Real) and not isinstance(item, bool) \
            else None
    return None


@checker(1)
def check_1(prediction, most_common_char, share):
    """``prediction``: the learner's guess (one character), written before counting;
    ``most_common_char`` and ``share``: the most frequent character of tiny Shakespeare and
    its fraction of all characters, counted."""
    if prediction is None or prediction is Ellipsis:
        if not (most_common_char is None and share is None):
            raise Wrong("write your prediction first: store your guess in prediction before "
                        "counting (a prediction made after the count is not a prediction)")
        raise NotAttempted
    if not isinstance(prediction, str) or len(prediction) != 1:
        raise Wrong(f"prediction should be one character (a str of length 1), got {prediction!r}")
    if most_common_char is None or share is None:
        raise Wrong("you have a prediction; now count, and store most_common_char and share")
    text = _text()
    counts = Counter(text)
    (best, how_often), = counts.most_common(1)
    truth = how_often / len(text)
    if not isinstance(most_common_char, str) or len(most_common_char) != 1:
        raise Wrong(f"most_common_char should be a one-character str, got {most_common_char!r}")
    if most_common_char != best:
        said = (f"most_common_char is {most_common_char!r} "
                f"({counts[most_common_char]:,} times); another character occurs more often "
                f"({how_often:,} times)")
        if most_common_char.isalpha():
            raise Wrong(f"{said}: count every character of text, not only letters")
        if most_common_char == prediction:
            raise Wrong(f"{said}: that is your prediction; store the top of the count instead")
        raise Wrong(f"{said}: count every character of text and take the one with the "
                    "largest count")
    number = _as_number(share)
    if number is None:
        raise Wrong(f"share should be one number between 0 and 1, got {share!r}")
    share = number
    if not math.isfinite(share):
        raise Wrong(f"share is {share!r}, not a finite number: divide the count of "
                    f"{best!r} by the length of the text ({len(text):,})")
    if abs(share - 100 * truth) < 0.05:
        raise Wrong(f"share is {share:.4g}: a percentage; give the fraction, {truth:.4f}")
    if abs(share - how_often) < 0.5:
        raise Wrong(f"share is {share:,.0f}: that is the count; divide it by the length of the "
                    f"text ({len(text):,}) to get the fraction {truth:.4f}")
    if abs(share - how_often / len(counts)) < 0.5:
        raise Wrong(f"share is {share:.4f}: the count ({how_often:,}) divided by the number of "
                    f"distinct characters ({len(counts)}); divide by the length of the text "
                    f"({len(text):,}) to get {truth:.4f}")
    if abs(share - truth) > 5e-4:
        other = [c for c, n in counts.items() if c != best and abs(share - n / len(text)) < 5e-5]
        if other:
            raise Wrong(f"share is {share:.4f}, the share of {other[0]!r}; the share of "
                        f"{best!r} is {truth:.4f} ({how_often:,} / {len(text):,})")
        raise Wrong(f"share is {share:.4f}, expected {truth:.4f}: the count of {best!r} "
                    f"({how_often:,}) divided by the length of the text ({len(text):,})")
    outcome = f"{best!r} is {truth:.1%} of the text"
    if prediction == best:
        return f"{outcome}; your prediction held"
    guessed = counts[prediction] / len(text)
    why = (": the space separates every two words, so it comes about once per word, more "
           "often than any letter" if best == " " else "")
    return (f"{outcome}; your prediction {prediction!r} did not hold: it is "
            f"{guessed:.1%} ({counts[prediction]:,} times), {100 * (truth - guessed):.1f} "
            f"points less{why}")


# The graph of d = a*b + c in draw_dot's notation: a box per value, an oval per operation.
EXPECTED_EDGES = {("a", "e_op"), ("b", "e_op"), ("e_op", "e"),
                  ("e", "d_op"), ("c", "d_op"), ("d_op", "d")}
EXPECTED_OPS = {"e_op": "*", "d_op": "+"}


def _edges_and_labels(source: str) -> tuple[set, dict]:
    """(edges, node labels) read from a graphviz source text."""
    edges, labels = set(), {}
    for line in source.splitlines():
        line = line.strip()
        if "->" in line:
            tail, head = line.split("->", 1)
            edges.add((tail.strip().strip('"'), head.split("[")[0].strip().strip('"')))
        elif "[" in line and "label=" in line:
            name = line.split("[", 1)[0].strip().strip('"')
            label = line.split("label=", 1)[1]
            label = label[1:].split('"', 1)[0] if label.startswith('"') else label.split()[0]
            labels[name] = label.rstrip("]")
    return edges, labels


EXPECTED_VALUES = {"a": 2.0, "b": -3.0, "c": 10.0, "e": -6.0, "d": 4.0}
BOX_SHAPES = {"record", "Mrecord", "box", "rect", "rectangle", "square"}


def _attributes(text: str) -> dict:
    """The ``key=value`` attributes of one graphviz source line."""
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^\s\]]+)', text)}


def _nodes(source: str) -> tuple[dict, dict]:
    """(the default node attributes, each declared node's attributes) from a graphviz source."""
    default, nodes = {}, {}
    for line in source.splitlines():
        line = line.strip()
        if line.startswith("node ["):
            default.update(_attributes(line))
        elif "[" in line and "->" not in line and "--" not in line and \
                not line.startswith(("graph [", "edge [")):
            nodes[line.split("[", 1)[0].strip().strip('"')] = _attributes(line.split("[", 1)[1])
    return default, nodes


@checker(2)
def check_2(g2):
    """``g2``: a graphviz.Digraph of d = a*b + c in draw_dot's notation."""
    attempted(g2)
    source = getattr(g2, "source", None)
    if not isinstance(source, str):
        raise Wrong(f"g2 should be a graphviz.Digraph, got {type(g2).__name__}")
    if source.lstrip().startswith(("graph", "strict graph")):
        raise Wrong("g2 is an undirected graphviz.Graph: its edges (a -- e_op) have no direction; "
                    "use graphviz.Digraph, so that the arrows run from the inputs to the result")
    edges, labels = _edges_and_labels(source)
    if not edges:
        raise Wrong("g2 has no edges yet: add them with g2.edge(tail, head)")
    reversed_edges = {(head, tail) for tail, head in EXPECTED_EDGES}
    if edges & reversed_edges and not edges & EXPECTED_EDGES:
        raise Wrong("the edges point backwards: draw them from the inputs towards the result "
                    "(a -> e_op -> e), as draw_dot does")
    missing, extra = EXPECTED_EDGES - edges, edges - EXPECTED_EDGES
    if missing:
        raise Wrong("missing edge(s): " + ", ".join(f"{t} -> {h}" for t, h in sorted(missing)))
    if extra:
        raise Wrong("unexpected edge(s): " + ", ".join(f"{t} -> {h}" for t, h in sorted(extra)))
    default, nodes = _nodes(source)
    for name, value in EXPECTED_VALUES.items():
        if name not in nodes or "label" not in nodes[name]:
            raise Wrong(f"no value box for {name}: declare it with g2.node({name!r}, label) "
                        f"showing its name and value, e.g. '{{ {name} | data {value:.4f} }}'")
        label = nodes[name]["label"]
        if name not in re.findall(r"[A-Za-z_]\w*", label):
            raise Wrong(f"the box of {name} should show its name, {name!r}; its label is {label!r}")
        numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", label)]
        if value not in numbers:
            raise Wrong(f"the box of {name} should show its value {value:g}; its label is "
                        f"{label!r} (e = a*b = 2*(-3) = -6, d = e + c = 4)")
        shape = nodes[name].get("shape", default.get("shape", "ellipse"))
        if shape not in BOX_SHAPES:
            raise Wrong(f"{name} is drawn as shape={shape!r}: values are boxes "
                        "(shape='record' or 'box'), operations ovals")
    for op, symbol in EXPECTED_OPS.items():
        if labels.get(op) != symbol:
            raise Wrong(f"node {op} should be labelled {symbol!r} (the operation), "
                        f"got {labels.get(op, 'no label')!r}")
        shape = nodes.get(op, {}).get("shape", default.get("shape", "ellipse"))
        if shape in BOX_SHAPES:
            raise Wrong(f"{op} is drawn as a box (shape={shape!r}): operations are ovals, "
                        "g2.node(name, symbol, shape='ellipse')")


def planted_most_common_pair(text):
    # Counts the pairs of neighbouring characters, but one line has a bug.
    pairs = Counter(text[i:i + 2] for i in range(0, len(text) - 1, 2))
    return pairs.most_common(1)[0]


# Wrong fixes a learner may make, each a function of the text, with what it does wrong.
def _top(pieces):
    return Counter(pieces).most_common(1)[0]


SLIPS = [
    (lambda t: _top(t[i:i + 2] for i in range(0, len(t) - 1, 2)),
     "it still steps two characters at a time, so it misses every other pair: neighbouring "
     "pairs overlap ('aaaa' holds 'aa' three times)"),
    (lambda t: _top(t[i:i + 2] for i in range(1, len(t) - 1)),
     "it skips the first pair: the range starts at 1, but position 0 starts a pair too"),
    (lambda t: _top(t[i:i + 2] for i in range(len(t) - 2)),
     "it misses the last pair: the last pair starts at len(text) - 2, and range(len(text) - 2) "
     "stops one before it; range(len(text) - 1) includes it"),
    (lambda t: _top(t[i:i + 2] for i in range(0, len(t), 2)),
     "it still steps two characters at a time, so it misses every other pair: neighbouring "
     "pairs overlap ('aaaa' holds 'aa' three times)"),
    (lambda t: _top(a + b for a, b in zip(t, t[2:])),
     "those are characters two apart (text[i], text[i + 2]); neighbours are text[i] and "
     "text[i + 1]"),
    (lambda t: _top(t), "that counts single characters, not pairs"),
    (lambda t: _top(t[i:i + 2] for i in range(len(t) - 1, 0, -2)),
     "it steps two characters at a time from the end, so it misses every other pair"),
]
# Short strings on which the slips above all give different answers, each with one winner.
PAIR_CASES = ["xababab", "aaaa", "abcabcab", "aabab"]


def _call(fn, text):
    """``fn(text)``, as :func:`run` calls it, except that a None result is named (a forgotten
    ``return``) rather than read as a stub: the attempt cell holds a planted function."""
    if fn is None or fn is Ellipsis:
        raise NotAttempted
    if not callable(fn):
        raise Wrong(f"expected a function, got {type(fn).__name__}")
    try:
        result = fn(text)
    except NotImplementedError:
        raise NotAttempted from None
    except Exception as e:  # the learner's bug, reported, not raised
        raise Wrong(f"most_common_pair raised {type(e).__name__}: {e}") from None
    if result is None:
        raise Wrong(f"most_common_pair({text[:10]!r}) returned None: did you forget `return`?")
    return result


@checker(3)
def check_3(most_common_pair):
    """``most_common_pair(text)`` -> (pair, count): the most frequent two consecutive characters
    (the attempt cell holds :func:`planted_most_common_pair`: unchanged, it is "not attempted")."""
    if same_code(most_common_pair, planted_most_common_pair):
        raise NotAttempted
    got = {case: _call(most_common_pair, case) for case in PAIR_CASES}
    for case, result in got.items():
        if (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int)
                and isinstance(result[1], str)):
            raise Wrong(f"most_common_pair({case!r}) returned {result!r}, expected "
                        f"{_top(a + b for a, b in zip(case, case[1:]))!r}: count first, "
                        "pair second; the order is (pair, count), as most_common gives it")
        if isinstance(result, list) and len(result) == 1 and isinstance(result[0], tuple):
            raise Wrong(f"most_common_pair({case!r}) returned {result!r}, a list holding one "
                        "tuple (what most_common(1) gives); return the tuple itself, [0]")
        if not (isinstance(result, tuple) and len(result) == 2):
            raise Wrong(f"most_common_pair({case!r}) should return a (pair, count) tuple, "
                        f"got {result!r}")
        if isinstance(result[0], tuple):
            raise Wrong(f"most_common_pair({case!r}) returned the pair as a tuple, "
                        f"{result[0]!r}: the pair is a two-character string, "
                        f"{''.join(map(str, result[0]))!r} (join the two characters)")
    expected = {case: _top(a + b for a, b in zip(case, case[1:])) for case in PAIR_CASES}
    wrong = [case for case in PAIR_CASES if got[case] != expected[case]]
    if wrong:
        case = wrong[0]
        said = f"most_common_pair({case!r}) is {got[case]!r}, expected {expected[case]!r}"
        for slip, why in SLIPS:
            if all(slip(c) == got[c] for c in PAIR_CASES):
                raise Wrong(f"{said}: {why}")
        raise Wrong(f"{said} (count every pair of neighbours, overlapping: 'aaaa' holds 'aa' "
                    "three times)")
    text = _text()
    result = _call(most_common_pair, text)
    pair, count = _top(a + b for a, b in zip(text, text[1:]))
    expect_equal(result, (pair, count), "most_common_pair(text)")
    return f"{pair!r} occurs {count:,} times"
