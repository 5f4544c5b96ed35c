"""Lesson 01's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers "wrong" with a message that says what is wrong."""
import math

import pytest
from exercise_support import expect, stub

from helpers import engine
from helpers.engine import Value, topological_order
from helpers.exercises import lesson01 as ex

# ---- Exercise 1 (derive): a ** b with a Value exponent


def node(a, b, d_a, d_b):
    return Value(a.data ** b.data, (a, b), (d_a, d_b), "pow")


def vpow(a, b):                                    # the worked solution
    y = math.pow(a.data, b.data)
    return Value(y, (a, b), (b.data * math.pow(a.data, b.data - 1), y * math.log(a.data)), "pow")


def test_1_stub_and_solution():
    assert ex.check_1(stub).status == "todo"
    assert ex.check_1(vpow).ok


@pytest.mark.parametrize("wrong, words", [
    # the power rule for the exponent too
    (lambda a, b: node(a, b, b.data * a.data ** (b.data - 1), b.data * a.data ** (b.data - 1)),
     ["for b is 12.000000, expected 5.545177", "power rule"]),
    # forgot the factor ln a
    (lambda a, b: node(a, b, b.data * a.data ** (b.data - 1), a.data ** b.data),
     ["for b is 8.000000", "ln a is missing"]),
    # forgot the factor a^b
    (lambda a, b: node(a, b, b.data * a.data ** (b.data - 1), math.log(a.data)),
     ["for b is 0.693147", "a^b is missing"]),
    # log10 instead of ln
    (lambda a, b: node(a, b, b.data * a.data ** (b.data - 1),
                       a.data ** b.data * math.log10(a.data)),
     ["log10"]),
    # the two local derivatives swapped
    (lambda a, b: node(a, b, a.data ** b.data * math.log(a.data), b.data * a.data ** (b.data - 1)),
     ["for a is 5.545177, expected 12.000000", "same order"]),
    # forgot the factor b of the power rule
    (lambda a, b: node(a, b, a.data ** (b.data - 1), a.data ** b.data * math.log(a.data)),
     ["for a is 4.000000", "factor b"]),
    # helpers.engine's own a ** b: not derived
    (lambda a, b: a ** b, ["build the node yourself"]),
    # e^(b ln a) from existing ops: right gradients, but not one node with children (a, b)
    (lambda a, b: (b * a.log()).exp(), ["two children are a and b"]),
    # one child only
    (lambda a, b: Value(a.data ** b.data, (a,), (b.data * a.data ** (b.data - 1),), "pow"),
     ["two children"]),
    # local derivatives as Values, not numbers
    (lambda a, b: Value(a.data ** b.data, (a, b), (b * 1.0, a * 1.0), "pow"), ["plain numbers"]),
    # a float, not a node
    (lambda a, b: a.data ** b.data, ["should return a Value"]),
    # the wrong forward value
    (lambda a, b: Value(b.data ** a.data, (a, b), (b.data * a.data ** (b.data - 1),
                                                   a.data ** b.data * math.log(a.data)), "pow"),
     ["vpow(Value(2.0), Value(3.0)) is 9.000000, expected 8.000000"]),
])
def test_1_wrong(wrong, words):
    expect(ex.check_1(wrong), "wrong", *words)


# ---- Exercise 2 (predict, then measure): two backward() calls on y = (x*x)*x

def backward_no_reset(root):                       # section 6's function
    root.grad = 1.0
    for n in reversed(topological_order(root)):
        for child, local in zip(n._prev, n._local_grads):
            child.grad += local * n.grad


def x_grad_after_two_calls(backward_fn):
    x = Value(2.0)
    y = (x * x) * x
    backward_fn(y)
    backward_fn(y)
    return x.grad


MEASURED = {"engine": x_grad_after_two_calls(Value.backward),
            "no reset": x_grad_after_two_calls(backward_no_reset)}


def test_2_stub_and_solution():
    empty = {"engine": None, "no reset": None}
    assert ex.check_2(empty, empty).status == "todo"
    assert MEASURED == {"engine": 24.0, "no reset": 32.0}
    verdict = ex.check_2({"engine": 24.0, "no reset": 32.0}, MEASURED)
    assert verdict.ok and "24" in verdict.message and "32" in verdict.message


