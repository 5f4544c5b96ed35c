"""Checkers for lesson 01's exercises: a power node with a Value exponent (derive), two
``backward()`` calls on a shared node (predict, then measure), a buggy ``backward`` (debug).

Every reference is computed here, with PyTorch (float64) or with :mod:`helpers.engine`.
"""
from __future__ import annotations

import ast
import inspect
import math
import numbers
import textwrap

from helpers import engine
from helpers.engine import Value, topological_order
from helpers.exercises import NotAttempted, Wrong, attempted, checker, run, same_code

__all__ = ["check_1", "check_2", "check_3", "planted_backward"]


def _as_value(result, name: str) -> Value:
    """``result`` if it is a graph node (helpers.engine.Value or the notebook's own Value)."""
    if not all(hasattr(result, a) for a in ("data", "grad", "_prev", "_local_grads")):
        raise Wrong(f"{name} should return a Value (so it can be backpropagated), "
                    f"got {type(result).__name__}")
    return result


def _close(got: float, expected: float, rel: float = 1e-9) -> bool:
    return math.isclose(got, expected, rel_tol=rel, abs_tol=1e-12)


def _rel(got: float, expected: float) -> str:
    return f"relative error {abs(got - expected) / max(abs(expected), 1e-300):.1e}"


# ---- Exercise 1 (derive): a ** b with a Value exponent

