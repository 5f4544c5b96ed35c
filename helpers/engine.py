"""A scalar autograd engine: :class:`Value`, built in lesson 01.

Same idea as Karpathy's micrograd, one design change that makes it fast:

* micrograd stores, in every node, a ``_backward`` closure that refers back to the
  node itself, so every finished graph is a *reference cycle*. Python's reference
  counting cannot free cycles; the cyclic garbage collector has to find them, and
  on a training step that costs most of the step's time.
* Here a node stores its children and, next to them, the **local derivatives**
  ``d(node)/d(child)``, computed in the forward pass right beside the forward
  formula. The backward pass is then one generic loop (the chain rule):
  ``child.grad += local * node.grad``. Nodes refer only to their children, never
  back to themselves, so a graph is freed by reference counting the moment it is
  dropped: no cycles, nothing for the collector to find.

Other choices, each for a reason:

* ``__slots__``: no per-node ``__dict__``, less memory, faster attribute access.
* children are a *tuple*, not a set: cheaper, and the graph's order is the order
  the expression was written in, so everything derived from it (the topological
  order, :func:`helpers.viz.draw_dot` output, float summation order) is deterministic.
* n-ary nodes: :func:`vsum` is one ``+`` node for ``v1 + ... + vn`` instead of a
  chain of n-1 binary ones, and :func:`dot` one node for a neuron's
  ``b + w1*x1 + ... + wn*xn`` instead of n products and n sums. Fewer nodes means
  fewer objects to create, walk and free; the values are bit-identical to the
  binary chain's, because they are summed in the same left-to-right order.
* :func:`topological_order` uses an explicit stack, not recursion, so a graph
  100,000 nodes deep works (a recursive sort overflows Python's stack at ~1,000).
* ``backward()`` resets the interior nodes' gradients before it runs, so calling it
  twice adds exactly one more copy of the gradient to the leaves (as PyTorch does)
  instead of a compounding one.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Sequence, Union

__all__ = ["Value", "vsum", "dot", "topological_order"]

Number = Union[int, float]


def _as_float(x: object, op: str) -> float:
    """``x`` as a float, or a TypeError that names the operation and the culprit."""
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return float(x)
    raise TypeError(
        f"Value {op}: operand {x!r} of type {type(x).__name__} is not a real number; "
        "use a Value, an int or a float")


class Value:
    """One scalar in a computation graph: its ``data``, its ``grad`` and how it was made.

    ``_prev`` holds the children (operands) and ``_local_grads`` the partial derivative
    of this node with respect to each child, in the same order.
    """

    __slots__ = ("data", "grad", "_prev", "_local_grads", "_op", "label")

    def __init__(self, data: Number, _children: tuple[Value, ...] = (),
                 _local_grads: tuple[float, ...] = (), _op: str = "", label: str = ""):
        if data.__class__ is not float:
            data = _as_float(data, "constructor")
        self.data = data
        self.grad = 0.0
        self._prev = _children          # the operands this node was computed from
        self._local_grads = _local_grads  # d(self)/d(child) for each child
        self._op = _op                  # the op that made this node (for draw_dot)
        self.label = label              # an optional name (for draw_dot)

    # ---- binary ops: forward value, then the local derivatives w.r.t. each operand ----

    def __add__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(_as_float(other, "+"))
        # d(a+b)/da = 1, d(a+b)/db = 1
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __sub__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(_as_float(other, "-"))
        # d(a-b)/da = 1, d(a-b)/db = -1
        return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")

    def __mul__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(_as_float(other, "*"))
        # d(a*b)/da = b, d(a*b)/db = a
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __truediv__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(_as_float(other, "/"))
        if other.data == 0.0:
            raise ZeroDivisionError(f"Value /: division of {self.data!r} by zero")
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        inv = 1.0 / other.data
        return Value(self.data / other.data, (self, other), (inv, -self.data * inv * inv), "/")

    def __pow__(self, other: Value | Number) -> Value:
        base = self.data
        if isinstance(other, Value):
            # a Value exponent also gets a gradient: d(a^b)/db = a^b * ln(a), needs a > 0
            if base <= 0.0:
                raise ValueError(
                    f"Value **: base {base!r} raised to a Value exponent: "
                    "d(a**b)/db = a**b * log(a) needs a > 0; "
                    "use a plain number as the exponent for a non-positive base")
            out = base ** other.data
            d_base = other.data * base ** (other.data - 1.0)  # d(a^b)/da = b * a^(b-1)
            d_exponent = out * math.log(base)                 # d(a^b)/db = a^b * ln(a)
            return Value(out, (self, other), (d_base, d_exponent), "**")
        p = _as_float(other, "**")
        if base == 0.0 and p < 0.0:
            raise ValueError(f"Value **: 0.0 ** {p!r} is undefined (division by zero); "
                             "keep the base away from 0 or use a non-negative exponent")
        if base < 0.0 and not p.is_integer():
            raise ValueError(f"Value **: {base!r} ** {p!r} is not a real number "
                             "(negative base, non-integer exponent)")
        if p == 0.0:
            local = 0.0
        elif base == 0.0 and p < 1.0:
            local = math.inf              # the slope of x**p at 0 for 0 < p < 1, as PyTorch says
        else:
            local = p * base ** (p - 1.0)  # d(a^p)/da = p * a^(p-1)
        return Value(base ** p, (self,), (local,), f"**{p:g}")

    # numbers on the left: 2 + v, 2 - v, 2 * v, 2 / v, 2 ** v
    def __radd__(self, other: Number) -> Value:
        return Value(_as_float(other, "+")) + self

    def __rsub__(self, other: Number) -> Value:
        return Value(_as_float(other, "-")) - self

    def __rmul__(self, other: Number) -> Value:
        return Value(_as_float(other, "*")) * self

    def __rtruediv__(self, other: Number) -> Value:
        return Value(_as_float(other, "/")) / self

    def __rpow__(self, other: Number) -> Value:
        return Value(_as_float(other, "**")) ** self

    # ---- unary ops ----

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), (-1.0,), "neg")  # d(-a)/da = -1

    def exp(self) -> Value:
        try:
            out = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"Value.exp: exp({self.data!r}) is too large for a float "
                                "(the largest argument is about 709.78)") from None
        return Value(out, (self,), (out,), "exp")  # d(e^a)/da = e^a

    def log(self) -> Value:
        if self.data <= 0.0:
            raise ValueError(
                f"Value.log: log({self.data!r}) is undefined; log needs a positive value")
        return Value(math.log(self.data), (self,), (1.0 / self.data,), "log")  # d(ln a)/da = 1/a

    def tanh(self) -> Value:
        # math.tanh is exact and never overflows;
        # the textbook (e^2x - 1)/(e^2x + 1) does past x ~ 355
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")  # d(tanh a)/da = 1 - tanh(a)^2

    def sigmoid(self) -> Value:
        x = self.data
        if x >= 0.0:                  # e^-x <= 1: no overflow
            s = 1.0 / (1.0 + math.exp(-x))
        else:                         # e^x < 1: no overflow either
            e = math.exp(x)
            s = e / (1.0 + e)
        # d(sigma a)/da = sigma(a)(1 - sigma(a))
        return Value(s, (self,), (s * (1.0 - s),), "sigmoid")

    def relu(self) -> Value:
        x = self.data
        return Value(x if x > 0.0 else 0.0, (self,), (1.0 if x > 0.0 else 0.0,), "ReLU")

    # ---- backpropagation ----

    def backward(self) -> None:
        """Fill ``grad`` of every node in the graph with d(self)/d(node), by the chain rule.

        Walks the nodes in reverse topological order, so a node passes its gradient on
        only once it has received everything from all of its parents. Interior nodes
        are reset first; leaves accumulate (``+=``) across calls, as in PyTorch.
        """
        topo = topological_order(self)
        for node in topo:
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(topo):
            grad = node.grad
            for child, local in zip(node._prev, node._local_grads):
                # chain rule; += because a child may have several parents
                child.grad += local * grad

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={_short(self.data)}, grad={_short(self.grad)}{label})"


def _short(x: float) -> str:
    """A float in at most 6 significant digits, still looking like a float ("-8.0", "0.707107")."""
    text = f"{x:.6g}"
    return text if any(c in text for c in ".eninf") else text + ".0"


def vsum(values: Iterable[Value | Number]) -> Value:
    """One n-ary ``+`` node for ``v1 + v2 + ... + vn`` (numbers become constant leaves).

    Same value as adding left to right, in one node instead of n-1; each child's
    local derivative is 1.
    """
    children = tuple(v if isinstance(v, Value) else Value(_as_float(v, "vsum")) for v in values)
    if not children:
        raise ValueError("vsum: nothing to add; give at least one Value or number")
    total = 0.0
    for child in children:  # left to right, so the float result equals a + b + c + ...
        total += child.data
    return Value(total, children, (1.0,) * len(children), "sum")


def dot(weights: Sequence[Value], inputs: Sequence[Value | Number],
        bias: Value | Number = 0.0) -> Value:
    """One node for ``bias + w1*x1 + ... + wn*xn``: a neuron's weighted sum.

    The same number as micrograd's chain of n ``*`` and n ``+`` nodes (summed in the
    same order), in one node with local derivatives d/db = 1, d/dwi = xi, d/dxi = wi.
    Plain-number inputs are constants: they get no node and no gradient.
    """
    if len(weights) != len(inputs):
        raise ValueError(f"dot: {len(weights)} weights but {len(inputs)} inputs; they must pair up")
    bias = bias if isinstance(bias, Value) else Value(_as_float(bias, "dot"))
    children, local_grads = [bias], [1.0]
    total = bias.data
    for w, x in zip(weights, inputs):
        if isinstance(x, Value):
            total += w.data * x.data
            children += (w, x)
            local_grads += (x.data, w.data)
        else:
            x = _as_float(x, "dot")
            total += w.data * x
            children.append(w)
            local_grads.append(x)
    return Value(total, tuple(children), tuple(local_grads), "dot")


def topological_order(root: Value) -> list[Value]:
    """Every node of ``root``'s graph, each after all of its children (``root`` last).

    Depth-first with an explicit stack instead of recursion: a node is pushed once to
    expand it and once more, underneath its children, to emit it when they are done.
    """
    order: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for child in reversed(node._prev):  # reversed: children come out in written order
            if id(child) not in visited:
                stack.append((child, False))
    return order
