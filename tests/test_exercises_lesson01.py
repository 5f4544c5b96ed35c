"""Lesson 01's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers "wrong" with a message that says what is wrong."""
import math

from exercise_support import stub

from helpers.engine import Value, topological_order
from helpers.exercises import lesson01 as ex

# ---- Exercise 1: softplus from Value operations

def softplus(v):                                   # the worked solution
    return (1 + v.exp()).log()


def test_1_stub_and_solution():
    assert ex.check_1(stub).status == "todo"
    assert ex.check_1(softplus).ok


def test_1_wrong():
    cases = [
        (lambda v: v.exp().log(), "softplus(-2.0)"),                   # forgot the 1: ln(e^v) = v
        (lambda v: (1 + v).log() if v.data > -1 else v, "softplus"),   # ln(1 + v)
        (lambda v: Value(math.log1p(math.exp(v.data))), "gradient of 0"),  # not built from ops
        (lambda v: math.log1p(math.exp(v.data)), "should return a Value"),   # a float
        (lambda v: (1 + (-v).exp()).log(), "softplus(-2.0)"),          # sign error
    ]
    for wrong, words in cases:
        verdict = ex.check_1(wrong)
        assert verdict.status == "wrong" and words in verdict.message, verdict


# ---- Exercise 2: a new operation, sin

def vsin(v):                                       # the worked solution
    return Value(math.sin(v.data), (v,), (math.cos(v.data),), "sin")


def test_2_stub_and_solution():
    assert ex.check_2(stub).status == "todo"
    assert ex.check_2(vsin).ok


def test_2_wrong():
    cases = [
        (lambda v: Value(math.sin(v.data), (v,), (-math.cos(v.data),), "sin"), "local derivative"),
        (lambda v: Value(math.sin(v.data), (v,), (math.sin(v.data),), "sin"), "local derivative"),
        (lambda v: Value(math.sin(v.data)), "one child"),                 # forgot the child
        (lambda v: Value(math.cos(v.data), (v,), (-math.sin(v.data),), "sin"), "vsin(x*x)"),
        (lambda v: math.sin(v.data), "should return a Value"),
        (lambda v: Value(math.sin(v.data), (v, v), (math.cos(v.data), 0.0), "sin"), "one child"),
    ]
    for wrong, words in cases:
        verdict = ex.check_2(wrong)
        assert verdict.status == "wrong" and words in verdict.message, verdict


# ---- Exercise 3: backward() with the classic bugs

def backward(root):                                # the worked solution
    order = topological_order(root)
    for node in order:
        if node._prev:                             # interior node: start from 0
            node.grad = 0.0
    root.grad += 1.0
    for node in reversed(order):                   # every parent before its children
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad


def test_3_stub_and_solution():
    assert ex.check_3(stub).status == "todo"
    assert ex.check_3(backward).ok


def overwrite(root):                               # = instead of +=
    root.grad = 1.0
    for node in reversed(topological_order(root)):
        for child, local in zip(node._prev, node._local_grads):
            child.grad = local * node.grad


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


def no_reset(root):                                # micrograd 0.1.0: interior grads pile up
    root.grad = 1.0
    for node in reversed(topological_order(root)):
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad


def resets_leaves_too(root):                       # a second call forgets the first
    for node in topological_order(root):
        node.grad = 0.0
    backward(root)


def test_3_wrong():
    cases = [(overwrite, "a + a"), (forward_order, "every gradient at 0"),
             (breadth_first, "reverse topological order"), (no_reset, "reset the interior"),
             (resets_leaves_too, "one more copy"), (lambda root: root.grad.append(1), "raised")]
    for wrong, words in cases:
        verdict = ex.check_3(wrong)
        assert verdict.status == "wrong" and words in verdict.message, (wrong, verdict)