def _is_stub(fn) -> bool:
    """True if ``fn``'s body is only a docstring, ``...`` or ``pass`` (an empty attempt)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    except (TypeError, OSError, SyntaxError, IndexError):
        return False
    body = getattr(tree, "body", None)
    if body is None:
        return False
    return all(isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and
                                              isinstance(node.value, ast.Constant))
               for node in body)


def _run_named(fn, *args):
    """``run(fn, *args)``, except that a None result from a function with a real body is
    named (a forgotten ``return``) rather than read as a stub."""
    try:
        return run(fn, *args)
    except NotAttempted:
        if fn is None or fn is Ellipsis or _is_stub(fn):
            raise
        try:
            result = fn(*args)
        except NotImplementedError:
            raise NotAttempted from None
        if result is None:
            name = getattr(fn, "__name__", "your function")
            raise Wrong(f"{name} returned None: did you forget `return`?") from None
        raise


class _Leaf(Value):
    """A leaf that refuses ``a ** b`` with a Value exponent: that is helpers.engine's own
    answer, and the exercise asks the learner to derive it."""
    __slots__ = ()

    def __pow__(self, other):
        if isinstance(other, Value):
            raise Wrong("vpow used a ** b on the Values: that is helpers.engine's own answer; "
                        "build the node yourself, engine.Value(data, (a, b), (local_a, local_b), "
                        "'pow'), with the two local derivatives you derived")
        return super().__pow__(other)


POW_POINTS = ((2.0, 3.0), (0.5, -1.3), (3.0, 0.5), (1.7, 2.2))


def _diagnose_local(which: str, got: float, a: float, b: float) -> str:
    """Name the likely slip behind a wrong local derivative of a ** b."""
    power, log = a ** b, math.log(a)
    right = b * a ** (b - 1) if which == "a" else power * log
    suspects = {
        "a": [(power * log, "that is d/db; d/da is the power rule b * a^(b-1) (children "
                            "and local derivatives go in the same order: a first)"),
              (a ** (b - 1), "the factor b of the power rule is missing"),
              (b * a ** b, "the exponent drops by one: b * a^(b-1)")],
        "b": [(b * a ** (b - 1), "that is the power rule, which holds when the exponent is "
                                 "a constant; here the variable is in the exponent "
                                 "(a^b = e^(b ln a))"),
              (power, "the factor ln a is missing (a^b = e^(b ln a), and the chain rule "
                      "brings down ln a)"),
              (log, "the factor a^b is missing: d/db e^(b ln a) = e^(b ln a) * ln a"),
              (power * math.log10(a), "log10 instead of the natural log ln a (math.log)"),
              (a ** (b - 1) * log, "that is a^(b-1) * ln a: the exponent does not drop by one "
                                   "when the variable is the exponent; with a fixed, "
                                   "a^b = e^(b ln a), whose derivative is a^b * ln a"),
              (b * a ** (b - 1) * log, "that is the power rule b * a^(b-1) times ln a, two "
                                       "rules mixed; with a fixed, a^b = e^(b ln a) and its "
                                       "derivative is a^b * ln a: no factor b, the exponent "
                                       "does not drop")],
    }[which]
    for value, why in suspects:
        if _close(got, value, 1e-6):
            return (f"at a = {a}, b = {b}: the local derivative for {which} is {got:.6f}, "
                    f"expected {right:.6f}: {why}")
    return (f"at a = {a}, b = {b}: the local derivative for {which} is {got:.6f}, expected "
            f"{right:.6f} ({_rel(got, right)})")


@checker(1)
def check_1(vpow):
    """``vpow(a, b)``: one node a ** b with children (a, b) and the two local derivatives."""
    import torch
    for a0, b0 in POW_POINTS:
        a, b = _Leaf(a0), _Leaf(b0)
        out = _as_value(_run_named(vpow, a, b), "vpow")
        prev = tuple(out._prev)
        if len(prev) != 2 or prev[0] is not a or prev[1] is not b:
            raise Wrong(f"vpow(a, b) should be one node whose two children are a and b, in that "
                        f"order; its children are {len(prev)} other node(s): build it with "
                        "engine.Value(data, (a, b), (local_a, local_b), 'pow')")
        locals_ = tuple(out._local_grads)
        if len(locals_) != 2:
            raise Wrong(f"vpow(a, b) should store two local derivatives, got {len(locals_)}")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in locals_):
            raise Wrong("the local derivatives should be plain numbers computed from a.data and "
                        f"b.data, got {[type(x).__name__ for x in locals_]}")
        if not _close(out.data, a0 ** b0):
            raise Wrong(f"vpow(Value({a0}), Value({b0})) is {out.data:.6f}, expected "
                        f"{a0 ** b0:.6f}")
        for which, got, right in (("a", locals_[0], b0 * a0 ** (b0 - 1)),
                                  ("b", locals_[1], a0 ** b0 * math.log(a0))):
            if not _close(got, right):
                raise Wrong(_diagnose_local(which, got, a0, b0))
        (out * out + 3.0 * out).backward()               # the node inside a bigger graph
        ta = torch.tensor(a0, dtype=torch.float64, requires_grad=True)
        tb = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
        ty = ta ** tb
        (ty * ty + 3.0 * ty).backward()
        for name, leaf, ref in (("a", a, ta), ("b", b, tb)):
            if not _close(leaf.grad, ref.grad.item()):
                raise Wrong(f"after backward() through y*y + 3y, {name}.grad is {leaf.grad:.6f}, "
                            f"PyTorch says {ref.grad.item():.6f}")
    return "both local derivatives agree with PyTorch at four points"


# ---- Exercise 2 (predict, then measure): two backward() calls on y = (x*x)*x

def _backward_no_reset(root: Value) -> None:
    """No reset (micrograd 0.1.0's backward has none either): interior grads pile up."""
    root.grad = 1.0
    for node in reversed(topological_order(root)):
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad


def _two_calls(backward_fn) -> float:
    x = Value(2.0)
    y = (x * x) * x
    backward_fn(y)
    backward_fn(y)
    return x.grad


PREDICT_KEYS = ("engine", "no reset")
PREDICT_WHY = {
    ("engine", 12.0): "a second call adds one more copy of dy/dx = 3x^2 = 12 to the leaf, "
                      "since leaves accumulate, as in PyTorch",
    ("engine", 32.0): "that is the no-reset figure, but the engine resets the interior node "
                      "p = x*x before each call, so each call adds exactly 12",
    ("no reset", 24.0): "that is the engine's figure, but without the reset p = x*x still holds "
                        "dy/dp = x = 2 from the first call, so the second call passes 2 + 2 = 4 "
                        "through p's two uses of x",
    ("no reset", 48.0): "not everything doubles: only the interior node p piles up (2 + 2 = 4), "
                        "while the root is set to 1 again and y's own edge to x passes p = 4 once",
    ("no reset", 36.0): "the second call adds 4 through y's own edge to x (p = 4) and 2 * 4 * 2 "
                        "through p, whose grad is now 2 + 2 = 4",
}


def _as_number(x):
    """``x`` as a Python float when it is one real number (Python, NumPy, or a 0-d torch
    tensor), ``x`` itself otherwise."""
    if isinstance(x, bool):
        return x
    if isinstance(x, numbers.Real):
        return float(x)
    if getattr(x, "ndim", None) == 0 and hasattr(x, "item"):
        try:
            item = x.item()
        except Exception:
            return x
        if isinstance(item, numbers.Real) and not isinstance(item, bool):
            return float(item)
    return x


def _numbers(d, name: str) -> dict:
    if not isinstance(d, dict) or set(d) != set(PREDICT_KEYS):
        raise Wrong(f"{name} should be a dict with the keys {list(PREDICT_KEYS)}, got {d!r}")
    return {key: _as_number(value) for key, value in d.items()}


@checker(2)
def check_2(prediction, measured):
    """``prediction`` and ``measured``: x.grad after two calls, {"engine": ..., "no reset": ...}."""
    filled = isinstance(measured, dict) and any(
        v is not None and v is not Ellipsis for v in measured.values())
    unpredicted = prediction is None or prediction is Ellipsis or (
        isinstance(prediction, dict) and any(v is None or v is Ellipsis
                                             for v in prediction.values()))
    if unpredicted and filled:
        raise Wrong("write your prediction first: fill in both entries of prediction before "
                    "the experiment (a prediction made after measuring is not a prediction)")
    attempted(prediction)
    prediction = _numbers(prediction, "prediction")
    attempted(*prediction.values())
    for key in PREDICT_KEYS:
        got = prediction[key]
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            raise Wrong(f"prediction[{key!r}] should be a number, got {got!r}")
        if not math.isfinite(got):
            raise Wrong(f"prediction[{key!r}] is {got!r}: write down a finite number, the x.grad "
                        "you expect")
    measured = _numbers(measured, "measured")
    if any(v is None or v is Ellipsis for v in measured.values()):
        raise Wrong("you have predicted; now run the experiment (two calls each, on a fresh x "
                    "and y) and store the two x.grad in measured")
    truth = {"engine": _two_calls(Value.backward), "no reset": _two_calls(_backward_no_reset)}
    for key in PREDICT_KEYS:
        if not isinstance(measured[key], (int, float)) or isinstance(measured[key], bool):
            raise Wrong(f"measured[{key!r}] should be one number (x.grad, a Python float), got "
                        f"{measured[key]!r}")
        if not _close(measured[key], truth[key]):
            raise Wrong(f"measured[{key!r}] is {measured[key]!r}, but the experiment gives "
                        f"{truth[key]:.1f}: build a fresh x = Value(2.0) and y = (x*x)*x for each "
                        "way, and call it twice on that y")
    held, missed = [], []
    for key in PREDICT_KEYS:
        got = prediction[key]
        if _close(got, truth[key]):
            held.append(key)
        else:
            why = PREDICT_WHY.get((key, float(got)),
                                  "trace the second call node by node: which grads does it start "
                                  "from, and what does each chain-rule step add?")
            missed.append(f"for {key!r} you predicted {got:g}, off by {got - truth[key]:+g}: "
                          f"{why}")
    outcome = f"measured {truth['engine']:g} with the reset, {truth['no reset']:g} without; "
    if not missed:
        return outcome + "your predictions held"
    if held:
        outcome += f"your prediction for {held[0]!r} held; "
    return outcome + ". And ".join(missed)


# ---- Exercise 3 (debug): a backward() with planted bugs

def planted_backward(root):
    # A classmate's version: right on L = (a*b + c)*g after one call, yet it has two bugs.
    nodes = engine.topological_order(root)
    waiting = {node: 0 for node in nodes}         # parents that have not sent their share yet
    for node in nodes:
        node.grad = 0.0
        for child in node._prev:
            waiting[child] += 1
    root.grad = 1.0
    ready = [root]
    while ready:                                  # a node is ready once all its parents are done
        node = ready.pop()
        for child, local in zip(node._prev, node._local_grads):
            child.grad = local * node.grad
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)


