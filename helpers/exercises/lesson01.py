"""Checkers for lesson 01's exercises: new operations for `Value`, and backward() itself.

Every reference is computed here, with PyTorch (float64) or with :mod:`helpers.engine`.
"""
from __future__ import annotations

import math

from helpers.engine import Value, topological_order
from helpers.exercises import NotAttempted, Wrong, checker, expect_close, run

__all__ = ["check_1", "check_2", "check_3"]


def _torch_value_and_grad(fn, x0: float) -> tuple[float, float]:
    import torch
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    out = fn(x)
    out.backward()
    return out.item(), x.grad.item()


def _as_value(result, name: str) -> Value:
    """``result`` if it is a graph node (helpers.engine.Value or the notebook's own Value)."""
    if not all(hasattr(result, a) for a in ("data", "grad", "_prev", "_local_grads")):
        raise Wrong(f"{name} should return a Value (so it can be backpropagated), "
                    f"got {type(result).__name__}")
    return result


@checker(1)
def check_1(softplus):
    """``softplus(v)``: ln(1 + e^v) built from Value operations; its derivative is sigmoid(v)."""
    import torch
    for x0 in (-2.0, -0.3, 0.0, 1.7, 3.0):
        x = Value(x0)
        out = _as_value(run(softplus, x), "softplus")
        out.backward()
        value, grad = _torch_value_and_grad(torch.nn.functional.softplus, x0)
        expect_close(out.data, value, f"softplus({x0})", rtol=1e-9)
        if x.grad == 0.0:
            raise Wrong(f"softplus(Value({x0})) has a gradient of 0 for its input: build it from "
                        "Value operations (v.exp(), +, .log()) so backward() can reach v")
        expect_close(x.grad, grad, f"the derivative of softplus at {x0}", rtol=1e-9)
    return "its derivative equals sigmoid(x), as PyTorch confirms"


@checker(2)
def check_2(vsin):
    """``vsin(v)``: a new Value op, sin, with one child and local derivative cos(v)."""
    import torch
    for x0 in (0.8, -1.3, 2.5):
        x = Value(x0)
        squared = x * x
        out = _as_value(run(vsin, squared), "vsin")
        if tuple(out._prev) != (squared,):
            raise Wrong("vsin(v) should have exactly one child, v itself: "
                        "Value(data, (v,), (local,), 'sin')")
        if len(out._local_grads) != 1:
            raise Wrong(f"vsin(v) should store one local derivative, got {len(out._local_grads)}")
        out.backward()
        value, grad = _torch_value_and_grad(lambda t: torch.sin(t * t), x0)
        expect_close(out.data, value, f"vsin(x*x) at x = {x0}", rtol=1e-9)
        local = out._local_grads[0]
        expect_close(local, math.cos(squared.data),
                     f"the local derivative of sin at {squared.data:.4f}", rtol=1e-9)
        expect_close(x.grad, grad, f"d/dx sin(x^2) at x = {x0}", rtol=1e-9)


def _graphs():
    """Small graphs that exercise each classic bug, built fresh each time, with their leaves."""
    def shared_use():                       # a + a: the gradients of both uses must add up
        a = Value(3.0, label="a")
        return a + a, [a]

    def shared_interior():                  # c used by L and by d = c + 1: order matters
        a, b = Value(2.0, label="a"), Value(-3.0, label="b")
        c = a * b
        return c * (c + 1.0), [a, b]

    def lesson_example():                   # L = (a*b + c) * f
        a, b = Value(2.0, label="a"), Value(-3.0, label="b")
        c, f = Value(10.0, label="c"), Value(-2.0, label="f")
        return (a * b + c) * f, [a, b, c, f]

    def neuron():                           # tanh(x1*w1 + x2*w2 + b)
        x1, x2, w1, w2 = Value(2.0), Value(0.5), Value(-3.0), Value(1.0)
        b = Value(6.8813735870195432)
        return (x1 * w1 + x2 * w2 + b).tanh(), [x1, x2, w1, w2, b]

    return {"a + a": shared_use, "c * (c + 1) with c = a * b": shared_interior,
            "(a*b + c) * f": lesson_example, "a tanh neuron": neuron}


@checker(3)
def check_3(backward):
    """``backward(root)``: fills every node's grad with d(root)/d(node), like Value.backward()."""
    for name, build in _graphs().items():
        root, leaves = build()
        _call_backward(backward, root)
        ref_root, ref_leaves = build()
        ref_root.backward()
        if all(leaf.grad == 0.0 for leaf in leaves):
            raise Wrong(f"on {name}, backward(root) left every gradient at 0: "
                        "start with root.grad = 1 and apply the chain rule at each node")
        got = [leaf.grad for leaf in leaves]
        expected = [leaf.grad for leaf in ref_leaves]
        if not all(math.isclose(g, e, rel_tol=1e-12, abs_tol=1e-12) for g, e in zip(got, expected)):
            hint = {"a + a": "; a value used twice must collect both contributions (+=, not =)",
                    "c * (c + 1) with c = a * b": "; a node must have received all of its "
                    "gradient before passing it on (reverse topological order)"}.get(name, "")
            raise Wrong(f"on {name}: leaf gradients {_fmt(got)}, expected {_fmt(expected)}{hint}")
        interior = [n for n in topological_order(root) if n._prev]
        ref_interior = [n for n in topological_order(ref_root) if n._prev]
        for node, ref in zip(interior, ref_interior):
            if not math.isclose(node.grad, ref.grad, rel_tol=1e-12, abs_tol=1e-12):
                raise Wrong(f"on {name}: an interior node ({node._op}) has grad {node.grad:.6g}, "
                            f"expected {ref.grad:.6g}")
    # Twice in a row: the leaves get exactly one more copy, as in PyTorch.
    root, leaves = _graphs()["(a*b + c) * f"]()
    _call_backward(backward, root)
    once = [leaf.grad for leaf in leaves]
    _call_backward(backward, root)
    twice = [leaf.grad for leaf in leaves]
    expected = [2 * g for g in once]
    if twice != expected:
        raise Wrong(f"after two calls on (a*b + c) * f the leaves have {_fmt(twice)}, expected "
                    f"{_fmt(expected)} (one more copy): reset the interior nodes' grad to 0 first")
    return "the same gradients as Value.backward(), also when called twice"


def _call_backward(backward, root) -> None:
    """Run the learner's backward(root), which returns nothing (so not through ``run``,
    which reads a None result as a stub): NotImplementedError means "not attempted"."""
    if backward is None or backward is Ellipsis:
        raise NotAttempted
    if not callable(backward):
        raise Wrong(f"expected a function, got {type(backward).__name__}")
    try:
        backward(root)
    except NotImplementedError:
        raise NotAttempted from None
    except Exception as e:  # the learner's bug, reported
        raise Wrong(f"backward raised {type(e).__name__}: {e}") from None


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"
