"""helpers.viz.draw_dot: one graph always gives one Graphviz source, narrow enough to read."""
import math
import random
import re

import graphviz
import pytest

from helpers.engine import Value
from helpers.viz import draw_dot

PINNED = """digraph {
	graph [margin=0 nodesep=0.12 rankdir=TB ranksep=0.22]
	node [fontname=Helvetica fontsize=10 height=0.2 margin="0.04,0.02"]
	edge [arrowsize=0.5]
	v0 [label="{ a | data 2.0000 | grad -3.0000 }" shape=record]
	v1 [label="{ b | data -3.0000 | grad 2.0000 }" shape=record]
	v2 [label="{ e | data -6.0000 | grad 1.0000 }" shape=record]
	v2_op [label="*" fillcolor="#eeeeee" fontsize=11 height=0.25 margin="0.02,0.01" shape=ellipse style=filled width=0.3]
	v2_op -> v2
	v0 -> v2_op
	v1 -> v2_op
	v3 [label="{ c | data 10.0000 | grad 1.0000 }" shape=record]
	v4 [label="{ d | data 4.0000 | grad 1.0000 }" shape=record]
	v4_op [label="+" fillcolor="#eeeeee" fontsize=11 height=0.25 margin="0.02,0.01" shape=ellipse style=filled width=0.3]
	v4_op -> v4
	v2 -> v4_op
	v3 -> v4_op
}
"""  # noqa: E501 - draw_dot's exact output, verbatim: the op-node lines are as Graphviz writes them


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
    g = draw_dot(small_graph(), format="png", rankdir="LR")
    assert g.format == "png" and "rankdir=LR" in g.source
    assert 'label="a | data 2.0000 | grad -3.0000"' in g.source  # LR: fields stack without braces
    with pytest.raises(ValueError, match="rankdir='XY'.*TB, LR"):
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


def svg_size(graph):
    """(width, height) in points of the rendered SVG."""
    svg = graph.pipe(format="svg").decode()
    width, height = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()
    return float(width), float(height)


def lesson01_neuron():
    """Lesson 01's neuron o = tanh(x1*w1 + x2*w2 + b), every node labelled, after backward."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    both = x1w1 + x2w2
    both.label = "x1*w1 + x2*w2"
    n = both + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward()
    return o, n


def lesson02_neuron():
    """Lesson 02's first neuron: tanh(b + w1*x1 + w2*x2) from n products and n sums."""
    random.seed(42)
    w = [Value(random.uniform(-1, 1), label=f"w{i + 1}") for i in range(2)]
    act = Value(0.0, label="b")
    for i, (wi, xi) in enumerate(zip(w, [2.0, -1.0])):
        x = Value(xi, label=f"x{i + 1}")
        product = wi * x
        product.label = f"w{i + 1}*x{i + 1}"
        act = act + product
    act.label = "n"
    out = act.tanh()
    out.label = "out"
    out.backward()
    return out


def test_lesson_graphs_fit_a_notebook_column():
    """Drawn graphs must fit a notebook column (<= 1,000 pt) so their text stays readable."""
    o, n = lesson01_neuron()
    e2 = (2 * n).exp()
    tanh_from_exp = (e2 - 1) / (e2 + 1)
    tanh_from_exp.backward()
    for graph in (small_graph(), o, tanh_from_exp, lesson02_neuron()):
        width, height = svg_size(draw_dot(graph))
        assert width <= 1000, f"graph {width:.0f} pt wide: too wide for a notebook column"
    assert svg_size(draw_dot(o))[0] <= 400


def test_labels_and_gradients_are_drawn():
    out = lesson02_neuron()
    source = draw_dot(out).source
    for label in ("w1", "x1", "w1*x1", "n", "out"):
        assert f"{{ {label} | data" in source, label
    assert f"grad {1 - math.tanh(out._prev[0].data) ** 2:.4f}" in source   # d out / d n, not 0