def _graphs():
    """Small graphs that exercise each classic bug, built fresh each time, with their leaves."""
    def shared_use():                       # a + a: the gradients of both uses must add up
        a = Value(3.0, label="a")
        return a + a, [a]

    def shared_interior():                  # c used by L and by d = c + 1: order matters
        a, b = Value(2.0, label="a"), Value(-3.0, label="b")
        c = a * b
        return c * (c + 1.0), [a, b]

    def lesson_example():                   # L = (a*b + c) * g
        a, b = Value(2.0, label="a"), Value(-3.0, label="b")
        c, g = Value(10.0, label="c"), Value(-2.0, label="g")
        return (a * b + c) * g, [a, b, c, g]

    def neuron():                           # tanh(x1*w1 + x2*w2 + b)
        x1, x2, w1, w2 = Value(2.0), Value(0.5), Value(-3.0), Value(1.0)
        b = Value(6.8813735870195432)
        return (x1 * w1 + x2 * w2 + b).tanh(), [x1, x2, w1, w2, b]

    return {"a + a": shared_use, "c * (c + 1) with c = a * b": shared_interior,
            "(a*b + c) * g": lesson_example, "a tanh neuron": neuron}


# The classic slips, each a choice in one of three places of backward(); the first of each
# list is the right one. A learner's function is matched against every combination.
ORDERS = {
    "reversed": None,
    "forward": "it walks the topological order forwards, leaves first, so each node passes its "
               "gradient on before the nodes that use it have sent it theirs: walk "
               "reversed(order), from the output back",
    "breadth-first": "a breadth-first walk passes a shared node's gradient on before all of its "
                     "parents have sent their share: walk reversed(topological order)",
}
STEPS = {
    "+=": None,
    "=": "child.grad = ... overwrites: a value used twice keeps only the last contribution "
         "(y = a + a gives a.grad = 1, not 2); accumulate with +=",
    "no local": "the chain-rule step forgets the local derivative: "
                "child.grad += local * node.grad",
}
RESETS = {
    "interior": None,
    "all": "it resets the leaves too, so a second call wipes the first: reset only the interior "
           "nodes (those with children); a leaf keeps what it holds and gets one more copy, as "
           "in PyTorch",
    "none": "nothing is reset, so the interior nodes still hold the first call's gradient and "
            "pass it on again: reset the interior nodes' grad to 0 first (not the leaves)",
    "leaves": "it resets the leaves and not the interior nodes: the other way round (the "
              "interior nodes start each call from 0, the leaves keep what they hold)",
    "in loop": "it zeroes each child's grad inside the loop, when a parent reaches it, so a value "
               "with two parents keeps only the last parent's share and a leaf loses the first "
               "call's gradient: reset once, before the walk, and only the interior nodes",
}


