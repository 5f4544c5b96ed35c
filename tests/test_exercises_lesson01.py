"""Lesson 01's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers "wrong" with a message that says what is wrong."""
import math

import numpy as np
import pytest
import torch
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


def forgets_return(a, b):                          # the node built, never returned
    vpow(a, b)


def ellipsis_stub(a, b):
    ...


def test_1_stub_and_solution():
    assert ex.check_1(stub).status == "todo"
    assert ex.check_1(ellipsis_stub).status == "todo"     # an empty body is not "forgot return"
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
    # the power rule times ln a: two rules mixed
    (lambda a, b: node(a, b, b.data * a.data ** (b.data - 1),
                       b.data * a.data ** (b.data - 1) * math.log(a.data)),
     ["for b is 8.317766, expected 5.545177", "times ln a", "no factor b"]),
    # the exponent dropped by one in d/db too: a^(b-1) * ln a
    (lambda a, b: node(a, b, b.data * a.data ** (b.data - 1),
                       a.data ** (b.data - 1) * math.log(a.data)),
     ["for b is 2.772589, expected 5.545177", "a^(b-1) * ln a", "does not drop"]),
    # the node built, the return forgotten
    (forgets_return, ["returned None", "forget `return`"]),
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
    assert ex.check_2({"engine": 24.0, "no reset": None}, empty).status == "todo"
    assert MEASURED == {"engine": 24.0, "no reset": 32.0}
    verdict = ex.check_2({"engine": 24.0, "no reset": 32.0}, MEASURED)
    assert verdict.ok and "measured 24 with the reset, 32 without; your predictions held" \
        in verdict.message


@pytest.mark.parametrize("prediction, words", [
    # the second call replaces rather than adds
    ({"engine": 12, "no reset": 32},
     ["for 'no reset' held", "for 'engine' you predicted 12, off by -12", "one more copy"]),
    # no reset thought to change nothing on this graph
    ({"engine": 24, "no reset": 24}, ["for 'no reset' you predicted 24, off by -8", "still holds"]),
    # everything thought to double
    ({"engine": 24, "no reset": 48}, ["predicted 48, off by +16", "not everything doubles"]),
    # the two figures swapped
    ({"engine": 32, "no reset": 24}, ["for 'engine' you predicted 32, off by +8", "resets",
                                      "for 'no reset' you predicted 24"]),
    # another number: the generic nudge, with the gap
    ({"engine": 24, "no reset": 40}, ["predicted 40, off by +8", "measured 24 with the reset, "
                                      "32 without", "trace"]),
])
def test_2_an_honest_wrong_prediction_is_reported_not_failed(prediction, words):
    expect(ex.check_2(prediction, MEASURED), "correct", *words)


@pytest.mark.parametrize("prediction, measured, words", [
    # predicted but did not run the experiment
    ({"engine": 24, "no reset": 32}, {"engine": None, "no reset": None}, ["run the experiment"]),
    # measured after one call only
    ({"engine": 24, "no reset": 32}, {"engine": 12.0, "no reset": 32.0},
     ["measured['engine'] is 12.0", "gives 24.0"]),
    # measured no-reset on the graph the engine had already used
    ({"engine": 24, "no reset": 32}, {"engine": 24.0, "no reset": 24.0 + 32.0},
     ["measured['no reset'] is 56.0", "fresh"]),
    # copied the prediction into measured without running anything
    ({"engine": 24, "no reset": 48}, {"engine": 24, "no reset": 48},
     ["measured['no reset'] is 48", "gives 32.0"]),
    # not the dict the task asks for
    ([24, 32], MEASURED, ["should be a dict"]),
    ({"engine": 24, "no reset": "32"}, MEASURED, ["prediction['no reset'] should be a number"]),
    # NaN is a float, but not a prediction (and abs(nan - 32) > tol is False)
    ({"engine": 24, "no reset": float("nan")}, MEASURED, ["prediction['no reset'] is nan",
                                                          "finite number"]),
    ({"engine": float("inf"), "no reset": 32}, MEASURED, ["prediction['engine'] is inf"]),
    # measured first, no prediction written down
    ({"engine": None, "no reset": None}, MEASURED, ["write your prediction first"]),
    (None, MEASURED, ["write your prediction first"]),
    ({"engine": 24, "no reset": None}, MEASURED, ["write your prediction first"]),
])
def test_2_wrong(prediction, measured, words):
    expect(ex.check_2(prediction, measured), "wrong", *words)


@pytest.mark.parametrize("convert", [torch.tensor, np.float32, np.float64, np.array])
def test_2_numpy_and_torch_scalars_are_numbers(convert):
    measured = {key: convert(value) for key, value in MEASURED.items()}
    prediction = {"engine": convert(24.0), "no reset": 32}
    expect(ex.check_2(prediction, measured), "correct", "your predictions held")


def test_2_a_tensor_with_several_numbers_is_named():
    expect(ex.check_2({"engine": 24, "no reset": 32},
                      {"engine": 24.0, "no reset": torch.tensor([32.0, 32.0])}),
           "wrong", "measured['no reset'] should be one number")


# ---- Exercise 3 (debug): a backward() with two planted bugs

def planted(root):
    # the attempt cell as the learner finds it (the same code as ex.planted_backward)
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


