"""Drawing a :class:`~helpers.engine.Value` graph with Graphviz, used in lessons 01-02.

``draw_dot(root)`` gives one record per value (``label | data | grad``) and one
small oval per operation, wired child -> op -> result. Node names are ``v0, v1, ...``
in topological order (never ``id()``), so the same graph gives the same ``.source``
text on every run and every machine; only the rendered SVG depends on the Graphviz
version.
"""
from __future__ import annotations

import graphviz

from helpers.engine import Value, topological_order  # noqa: F401  (Value: for the type hints)

__all__ = ["draw_dot", "ValueGraph"]

RANKDIRS = ("LR", "TB", "RL", "BT")


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


def draw_dot(root: Value, format: str = "svg", rankdir: str = "LR") -> ValueGraph:
    """The computation graph that produced ``root``, as a Graphviz digraph.

    Works for any object shaped like :class:`~helpers.engine.Value` (``data``, ``grad``,
    ``_prev``, ``_op`` and optionally ``label``), so lesson 01 can draw its own
    hand-built Values too. ``rankdir`` is the direction the graph flows: "LR" (left to right, default),
    "TB" (top to bottom), "RL" or "BT".
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
    dot = ValueGraph(format=format, graph_attr={"rankdir": rankdir},
                     n_values=len(nodes), n_ops=n_ops)
    for v in nodes:
        name = names[id(v)]
        label = _escape(getattr(v, "label", "")) or " "
        dot.node(name, label=f"{{ {label} | data {v.data:.4f} | grad {v.grad:.4f} }}", shape="record")
        if v._op:
            dot.node(name + "_op", label=_escape(v._op))
            dot.edge(name + "_op", name)
            for child in v._prev:
                dot.edge(names[id(child)], name + "_op")
    return dot
