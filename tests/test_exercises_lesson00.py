"""Lesson 00's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers "wrong" with a message that says what is wrong."""
from collections import Counter

import graphviz
import numpy as np
import pytest
import torch
from exercise_support import expect, stub

from helpers.data import load_shakespeare
from helpers.exercises import lesson00 as ex

TEXT = load_shakespeare()


# ---- Exercise 1 (predict): the most common character, predicted then counted

COUNTS = Counter(TEXT)
SPACE_SHARE = COUNTS[" "] / len(TEXT)


def test_1_stub_and_solution():
    assert ex.check_1(None, None, None).status == "todo"
    verdict = ex.check_1(" ", " ", SPACE_SHARE)          # the worked solution
    assert verdict.ok and "15.2%" in verdict.message and "your prediction held" in verdict.message


@pytest.mark.parametrize("prediction, words", [
    # the usual guess, the most common letter: an honest wrong prediction is still ✅
    ("e", ["' ' is 15.2% of the text", "your prediction 'e' did not hold", "8.5%", "94,611",
           "6.7 points less", "separates every two words"]),
    # a character that never occurs
    ("#", ["your prediction '#' did not hold", "0.0% (0 times)", "15.2 points less"]),
])
def test_1_wrong_prediction_is_reported_not_failed(prediction, words):
    expect(ex.check_1(prediction, " ", SPACE_SHARE), "correct", *words)


@pytest.mark.parametrize("prediction, char, share, words", [
    # the prediction made, the counting not done yet
    ("e", None, None, ["now count"]),
    # counted letters only
    (" ", "e", COUNTS["e"] / len(TEXT), ["most_common_char is 'e'", "not only letters"]),
    # a percentage instead of a fraction
    (" ", " ", 100 * SPACE_SHARE, ["percentage", "0.1523"]),
    # the count itself, not divided
    ("e", " ", COUNTS[" "], ["share is 169,892", "that is the count", "1,115,394"]),
    # divided by the number of distinct characters
    (" ", " ", COUNTS[" "] / len(set(TEXT)),
     ["share is 2613.7231", "number of distinct characters (65)", "length of the text"]),
    # the share of the wrong character (the predicted one)
    ("e", " ", COUNTS["e"] / len(TEXT), ["share is 0.0848, the share of 'e'", "0.1523"]),
    # not one character
    ("space", " ", SPACE_SHARE, ["one character"]),
    (" ", " e", SPACE_SHARE, ["one-character"]),
    (" ", " ", "15%", ["number between 0 and 1"]),
    (" ", " ", np.array([SPACE_SHARE]), ["one number between 0 and 1"]),
    # the newline, not a letter: not told "not only letters"
    (" ", "\n", COUNTS["\n"] / len(TEXT), ["most_common_char is '\\n'", "take the one with the "
                                            "largest count"]),
    ("\n", "\n", COUNTS["\n"] / len(TEXT), ["that is your prediction"]),
    # not a number that can be compared (abs(nan - truth) > tolerance is False)
    (" ", " ", float("nan"), ["share is nan", "not a finite number"]),
    (" ", " ", float("inf"), ["share is inf", "not a finite number"]),
    # counted, but no prediction written down
    (None, " ", SPACE_SHARE, ["write your prediction first"]),
    (None, " ", None, ["write your prediction first"]),
])
def test_1_wrong(prediction, char, share, words):
    expect(ex.check_1(prediction, char, share), "wrong", *words)
    if char == "\n":
        assert "not only letters" not in ex.check_1(prediction, char, share).message


@pytest.mark.parametrize("share", [
    np.float32(SPACE_SHARE), np.float64(SPACE_SHARE), np.array(SPACE_SHARE),
    torch.tensor(SPACE_SHARE), torch.tensor(SPACE_SHARE, dtype=torch.float64)])
def test_1_numpy_and_torch_scalars_are_numbers(share):
    expect(ex.check_1(" ", " ", share), "correct", "15.2%")


# ---- Exercise 2 (build): d = a*b + c in draw_dot's notation

VALUES = {"a": 2.0, "b": -3.0, "c": 10.0, "e": -6.0, "d": 4.0}


def solution_2(values=VALUES, graph=graphviz.Digraph, op_shape="ellipse", edges=None):
    g2 = graph(graph_attr={"rankdir": "TB"}, node_attr={"shape": "record"})
    for name, value in values.items():
        g2.node(name, f"{{ {name} | data {value:.4f} }}")
    g2.node("e_op", "*", shape=op_shape)
    g2.node("d_op", "+", shape=op_shape)
    for tail, head in edges if edges is not None else sorted(ex.EXPECTED_EDGES):
        g2.edge(tail, head)
    return g2


def test_2_stub_and_solution():
    assert ex.check_2(None).status == "todo"
    assert ex.check_2(solution_2()).ok
    plain = graphviz.Digraph()                             # boxes as plain 'box' shapes
    for name, value in VALUES.items():
        plain.node(name, f"{name} = {value:g}", shape="box")
    plain.node("e_op", "*")
    plain.node("d_op", "+")
    for tail, head in sorted(ex.EXPECTED_EDGES):
        plain.edge(tail, head)
    assert ex.check_2(plain).ok


def edges_only():                                          # no value boxes declared at all
    g = graphviz.Digraph()
    g.node("e_op", "*")
    g.node("d_op", "+")
    for tail, head in sorted(ex.EXPECTED_EDGES):
        g.edge(tail, head)
    return g


def swapped_ops():                                         # + where * belongs
    g = solution_2()
    g.body = [line.replace('"*"', "PLUS").replace('"+"', '"*"').replace("PLUS", '"+"')
              for line in g.body]
    return g


