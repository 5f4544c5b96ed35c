"""Drawing a :class:`~helpers.engine.Value` graph with Graphviz, used in lessons 01-02.

``draw_dot(root)`` gives one small record per value (``label | data | grad``, the
label only if the value has one) and one small oval per operation, wired
child -> op -> result, top to bottom so that the picture fits a notebook column.
Node names are ``v0, v1, ...`` in topological order (never ``id()``), so the same
graph gives the same ``.source`` text on every run and every machine; only the
rendered SVG depends on the Graphviz version.
"""
from __future__ import annotations

import graphviz

from helpers.engine import Value, topological_order  # noqa: F401  (Value: for the type hints)

__all__ = ["draw_dot", "ValueGraph"]

RANKDIRS = ("TB", "LR", "BT", "RL")

# Small fonts and tight spacing: a typical lesson graph must fit a notebook column
# (at most ~1,000 pt wide) and still be readable there.
GRAPH_STYLE = {"nodesep": "0.12", "ranksep": "0.22", "margin": "0"}
NODE_STYLE = {"fontname": "Helvetica", "fontsize": "10", "height": "0.2", "margin": "0.04,0.02"}
EDGE_STYLE = {"arrowsize": "0.5"}
OP_STYLE = {"shape": "ellipse", "fontsize": "11", "width": "0.3", "height": "0.25",
            "margin": "0.02,0.01", "style": "filled", "fillcolor": "#eeeeee"}


class ValueGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose repr is a summary, not a memory address.

    Jupyter shows it as the rendered picture; its text form reads e.g.
    ``<Digraph: 7 values, 3 ops>``.
    """

    def __init__(self, *args, n_values: int = 0, n_ops: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.n_values = n_values
        self.n_ops = n_ops

    def __repr__(self) -> str:
        return f"<Digraph: {self.n_values} values, {self.n_ops} ops>"


def _escape(text: str) -> str:
    """Protect the characters that have a meaning inside a Graphviz record label."""
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text


def draw_dot(root: Value, format: str = "svg", rankdir: str = "TB") -> ValueGraph:
    """The computation graph that produced ``root``, as a Graphviz digraph.

    Works for any object shaped like :class:`~helpers.engine.Value` (``data``, ``grad``,
    ``_prev``, ``_op`` and optionally ``label``), so lesson 01 can draw its own
    hand-built Values too. Each value is a small record (its ``label`` if it has one,
    then ``data`` and ``grad``), each operation a small oval.

    ``rankdir`` is the direction the graph flows: "TB" (top to bottom, the default,
    which keeps a graph narrow enough for a notebook column), "LR" (left to right),
    "BT" or "RL".
    """
    if not all(hasattr(root, name) for name in ("data", "grad", "_prev", "_op")):
        raise TypeError(f"draw_dot draws a Value's graph; got {type(root).__name__}, "
                        "which has no data/grad/_prev/_op")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_dot: rankdir={rankdir!r} is not a Graphviz direction; "
                         f"use one of {', '.join(RANKDIRS)}")
    nodes = topological_order(root)
    names = {id(v): f"v{i}" for i, v in enumerate(nodes)}
    n_ops = sum(1 for v in nodes if v._op)
    dot = ValueGraph(format=format, n_values=len(nodes), n_ops=n_ops,
                     graph_attr=GRAPH_STYLE | {"rankdir": rankdir},
                     node_attr=NODE_STYLE, edge_attr=EDGE_STYLE)
    for v in nodes:
        name = names[id(v)]
        dot.node(name, label=_record(v, rankdir), shape="record")
        if v._op:
            dot.node(name + "_op", label=_escape(v._op), **OP_STYLE)
            dot.edge(name + "_op", name)
            for child in v._prev:
                dot.edge(names[id(child)], name + "_op")
    return dot


def _record(v: Value, rankdir: str) -> str:
    """``label | data | grad`` as one record, stacked so the box stays narrow.

    In a top-to-bottom graph a record's top-level fields sit side by side, so the
    fields are wrapped in braces to stack them; left to right, the other way round.
    """
    fields = [f"data {v.data:.4f}", f"grad {v.grad:.4f}"]
    label = getattr(v, "label", "")
    if label:
        fields.insert(0, _escape(label))
    body = " | ".join(fields)
    return f"{{ {body} }}" if rankdir in ("TB", "BT") else body