def backward(root):                                # the worked solution
    nodes = engine.topological_order(root)
    waiting = {node: 0 for node in nodes}
    for node in nodes:
        if node._prev:                      # bug 2 fixed: the leaves keep their gradient
            node.grad = 0.0
        for child in node._prev:
            waiting[child] += 1
    root.grad = 1.0
    ready = [root]
    while ready:
        node = ready.pop()
        for child, local in zip(node._prev, node._local_grads):
            child.grad += node.grad * local   # bug 1 fixed: += collects every parent's share
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)


def test_3_stub_and_solution():
    assert ex.check_3(stub).status == "todo"
    assert ex.check_3(planted).status == "todo"          # unchanged: not attempted yet
    assert ex.check_3(ex.planted_backward).status == "todo"
    assert ex.check_3(backward).ok


def test_3_the_planted_function_is_right_on_the_lesson_example_after_one_call():
    a, b, c, g = Value(2.0), Value(-3.0), Value(10.0), Value(-2.0)
    ex.planted_backward((a * b + c) * g)
    assert [v.grad for v in (a, b, c, g)] == [6.0, -4.0, -2.0, 4.0]


def kahn(accumulate, reset_leaves):
    """The planted walk with one of its two bugs fixed."""
    def backward(root):
        nodes = engine.topological_order(root)
        waiting = {node: 0 for node in nodes}
        for node in nodes:
            if reset_leaves or node._prev:
                node.grad = 0.0
            for child in node._prev:
                waiting[child] += 1
        root.grad = 1.0
        ready = [root]
        while ready:
            node = ready.pop()
            for child, local in zip(node._prev, node._local_grads):
                child.grad = (child.grad if accumulate else 0.0) + local * node.grad
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
    return backward


@pytest.mark.parametrize("accumulate, reset_leaves, words, not_words", [
    (True, True, ["resets the leaves too", "reset only the interior"], ["overwrites"]),
    (False, False, ["on a + a", "overwrites", "+="], ["resets"]),
])
def test_3_the_planted_walk_with_one_bug_fixed(accumulate, reset_leaves, words, not_words):
    verdict = ex.check_3(kahn(accumulate, reset_leaves))
    expect(verdict, "wrong", *words)
    assert not any(w in verdict.message for w in not_words), verdict


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


def fixed_but_forward(root):                       # both bugs fixed, reversed() dropped
    order = engine.topological_order(root)
    for node in order:
        if node._prev:
            node.grad = 0.0
    root.grad = 1.0
    for node in order:
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad


def planted_but_forward(root):                     # the planted bugs kept, reversed() dropped
    order = engine.topological_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in order:
        for child, local in zip(node._prev, node._local_grads):
            child.grad = local * node.grad


def leaves_reset_instead(root):                    # the reset turned the wrong way round
    order = engine.topological_order(root)
    for node in order:
        if not node._prev:
            node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad


def forgets_the_local_derivative(root):
    order = engine.topological_order(root)
    for node in order:
        if node._prev:
            node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for child in node._prev:
            child.grad += node.grad


def zeroes_children_in_the_loop(root):
    order = engine.topological_order(root)
    root.grad = 1.0
    for node in reversed(order):
        for child in node._prev:
            child.grad = 0.0
        for child, local in zip(node._prev, node._local_grads):
            child.grad += local * node.grad


def engine_backward_called_directly(root):
    engine.Value.backward(root)


FORWARD = "walks the topological order forwards"


@pytest.mark.parametrize("wrong, words, not_words", [
    (only_accumulate_fixed, ["[6, -4, -2, 4], expected [12, -8, -4, 8]", "resets the leaves too",
                             "wipes the first", "reset only the interior"], ["overwrites"]),
    (only_reset_fixed, ["on a + a", "[1], expected [2]", "overwrites", "+="], ["resets"]),
    (no_reset, ["[24, -16, -6, 8]", "nothing is reset", "reset the interior nodes"],
     ["overwrites", FORWARD]),
    (fixed_but_forward, ["on c * (c + 1) with c = a * b: leaf gradients [0, 0], expected "
                         "[33, -22]", FORWARD, "reversed(order)"], ["reset", "overwrites"]),
    (forward_order, ["[0, 0], expected [33, -22]", FORWARD, "nothing is reset"], ["overwrites"]),
    # (with "=" every call overwrites the leaves anyway, so the reset is named once += is in)
    (planted_but_forward, ["on a + a", FORWARD, "overwrites"], []),
    (breadth_first, ["[15, -10], expected [33, -22]", "breadth-first"], [FORWARD]),
    (leaves_reset_instead, ["after two calls", "the other way round"], [FORWARD]),
    (forgets_the_local_derivative, ["forgets the local derivative"], [FORWARD, "reset"]),
    (lambda root: root.grad.append(1), ["raised AttributeError"], []),
    # hands the work to the engine: right numbers, nothing fixed
    (lambda root: root.backward(), ["engine's own Value.backward()", "fix the classmate's loop"],
     []),
    (engine_backward_called_directly, ["engine's own Value.backward()"], []),
    (zeroes_children_in_the_loop, ["zeroes each child's grad inside the loop",
                                   "reset once, before the walk"], ["overwrites"]),
])
def test_3_wrong(wrong, words, not_words):
    verdict = ex.check_3(wrong)
    expect(verdict, "wrong", *words)
    assert not any(w in verdict.message for w in not_words), verdict
    assert Value.backward is engine.Value.backward and Value(1.0).backward() is None  # restored