def _variant(order: str, step: str, reset: str):
    """``backward(root)`` with the given choices (a slip where it is not the first)."""
    def backward(root):
        nodes = topological_order(root)
        for node in nodes:
            if reset == "all" or (reset == "interior" and node._prev) or \
                    (reset == "leaves" and not node._prev):
                node.grad = 0.0
        root.grad = 1.0
        if order == "breadth-first":
            walk, seen = [root], {id(root)}
            for node in walk:                      # grows while it is walked: a queue
                for child in node._prev:
                    if id(child) not in seen:
                        seen.add(id(child))
                        walk.append(child)
        else:
            walk = reversed(nodes) if order == "reversed" else nodes
        for node in walk:
            if reset == "in loop":
                for child in node._prev:
                    child.grad = 0.0
            for child, local in zip(node._prev, node._local_grads):
                if step == "+=":
                    child.grad += local * node.grad
                elif step == "=":
                    child.grad = local * node.grad
                else:
                    child.grad += node.grad
    return backward


def _trace(backward) -> list:
    """What ``backward`` does on each test graph: (case, got, every grad after one call), and
    the leaves after two calls on (a*b + c) * g."""
    trace = []
    for name, build in _graphs().items():
        root, leaves = build()
        _call_backward(backward, root)
        interior = [n for n in topological_order(root) if n._prev]
        trace.append((f"on {name}: leaf gradients", [leaf.grad for leaf in leaves],
                      [n.grad for n in interior]))
    root, leaves = _graphs()["(a*b + c) * g"]()
    _call_backward(backward, root)
    _call_backward(backward, root)
    twice = [leaf.grad for leaf in leaves]
    trace.append(("after two calls on (a*b + c) * g the leaves have", twice, []))
    return trace