@pytest.mark.parametrize("prediction, measured, words", [
    # the second call replaces rather than adds
    ({"engine": 12, "no reset": 32}, MEASURED, ["predicted 12 for 'engine'", "one more copy"]),
    # no reset thought to change nothing on this graph
    ({"engine": 24, "no reset": 24}, MEASURED, ["predicted 24 for 'no reset'", "still holds"]),
    # everything thought to double
    ({"engine": 24, "no reset": 48}, MEASURED, ["predicted 48", "not everything doubles"]),
    # the two figures swapped
    ({"engine": 32, "no reset": 24}, MEASURED, ["predicted 32 for 'engine'", "resets"]),
    # another number: the generic nudge, with both figures
    ({"engine": 24, "no reset": 40}, MEASURED, ["predicted 40", "measured 32", "trace"]),
    # predicted but did not run the experiment
    ({"engine": 24, "no reset": 32}, {"engine": None, "no reset": None}, ["run the experiment"]),
    # measured after one call only
    ({"engine": 24, "no reset": 32}, {"engine": 12.0, "no reset": 32.0},
     ["measured['engine'] is 12.0", "gives 24.0"]),
    # measured no-reset on the graph the engine had already used
    ({"engine": 24, "no reset": 32}, {"engine": 24.0, "no reset": 24.0 + 32.0},
     ["measured['no reset'] is 56.0", "fresh"]),
    # not the dict the task asks for
    ([24, 32], MEASURED, ["should be a dict"]),
])
def test_2_wrong(prediction, measured, words):
    expect(ex.check_2(prediction, measured), "wrong", *words)


# ---- Exercise 3 (debug): a backward() with two planted bugs

def planted(root):
    # the attempt cell as the learner finds it (the same code as ex.planted_backward)
    order = engine.topological_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for child, local in zip(node._prev, node._local_grads):
            child.grad = local * node.grad


def backward(root):                                # the worked solution
    order = engine.topological_order(root)
    interior = [node for node in order if node._prev]
    for node in interior:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for child, local in zip(node._prev, node._local_grads):
            child.grad += node.grad * local


def test_3_stub_and_solution():
    assert ex.check_3(stub).status == "todo"
    assert ex.check_3(planted).status == "todo"          # unchanged: not attempted yet
    assert ex.check_3(ex.planted_backward).status == "todo"
    assert ex.check_3(backward).ok


def only_accumulate_fixed(root):                   # += fixed, the leaves still reset
    order = engine.topological_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad


def only_reset_fixed(root):                        # the reset fixed, still =
    order = engine.topological_order(root)
    for node in order:
        if node._prev:
            node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for child, local in zip(node._prev, node._local_grads):
            child.grad = local * node.grad


def no_reset(root):                                # micrograd 0.1.0: interior grads pile up
    root.grad = 1.0
    for node in reversed(topological_order(root)):
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad


def forward_order(root):                           # forgot reversed()
    root.grad = 1.0
    for node in topological_order(root):
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad


def breadth_first(root):
    root.grad = 1.0
    queue, seen = [root], {id(root)}
    while queue:
        node = queue.pop(0)
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad
        for child in node._prev:
            if id(child) not in seen:
                seen.add(id(child))
                queue.append(child)


@pytest.mark.parametrize("wrong, words", [
    (only_accumulate_fixed, ["[6, -4, -2, 4], expected [12, -8, -4, 8]", "wiped the first",
                             "reset only the interior"]),
    (only_reset_fixed, ["on a + a", "[1], expected [2]", "+=, not ="]),
    (no_reset, ["[24, -16, -6, 8]", "reset the interior nodes"]),
    (forward_order, ["every gradient at 0"]),
    (breadth_first, ["[15, -10], expected [33, -22]", "reverse topological order"]),
    (lambda root: root.grad.append(1), ["raised AttributeError"]),
])
def test_3_wrong(wrong, words):
    expect(ex.check_3(wrong), "wrong", *words)
