"""Checkers for lesson 00's warm-up exercises (plain Python, tiny Shakespeare, graphviz)."""
from __future__ import annotations

from collections import Counter
from functools import lru_cache

from helpers.exercises import Wrong, attempted, checker, expect_equal, run

__all__ = ["check_1", "check_2", "check_3"]


@lru_cache(maxsize=1)
def _text() -> str:
    from helpers.data import load_shakespeare
    return load_shakespeare()


@checker(1)
def check_1(n_lines, most_common_char):
    """``n_lines``: the number of lines of tiny Shakespeare (an int); ``most_common_char``:
    its most frequent character (a one-character str)."""
    attempted(n_lines, most_common_char)
    text = _text()
    if not isinstance(n_lines, int) or isinstance(n_lines, bool):
        raise Wrong(f"n_lines should be an int, got {type(n_lines).__name__}")
    expected_lines = len(text.splitlines())
    if n_lines == expected_lines + 1:
        raise Wrong(f"n_lines is {n_lines:,}, one too many: the text ends with a newline, "
                    "so splitting at '\\n' leaves an empty last piece")
    expect_equal(n_lines, expected_lines, "n_lines")
    if not isinstance(most_common_char, str) or len(most_common_char) != 1:
        raise Wrong(f"most_common_char should be a one-character str, got {most_common_char!r}")
    counts = Counter(text)
    expected_char, how_often = counts.most_common(1)[0]
    if most_common_char != expected_char:
        raise Wrong(f"most_common_char is {most_common_char!r} "
                    f"({counts[most_common_char]:,} times); "
                    f"another character occurs more often ({how_often:,} times)")


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


@checker(2)
def check_2(g2):
    """``g2``: a graphviz.Digraph of d = a*b + c in draw_dot's notation."""
    attempted(g2)
    source = getattr(g2, "source", None)
    if not isinstance(source, str):
        raise Wrong(f"g2 should be a graphviz.Digraph, got {type(g2).__name__}")
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
    for op, symbol in EXPECTED_OPS.items():
        if labels.get(op) != symbol:
            raise Wrong(f"node {op} should be labelled {symbol!r} (the operation), "
                        f"got {labels.get(op, 'no label')!r}")


@checker(3)
def check_3(most_common_pair):
    """``most_common_pair(text)`` -> (pair, count): the most frequent two consecutive characters."""
    cases = ["xababab", "aaaa", "abcabcab"]          # each with one clear winner
    for case in cases:
        got = run(most_common_pair, case)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Wrong(f"most_common_pair({case!r}) should return a (pair, count) tuple, "
                        f"got {got!r}")
        pairs = Counter(a + b for a, b in zip(case, case[1:]))
        pair, count = pairs.most_common(1)[0]
        if got != (pair, count):
            raise Wrong(f"most_common_pair({case!r}) is {got!r}, expected {(pair, count)!r} "
                        "(count every pair of neighbours, overlapping: 'aaaa' has 3 pairs 'aa')")
    text = _text()
    got = run(most_common_pair, text)
    pair, count = Counter(a + b for a, b in zip(text, text[1:])).most_common(1)[0]
    expect_equal(got, (pair, count), "most_common_pair(text)")
    return f"{pair!r} occurs {count:,} times"