@pytest.mark.parametrize("make, words", [
    (lambda: graphviz.Digraph(), ["no edges"]),
    (lambda: solution_2(graph=graphviz.Graph), ["undirected", "graphviz.Digraph"]),
    (lambda: solution_2(edges=[(h, t) for t, h in sorted(ex.EXPECTED_EDGES)]), ["backwards"]),
    (lambda: solution_2(edges=sorted(ex.EXPECTED_EDGES - {("c", "d_op")})),
     ["missing edge", "c -> d_op"]),
    (lambda: solution_2(edges=sorted(ex.EXPECTED_EDGES | {("a", "d_op")})),
     ["unexpected edge", "a -> d_op"]),
    (edges_only, ["no value box for a"]),
    (lambda: solution_2(values=dict(VALUES, e=6.0)), ["box of e", "value -6", "6.0000"]),
    (lambda: solution_2(values=dict(VALUES, d=16.0)), ["box of d", "value 4"]),
    (lambda: solution_2(op_shape="record"), ["e_op is drawn as a box"]),
    (swapped_ops, ["e_op", "'*'"]),
    (lambda: "a -> e_op", ["graphviz.Digraph"]),               # a string, not a graph
])
def test_2_wrong(make, words):
    expect(ex.check_2(make()), "wrong", *words)


# ---- Exercise 3 (debug): the most common pair of neighbouring characters

def planted(text):
    # the attempt cell as the learner finds it (the same code as ex.planted_most_common_pair)
    pairs = Counter(text[i:i + 2] for i in range(0, len(text) - 1, 2))
    return pairs.most_common(1)[0]


def most_common_pair(text):                              # the worked solution
    pairs = Counter(text[i:i + 2] for i in range(len(text) - 1))
    return pairs.most_common(1)[0]


def test_3_stub_and_solution():
    assert ex.check_3(stub).status == "todo"
    assert ex.check_3(planted).status == "todo"           # unchanged: not attempted yet
    verdict = ex.check_3(most_common_pair)
    assert verdict.ok and "'e '" in verdict.message


def two_apart(text):                                     # text[i], text[i + 2]
    return Counter(a + b for a, b in zip(text, text[2:])).most_common(1)[0]


def still_steps_by_two(text):                            # the end changed, the step kept
    pairs = Counter(text[i:i + 2] for i in range(0, len(text), 2))
    return pairs.most_common(1)[0]


def skips_the_first_pair(text):                          # range starts at 1
    pairs = Counter(text[i:i + 2] for i in range(1, len(text) - 1))
    return pairs.most_common(1)[0]


def misses_the_last_pair(text):                          # range(len(text) - 2)
    pairs = Counter(text[i:i + 2] for i in range(len(text) - 2))
    return pairs.most_common(1)[0]


def pairs_as_tuples(text):                               # zip without joining the characters
    return Counter(zip(text, text[1:])).most_common(1)[0]


def forgets_return(text):                                # the bug fixed, the return lost
    pairs = Counter(text[i:i + 2] for i in range(len(text) - 1))
    pairs.most_common(1)[0]


@pytest.mark.parametrize("wrong, words", [
    (still_steps_by_two, ["xababab", "expected ('ab', 3)", "two characters at a time"]),
    (skips_the_first_pair, ["most_common_pair('aaaa') is ('aa', 2), expected ('aa', 3)",
                            "skips the first pair", "position 0"]),
    (misses_the_last_pair, ["xababab", "('ab', 2), expected ('ab', 3)", "misses the last pair"]),
    (two_apart, ["expected ('ab', 3)", "two apart"]),
    (lambda text: Counter(text).most_common(1)[0], ["single characters"]),
    (pairs_as_tuples, ["pair as a tuple", "('a', 'b')", "'ab'"]),
    (lambda text: Counter(text[i:i + 2] for i in range(len(text) - 1)).most_common(1),
     ["a list holding one tuple", "[0]"]),
    (lambda text: most_common_pair(text)[0], ["tuple"]),
    (lambda text: text[10 ** 9], ["IndexError"]),
    (lambda text: most_common_pair(text)[::-1], ["('ab', 3)", "(3, 'ab')", "count first",
                                                 "(pair, count)"]),
    (forgets_return, ["returned None", "forget `return`"]),
])
def test_3_wrong(wrong, words):
    expect(ex.check_3(wrong), "wrong", *words)


# ---- the environment check lesson 00 runs (helpers.course.environment_report)

def test_environment_report_prints_a_line_for_a_missing_data_file(tmp_path, monkeypatch):
    from helpers import data
    from helpers.course import environment_report

    real = data.data_dir()
    (tmp_path / "SHA256SUMS").write_text((real / "SHA256SUMS").read_text())
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))    # an empty data folder
    report = environment_report()                           # must not raise
    assert report["python"].startswith("ok") or "not supported" in report["python"]
    assert report["torch"].startswith("ok (") or "pins torch" in report["torch"]
    missing = [k for k in report if k.startswith("data/")]
    assert missing and all("missing" in report[k] for k in missing)


@pytest.mark.parametrize("minor, expected", [
    ("11", "ok (3.11)"),
    ("12", "ok (3.12, supported; note: the stored outputs were made with 3.11)"),
    ("14", "ok (3.14, supported; note: the stored outputs were made with 3.11)"),
    ("10", "3.10: not supported; use Python 3.11"),
])
def test_environment_report_calls_python_3_12_to_3_14_supported(monkeypatch, minor, expected):
    import platform

    from helpers.course import environment_report

    monkeypatch.setattr(platform, "python_version_tuple", lambda: ("3", minor, "0"))
    assert environment_report()["python"].startswith(expected)
