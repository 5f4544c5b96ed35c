"""Lesson 00's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers "wrong" with a message that says what is wrong."""
from collections import Counter

import graphviz
import pytest

from helpers.data import load_shakespeare
from helpers.exercises import lesson00 as ex

TEXT = load_shakespeare()


# ---- Exercise 1: lines and the most common character

def test_1_stub_and_solution():
    assert ex.check_1(None, None).status == "todo"
    # the worked solution, as in the notebook
    n_lines = TEXT.count("\n")
    most_common_char, how_often = Counter(TEXT).most_common(1)[0]
    assert ex.check_1(n_lines, most_common_char).ok


@pytest.mark.parametrize("n_lines, char, words", [
    (len(TEXT.split("\n")), " ", ["one too many"]),               # split leaves an empty piece
    (40_000, "e", ["'e'", "more often"]),                           # the most common letter
    (40_000, " e", ["one-character"]),                              # not one character
    ("40000", " ", ["int"]),                                        # wrong type
    (len(TEXT), " ", ["n_lines", "expected 40000"]),                # characters, not lines
])
def test_1_wrong(n_lines, char, words):
    verdict = ex.check_1(n_lines, char)
    assert verdict.status == "wrong"
    assert all(w in verdict.message for w in words), verdict.message


# ---- Exercise 2: d = a*b + c in draw_dot's notation

def solution_2():
    g2 = graphviz.Digraph(graph_attr={"rankdir": "TB"}, node_attr={"shape": "record"})
    g2.node("a", "{ a | data 2.0000 }")
    g2.node("b", "{ b | data -3.0000 }")
    g2.node("c", "{ c | data 10.0000 }")
    g2.node("e", "{ e | data -6.0000 }")
    g2.node("d", "{ d | data 4.0000 }")
    g2.node("e_op", "*", shape="ellipse")
    g2.node("d_op", "+", shape="ellipse")
    for tail, head in [("a", "e_op"), ("b", "e_op"), ("e_op", "e"),
                       ("e", "d_op"), ("c", "d_op"), ("d_op", "d")]:
        g2.edge(tail, head)
    return g2


def test_2_stub_and_solution():
    assert ex.check_2(None).status == "todo"
    assert ex.check_2(solution_2()).ok


def test_2_wrong():
    empty = graphviz.Digraph()
    assert "no edges" in ex.check_2(empty).message
    backwards = graphviz.Digraph()
    for tail, head in ex.EXPECTED_EDGES:
        backwards.edge(head, tail)
    assert "backwards" in ex.check_2(backwards).message
    no_c = solution_2()
    no_c.body = [line for line in no_c.body if "c -> d_op" not in line]
    verdict = ex.check_2(no_c)
    assert verdict.status == "wrong"
    assert "missing edge" in verdict.message and "c -> d_op" in verdict.message
    swapped_ops = graphviz.Digraph()                     # + where * belongs
    swapped_ops.node("e_op", "+")
    swapped_ops.node("d_op", "*")
    for tail, head in ex.EXPECTED_EDGES:
        swapped_ops.edge(tail, head)
    verdict = ex.check_2(swapped_ops)
    assert verdict.status == "wrong" and "e_op" in verdict.message and "'*'" in verdict.message
    assert ex.check_2("a -> e").status == "wrong"        # a string, not a graph


# ---- Exercise 3: the most common pair of neighbouring characters

def most_common_pair(text):                              # the worked solution
    pairs = Counter(a + b for a, b in zip(text, text[1:]))
    return pairs.most_common(1)[0]


def test_3_stub_and_solution():
    def stub(text):
        raise NotImplementedError
    assert ex.check_3(stub).status == "todo"
    verdict = ex.check_3(most_common_pair)
    assert verdict.ok and "'e '" in verdict.message


def test_3_wrong():
    def non_overlapping(text):                           # steps by 2: misses half the pairs
        pairs = Counter(text[i:i + 2] for i in range(0, len(text) - 1, 2))
        return pairs.most_common(1)[0]

    def most_common_char(text):
        return Counter(text).most_common(1)[0]

    def pair_only(text):
        return most_common_pair(text)[0]

    def crashes(text):
        return text[10 ** 9]

    for wrong, words in [(non_overlapping, ["xababab", "expected ('ab', 3)"]),
                         (most_common_char, ["expected"]),
                         (pair_only, ["tuple"]),
                         (crashes, ["IndexError"])]:
        verdict = ex.check_3(wrong)
        assert verdict.status == "wrong", wrong.__name__
        assert all(w in verdict.message for w in words), verdict.message


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
