"""helpers.attention: the explicit formulas agree with PyTorch's, and masks do what they say."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from helpers.attention import (
    GeneralMultiheadAttention,
    Head,
    MultiHeadAttention,
    ScaledDotProductAttention,
    causal_mask,
    scaled_dot_product_attention,
)

ATOL = 1e-6


def _qkv(B=2, H=3, Tq=5, Tk=7, dk=8, dv=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, Tq, dk, generator=g), torch.randn(B, H, Tk, dk, generator=g),
            torch.randn(B, H, Tk, dv, generator=g))


@pytest.mark.parametrize("mask_kind", ["none", "causal", "random", "padding"])
def test_sdpa_matches_torch(mask_kind):
    q, k, v = _qkv(Tq=6, Tk=6 if mask_kind == "causal" else 7)
    Tq, Tk = q.size(-2), k.size(-2)
    g = torch.Generator().manual_seed(1)
    mask = {"none": None,
            "causal": causal_mask(Tq),
            "random": torch.rand(2, 1, Tq, Tk, generator=g) > 0.4,
            "padding": (torch.arange(Tk)[None, None, None, :]
                        < torch.tensor([4, 7])[:, None, None, None])}[mask_kind]
    if mask is not None:
        mask[..., 0] = True  # every query may attend to at least one key
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert out.shape == (2, 3, Tq, 6) and weights.shape == (2, 3, Tq, Tk)
    assert torch.allclose(out, expected, atol=ATOL)
    assert torch.allclose(weights.sum(-1), torch.ones(()), atol=ATOL)
    if mask is not None:
        assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()


def test_sdpa_module_equals_function_and_dropout_only_in_training():
    q, k, v = _qkv()
    attn = ScaledDotProductAttention(dropout=0.5).eval()
    out, w = attn(q, k, v)
    ref_out, ref_w = scaled_dot_product_attention(q, k, v)
    assert torch.equal(out, ref_out) and torch.equal(w, ref_w)
    torch.manual_seed(0)
    out_train, w_train = attn.train()(q, k, v)
    assert (w_train == 0).any() and not torch.allclose(out_train, ref_out)


def test_sdpa_clear_errors():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="same last dimension d_k"):
        scaled_dot_product_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="same length Tk"):
        scaled_dot_product_attention(q, k, v[..., :3, :])
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(5, 7))
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(5, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="blocks every key"):
        scaled_dot_product_attention(q, k, v, mask=torch.zeros(5, 7, dtype=torch.bool))


def _future_is_invisible(module, vocab_x):
    """Changing the last token must leave the outputs at every earlier position unchanged."""
    x2 = vocab_x.clone()
    x2[:, -1] = torch.randn(x2.shape[0], x2.shape[2])
    out1, out2 = module(vocab_x), module(x2)
    assert torch.allclose(out1[:, :-1], out2[:, :-1], atol=ATOL)
    assert not torch.allclose(out1[:, -1], out2[:, -1], atol=1e-3)


def test_head_is_causal_and_checks_length():
    torch.manual_seed(0)
    head = Head(n_embd=16, head_size=8, block_size=10)
    x = torch.randn(3, 10, 16)
    assert head(x).shape == (3, 10, 8)
    _future_is_invisible(head, x)
    assert torch.allclose(head(x[:, :4]), head(x)[:, :4], atol=ATOL)  # shorter contexts work too
    with pytest.raises(ValueError, match="exceeds block_size=10"):
        head(torch.randn(1, 11, 16))
    assert "tril" not in head.state_dict()  # the mask is not a weight


def test_head_matches_torch_causal_sdpa():
    torch.manual_seed(0)
    head = Head(16, 8, block_size=12)
    x = torch.randn(2, 12, 16)
    expected = F.scaled_dot_product_attention(head.query(x), head.key(x), head.value(x),
                                              is_causal=True)
    assert torch.allclose(head(x), expected, atol=ATOL)


def test_multihead_is_causal_and_dropout_is_off_in_eval():
    torch.manual_seed(0)
    mha = MultiHeadAttention(n_embd=16, num_heads=4, head_size=4, block_size=8, dropout=0.2)
    x = torch.randn(2, 8, 16)
    mha.eval()
    assert mha(x).shape == (2, 8, 16)
    assert torch.equal(mha(x), mha(x))
    _future_is_invisible(mha, x)
    mha.train()
    assert not torch.allclose(mha(x), mha.eval()(x))


def _copy_lecture_into_general(lecture: MultiHeadAttention) -> GeneralMultiheadAttention:
    n_embd = lecture.proj.out_features
    general = GeneralMultiheadAttention(n_embd, len(lecture.heads), bias=False)
    general.out_proj = lecture.proj  # the lecture's projection has a bias; share it
    with torch.no_grad():
        for name in ("query", "key", "value"):
            # heads stacked by rows
            stacked = torch.cat([getattr(h, name).weight for h in lecture.heads])
            getattr(general, name[0] + "_proj").weight.copy_(stacked)
    return general


def test_lecture_multihead_equals_general_with_causal_mask():
    torch.manual_seed(0)
    lecture = MultiHeadAttention(n_embd=12, num_heads=3, head_size=4, block_size=6)
    general = _copy_lecture_into_general(lecture)
    x = torch.randn(2, 6, 12)
    out, weights = general(x, x, x, mask=causal_mask(6))
    assert torch.allclose(lecture(x), out, atol=ATOL)
    assert weights.shape == (2, 3, 6, 6)


@pytest.mark.parametrize("kdim,vdim,bias", [(None, None, True), (None, None, False), (10, 6, True)])
def test_general_multihead_matches_torch(kdim, vdim, bias):
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(16, num_heads=4, bias=bias, kdim=kdim, vdim=vdim,
                                   batch_first=True).eval()
    ours = GeneralMultiheadAttention.from_torch(theirs).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    query = torch.randn(2, 5, 16)
    key, value = torch.randn(2, 7, kdim or 16), torch.randn(2, 7, vdim or 16)
    mask = torch.rand(5, 7) > 0.3
    mask[:, 0] = True
    out, weights = ours(query, key, value, mask=mask)
    # PyTorch's boolean attn_mask means True = blocked: the opposite of ours
    ref, ref_weights = theirs(query, key, value, attn_mask=~mask, average_attn_weights=False)
    assert out.shape == (2, 5, 16) and weights.shape == (2, 4, 5, 7)
    assert torch.allclose(out, ref, atol=ATOL)
    assert torch.allclose(weights, ref_weights, atol=ATOL)
    out, _ = ours(query, key, value)  # no mask: encoder / plain cross-attention
    assert torch.allclose(out, theirs(query, key, value, need_weights=False)[0], atol=ATOL)


def test_general_multihead_clear_errors():
    with pytest.raises(ValueError, match="divisible"):
        GeneralMultiheadAttention(10, 3)
    mha = GeneralMultiheadAttention(8, 2, kdim=4)
    with pytest.raises(ValueError, match="key has 8 features, this module expects 4"):
        mha(torch.randn(1, 3, 8), torch.randn(1, 3, 8), torch.randn(1, 3, 8))
    with pytest.raises(ValueError, match="batch-first 3-D"):
        mha(torch.randn(3, 8), torch.randn(3, 4), torch.randn(3, 8))


@pytest.mark.parametrize("option,kwargs", [
    ("add_bias_kv=True", dict(add_bias_kv=True, batch_first=True)),
    ("add_zero_attn=True", dict(add_zero_attn=True, batch_first=True)),
    ("batch_first=False", dict(batch_first=False)),
])
def test_from_torch_refuses_options_it_does_not_have(option, kwargs):
    """Copying such a module used to succeed and then disagree with PyTorch's outputs."""
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(16, num_heads=4, **kwargs)
    with pytest.raises(ValueError, match=option + r".*build it with"):
        GeneralMultiheadAttention.from_torch(theirs)


def test_from_torch_names_every_unsupported_option_at_once():
    theirs = nn.MultiheadAttention(16, 4, add_bias_kv=True, add_zero_attn=True, batch_first=True)
    with pytest.raises(ValueError) as info:
        GeneralMultiheadAttention.from_torch(theirs)
    assert "add_bias_kv=True" in str(info.value) and "add_zero_attn=True" in str(info.value)
