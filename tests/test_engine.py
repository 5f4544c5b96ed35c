"""helpers.engine.Value against PyTorch (float64), plus the traps the lesson warns about."""
import gc
import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helpers.engine import Value, dot, topological_order, vsum


def t(x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def close(a, b, rtol=1e-10, atol=1e-10):
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


# every op: (engine version, torch version, inputs)
UNARY = {
    "neg": (lambda a: -a, lambda a: -a),
    "exp": (lambda a: a.exp(), torch.exp),
    "tanh": (lambda a: a.tanh(), torch.tanh),
    "sigmoid": (lambda a: a.sigmoid(), torch.sigmoid),
    "relu": (lambda a: a.relu(), torch.relu),
    "pow2": (lambda a: a ** 2, lambda a: a ** 2),
    "pow3": (lambda a: a ** 3, lambda a: a ** 3),
    "pow-1": (lambda a: a ** -1, lambda a: a ** -1),
    "pow-2.5_abs": (lambda a: (a * a) ** -1.25, lambda a: (a * a) ** -1.25),
    "log_sq": (lambda a: (a * a).log(), lambda a: torch.log(a * a)),
    "radd": (lambda a: 2.5 + a, lambda a: 2.5 + a),
    "rsub": (lambda a: 2.5 - a, lambda a: 2.5 - a),
    "rmul": (lambda a: 2.5 * a, lambda a: 2.5 * a),
    "rdiv": (lambda a: 2.5 / a, lambda a: 2.5 / a),
    "rpow": (lambda a: 2.5 ** a, lambda a: 2.5 ** a),
    "add_num": (lambda a: a + 4, lambda a: a + 4),
    "sub_num": (lambda a: a - 4, lambda a: a - 4),
    "mul_num": (lambda a: a * -3, lambda a: a * -3),
    "div_num": (lambda a: a / 7, lambda a: a / 7),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow_value": (lambda a, b: (a * a + 1) ** b, lambda a, b: (a * a + 1) ** b),
}


def _assert_unary_matches_torch(ours, theirs, x):
    """ours(Value(x)) and theirs(tensor(x)) agree in value and in gradient."""
    a = Value(x)
    out = ours(a)
    out.backward()
    ta = t(x)
    tout = theirs(ta)
    tout.backward()
    assert close(out.data, tout.item()), (x, out.data, tout.item())
    assert close(a.grad, ta.grad.item()), (x, a.grad, ta.grad.item())


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("x", [-1.7, -0.3, 0.4, 2.2])
def test_unary_op_matches_torch(name, x):
    _assert_unary_matches_torch(*UNARY[name], x)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("x,y", [(-1.7, 0.6), (0.4, -2.2), (3.0, 1.5)])
def test_binary_op_matches_torch(name, x, y):
    ours, theirs = BINARY[name]
    a, b = Value(x), Value(y)
    out = ours(a, b)
    out.backward()
    ta, tb = t(x), t(y)
    tout = theirs(ta, tb)
    tout.backward()
    assert close(out.data, tout.item())
    assert close(a.grad, ta.grad.item()) and close(b.grad, tb.grad.item())


def test_sum_and_dot_nodes_match_torch_and_the_binary_chain():
    ws, xs, b = [0.3, -1.2, 2.0], [1.5, 0.25, -0.7], 0.1
    w_v, x_v, b_v = [Value(w) for w in ws], [Value(x) for x in xs], Value(b)
    out = dot(w_v, x_v, b_v).tanh()
    out.backward()
    tw, tx, tb = t(ws), t(xs), t(b)
    tout = torch.tanh(tb + (tw * tx).sum())
    tout.backward()
    assert close(out.data, tout.item())
    assert all(close(v.grad, g) for v, g in zip(w_v, tw.grad.tolist()))
    assert all(close(v.grad, g) for v, g in zip(x_v, tx.grad.tolist()))
    assert close(b_v.grad, tb.grad.item())
    # bit-identical data to micrograd's left-to-right chain b + w1*x1 + w2*x2 + ...
    chain = b_v
    for w, x in zip(w_v, x_v):
        chain = chain + w * x
    assert dot(w_v, x_v, b_v).data == chain.data
    assert vsum([b_v, *(w * x for w, x in zip(w_v, x_v))]).data == chain.data
    # plain-number inputs are constants: no nodes for them
    assert len(dot(w_v, xs, b_v)._prev) == 1 + len(ws)
    assert dot(w_v, xs, b_v).data == chain.data


def test_tanh_neuron_from_the_lesson():
    x1, x2, w1, w2 = Value(2.0), Value(0.0), Value(-3.0), Value(1.0)
    b = Value(6.8813735870195432)
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    assert close(o.data, math.sqrt(0.5), 1e-12, 1e-12)
    assert close(x1.grad, -1.5, 1e-9, 1e-9) and close(w1.grad, 1.0, 1e-9, 1e-9)
    assert close(x2.grad, 0.5, 1e-9, 1e-9) and w2.grad == 0.0


def test_shared_nodes_accumulate():
    a = Value(3.0)
    (a + a).backward()
    assert a.grad == 2.0
    b = Value(3.0)
    (b * b).backward()
    assert b.grad == 6.0


def test_second_backward_adds_exactly_one_more_copy_like_torch():
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    d = (c + a) * c  # interior node c used twice
    d.backward()
    first = (a.grad, b.grad)
    d.backward()
    ta, tb = t(2.0), t(-3.0)
    tc = ta * tb
    td = (tc + ta) * tc
    td.backward(retain_graph=True)
    td.backward()
    assert (a.grad, b.grad) == (2 * first[0], 2 * first[1])
    assert close(a.grad, ta.grad.item()) and close(b.grad, tb.grad.item())


def test_chain_of_100000_nodes():
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = y + 1e-6
    assert len(topological_order(y)) == 200_001  # every + also makes a constant leaf
    y.backward()
    assert x.grad == 1.0
    del y  # freeing the 100,000-deep graph must not blow the C stack either


def test_graph_is_freed_without_the_cycle_collector():
    """No reference cycles: reference counting frees a whole graph the moment it is dropped."""
    gc.collect()
    gc.disable()
    try:
        xs = [Value(float(i)) for i in range(50)]
        loss = vsum([(x * x).tanh() for x in xs]) / 50
        loss.backward()
        del loss, xs
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_topological_order_puts_children_first_and_is_deterministic():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    c = a * b
    d = c + a
    order = topological_order(d)
    assert order == [a, b, c, d]
    pos = {id(v): i for i, v in enumerate(order)}
    assert all(pos[id(ch)] < pos[id(v)] for v in order for ch in v._prev)


@pytest.mark.parametrize("x", [1e4, -1e4, 710.0, -710.0, 355.0])
def test_tanh_and_sigmoid_are_stable_for_large_inputs(x):
    for op, ref in ((lambda v: v.tanh(), torch.tanh), (lambda v: v.sigmoid(), torch.sigmoid)):
        _assert_unary_matches_torch(op, ref, x)


@pytest.mark.parametrize("make, error, words", [
    (lambda: Value(0.0).log(), ValueError, ["log", "0.0"]),
    (lambda: Value(-2.0).log(), ValueError, ["log", "-2.0"]),
    (lambda: Value(0.0) ** -1, ValueError, ["**", "0.0", "-1"]),
    (lambda: Value(0.0) ** -0.5, ValueError, ["**", "0.0"]),
    (lambda: Value(-8.0) ** (1 / 3), ValueError, ["**", "-8.0"]),
    (lambda: Value(-2.0) ** Value(2.0), ValueError, ["**", "-2.0"]),
    (lambda: Value(1.0) + "2", TypeError, ["+", "'2'", "str"]),
    (lambda: "2" * Value(1.0), TypeError, ["*", "'2'"]),
    (lambda: Value(1.0) - None, TypeError, ["-", "None"]),
    (lambda: Value(1.0) / [1], TypeError, ["/", "[1]"]),
    (lambda: Value(1.0) ** "x", TypeError, ["**", "'x'"]),
    (lambda: Value("3"), TypeError, ["'3'"]),
    (lambda: Value(1.0) / 0, ZeroDivisionError, ["/", "zero"]),
    (lambda: Value(1000.0).exp(), OverflowError, ["exp", "1000.0"]),
    (lambda: vsum([]), ValueError, ["vsum"]),
    (lambda: dot([Value(1.0)], [1.0, 2.0]), ValueError, ["dot"]),
])
def test_bad_input_gets_a_clear_error(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_zero_to_a_fractional_power_has_torchs_slope():
    a = Value(0.0)
    (a ** 0.5).backward()
    ta = t(0.0)
    (ta ** 0.5).backward()
    assert a.grad == ta.grad.item() == math.inf


# ---- random expression graphs (with shared nodes) against PyTorch ----

OPS1 = ["neg", "tanh", "sigmoid", "relu", "exp_tanh", "log1p_sq", "sq", "num"]
OPS2 = ["add", "sub", "mul", "div_safe", "sum3"]


def apply(op, args, backend):
    a, b, c = args
    if backend == "torch":
        tanh, sig, relu, exp, log = torch.tanh, torch.sigmoid, torch.relu, torch.exp, torch.log
    else:
        tanh, sig, relu = Value.tanh, Value.sigmoid, Value.relu
        exp, log = Value.exp, Value.log
    return {
        "neg": lambda: -a, "tanh": lambda: tanh(a), "sigmoid": lambda: sig(a),
        "relu": lambda: relu(a), "exp_tanh": lambda: exp(tanh(a)),
        "log1p_sq": lambda: log(1 + a * a), "sq": lambda: a ** 2,
        "num": lambda: 0.5 * a - 1.5,
        "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
        "div_safe": lambda: a / (1 + b * b),
        "sum3": lambda: (vsum([a, b, c]) if backend != "torch" else a + b + c),
    }[op]()


operand = st.integers(0, 10**6)
program = st.lists(st.tuples(st.sampled_from(OPS1 + OPS2), operand, operand, operand),
                   min_size=1, max_size=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaves=st.lists(st.floats(-2, 2), min_size=1, max_size=4), prog=program)
def test_random_graphs_match_torch(leaves, prog):
    ours = [Value(x) for x in leaves]
    theirs = [t(x) for x in leaves]
    pool_o, pool_t = list(ours), list(theirs)
    for op, i, j, k in prog:  # operands drawn from everything so far: nodes get shared
        n = len(pool_o)
        args_o = (pool_o[i % n], pool_o[j % n], pool_o[k % n])
        args_t = (pool_t[i % n], pool_t[j % n], pool_t[k % n])
        pool_o.append(apply(op, args_o, "ours"))
        pool_t.append(apply(op, args_t, "torch"))
    assume(all(abs(v.data) < 1e6 for v in pool_o))
    root_o = vsum(pool_o[len(leaves):])  # every intermediate feeds the output
    root_t = torch.stack(pool_t[len(leaves):]).sum()
    root_o.backward()
    root_t.backward()
    assert close(root_o.data, root_t.item(), 1e-9, 1e-9)
    for v, tv in zip(ours, theirs):
        if tv.grad is None:  # leaf not used by any op
            assert v.grad == 0.0
            continue
        assert close(v.grad, tv.grad.item(), 1e-9, 1e-9), (v.grad, tv.grad.item())