def _same(x: list, y: list) -> bool:
    return len(x) == len(y) and all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
                                    for a, b in zip(x, y))


def _slips() -> list:
    """Every combination of choices but the right one, fewest slips first, with its trace."""
    combos = [(o, s, r) for o in ORDERS for s in STEPS for r in RESETS]
    combos.sort(key=lambda c: sum(w is not None for w in (ORDERS[c[0]], STEPS[c[1]],
                                                           RESETS[c[2]])))
    return [(c, _trace(_variant(*c))) for c in combos[1:]]


@checker(3)
def check_3(backward):
    """``backward(root)``: fills every node's grad with d(root)/d(node), like Value.backward()."""
    if same_code(backward, planted_backward):
        raise NotAttempted
    got = _trace_without_engine_backward(backward)
    expected = _trace(_variant("reversed", "+=", "interior"))
    differ = [(g, e) for g, e in zip(got, expected) if not (_same(g[1], e[1]) and
                                                           _same(g[2], e[2]))]
    if not differ:
        return "the same gradients as Value.backward(), also when called twice"
    (what, leaves, interior), (_, want, want_interior) = differ[0]
    if _same(leaves, want):
        said = f"{what.split(':')[0]}: an interior node's grad is {_fmt(interior)}, " \
               f"expected {_fmt(want_interior)}"
    else:
        said = f"{what} {_fmt(leaves)}, expected {_fmt(want)}"
    for (order, step, reset), trace in _slips():
        if all(_same(g[1], t[1]) and _same(g[2], t[2]) for g, t in zip(got, trace)):
            whys = [w for w in (ORDERS[order], STEPS[step], RESETS[reset]) if w is not None]
            raise Wrong(f"{said}: " + "; and ".join(whys))
    if all(leaf == 0.0 for leaf in leaves):
        raise Wrong(f"{said}: start with root.grad = 1 and apply the chain rule at each node, "
                    "from the output back")
    raise Wrong(f"{said}: compare with Value.backward() on the same graph")


def _engine_backward_refused(self) -> None:
    raise Wrong("backward calls the engine's own Value.backward() (e.g. root.backward()): the "
                "exercise is to fix the classmate's loop, which does the chain rule itself")


def _trace_without_engine_backward(backward) -> list:
    """``_trace(backward)`` with ``Value.backward`` unavailable, so that a function that
    hands the work to the engine cannot pass."""
    original = Value.__dict__["backward"]
    Value.backward = _engine_backward_refused
    try:
        return _trace(backward)
    finally:
        Value.backward = original


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
    except Wrong:
        raise
    except Exception as e:  # the learner's bug, reported
        raise Wrong(f"backward raised {type(e).__name__}: {e}") from None


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"
