"""Lesson 05's exercise checkers: stubs are "todo", the worked solutions pass, plausible
wrong answers are rejected with a message that says what is wrong."""
import math

import torch
from exercise_support import stub

from helpers.exercises import lesson05 as ex

# --- the worked solutions, as in the notebook ---------------------------------

def build_examples(ids, block_size):
    X = ids.unfold(0, block_size, 1)[:-1]
    Y = ids[block_size:]
    return X, Y


def mlp_logits(X, C, W1, b1, W2, b2):
    emb = C[X]                                        # (B, block_size, n_embd)
    h = torch.tanh(emb.view(len(X), -1) @ W1 + b1)    # (B, n_hidden)
    return h @ W2 + b2                                # (B, vocab_size)


def tanh_layer_weight(fan_in, fan_out, generator):
    std = (5 / 3) / math.sqrt(fan_in)
    return torch.randn(fan_in, fan_out, generator=generator) * std


# --- exercise 1 ------------------------------------------------------------

def test_1_stub_and_solution():
    assert ex.check_1(stub).status == "todo"
    assert ex.check_1(None).status == "todo"
    assert ex.check_1(build_examples).ok


def test_1_rejects_target_inside_the_context():
    def wrong(ids, block_size):
        X = ids.unfold(0, block_size, 1)[:-1]
        return X, X[:, -1]
    v = ex.check_1(wrong)
    assert v.status == "wrong" and "after" in v.message


def test_1_rejects_one_window_too_many():
    def wrong(ids, block_size):
        X = ids.unfold(0, block_size, 1)
        Y = torch.cat([ids[block_size:], ids[:1]])
        return X, Y
    v = ex.check_1(wrong)
    assert v.status == "wrong" and "examples" in v.message


def test_1_rejects_shifted_targets():
    def wrong(ids, block_size):
        return ids.unfold(0, block_size, 1)[:-1], ids[1:len(ids) - block_size + 1]
    v = ex.check_1(wrong)
    assert v.status == "wrong" and "Y" in v.message


def test_1_wrong_type_is_wrong_not_a_traceback():
    assert ex.check_1(lambda ids, k: [1, 2, 3]).status == "wrong"
    assert ex.check_1(lambda ids, k: ([1], [2])).status == "wrong"
    assert ex.check_1(lambda ids, k: (ids.view(1, -1), ids)).status == "wrong"


# --- exercise 2 ------------------------------------------------------------

def test_2_stub_and_solution():
    assert ex.check_2(stub).status == "todo"
    assert ex.check_2(mlp_logits).ok


def test_2_rejects_missing_tanh():
    def wrong(X, C, W1, b1, W2, b2):
        return (C[X].view(len(X), -1) @ W1 + b1) @ W2 + b2
    v = ex.check_2(wrong)
    assert v.status == "wrong" and "tanh" in v.message


def test_2_rejects_channel_by_channel_concatenation():
    def wrong(X, C, W1, b1, W2, b2):
        return torch.tanh(C[X].transpose(1, 2).reshape(len(X), -1) @ W1 + b1) @ W2 + b2
    v = ex.check_2(wrong)
    assert v.status == "wrong" and "order" in v.message


def test_2_rejects_missing_bias_and_softmaxed_output():
    def no_bias(X, C, W1, b1, W2, b2):
        return torch.tanh(C[X].view(len(X), -1) @ W1) @ W2 + b2
    def probs(X, C, W1, b1, W2, b2):
        return torch.softmax(mlp_logits(X, C, W1, b1, W2, b2), dim=1)
    for wrong in (no_bias, probs):
        v = ex.check_2(wrong)
        assert v.status == "wrong" and "logits" in v.message


def test_2_wrong_shape_or_type_is_wrong():
    v = ex.check_2(lambda X, C, W1, b1, W2, b2: mlp_logits(X, C, W1, b1, W2, b2).T)
    assert v.status == "wrong" and "shape" in v.message
    assert ex.check_2(lambda *a: "logits").status == "wrong"


# --- exercise 3 ------------------------------------------------------------

def test_3_stub_and_solution():
    assert ex.check_3(stub).status == "todo"
    assert ex.check_3(tanh_layer_weight).ok


def test_3_uniform_with_the_right_std_is_accepted():
    def uniform(fan_in, fan_out, generator):
        bound = (5 / 3) * math.sqrt(3 / fan_in)
        return (torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound
    assert ex.check_3(uniform).ok


def test_3_rejects_missing_gain_relu_gain_and_fan_out():
    cases = {
        "gain": lambda i, o, g: torch.randn(i, o, generator=g) / math.sqrt(i),
        "ReLU": lambda i, o, g: torch.randn(i, o, generator=g) * math.sqrt(2 / i),
        "fan-in": lambda i, o, g: torch.randn(i, o, generator=g) * (5 / 3) / math.sqrt(o),
        "not scaled": lambda i, o, g: torch.randn(i, o, generator=g),
    }
    for word, wrong in cases.items():
        v = ex.check_3(wrong)
        assert v.status == "wrong" and word in v.message, (word, v.message)


def test_3_rejects_ignoring_the_generator_and_wrong_shapes():
    v = ex.check_3(lambda i, o, g: torch.randn(i, o) * (5 / 3) / math.sqrt(i))
    assert v.status == "wrong" and "generator" in v.message
    v = ex.check_3(lambda i, o, g: torch.randn(o, i, generator=g) * (5 / 3) / math.sqrt(i))
    assert v.status == "wrong" and "shape" in v.message
    assert ex.check_3(lambda i, o, g: 0.12).status == "wrong"
