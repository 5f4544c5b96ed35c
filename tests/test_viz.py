"""helpers.viz.draw_dot: the same graph always gives the same Graphviz source."""
import graphviz
import pytest

from helpers.engine import Value
from helpers.viz import draw_dot

PINNED = """digraph {
	graph [rankdir=LR]
	v0 [label="{ a | data 2.0000 | grad -3.0000 }" shape=record]
	v1 [label="{ b | data -3.0000 | grad 2.0000 }" shape=record]
	v2 [label="{ e | data -6.0000 | grad 1.0000 }" shape=record]
	v2_op [label="*"]
	v2_op -> v2
	v0 -> v2_op
	v1 -> v2_op
	v3 [label="{ c | data 10.0000 | grad 1.0000 }" shape=record]
	v4 [label="{ d | data 4.0000 | grad 1.0000 }" shape=record]
	v4_op [label="+"]
	v4_op -> v4
	v2 -> v4_op
	v3 -> v4_op
}
"""


def small_graph():
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    d.backward()
    return d


def test_source_is_pinned():
    assert draw_dot(small_graph()).source == PINNED


def test_same_graph_same_source_and_no_address_in_repr():
    g1, g2 = draw_dot(small_graph()), draw_dot(small_graph())
    assert g1.source == g2.source
    assert isinstance(g1, graphviz.Digraph)
    assert repr(g1) == "<Digraph: 5 values, 2 ops>"
    assert "0x" not in repr(g1)


def test_rankdir_and_format():
    g = draw_dot(small_graph(), format="png", rankdir="TB")
    assert g.format == "png" and "rankdir=TB" in g.source
    with pytest.raises(ValueError, match="rankdir='XY'.*LR, TB"):
        draw_dot(small_graph(), rankdir="XY")
    with pytest.raises(TypeError, match="Value"):
        draw_dot(3.0)


def test_shared_node_and_special_characters():
    a = Value(1.5, label="x{1}|<y>")
    s = a + a
    g = draw_dot(s)
    assert g.source.count("v0 -> v1_op") == 2  # a is used twice
    assert r"x\{1\}\|\<y\>" in g.source
    assert g.pipe(format="svg").startswith(b"<?xml") or b"<svg" in g.pipe(format="svg")
