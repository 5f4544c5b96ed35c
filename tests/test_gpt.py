"""helpers.gpt: the config, the model against lesson 06's attention formula, sampling."""

import math
from dataclasses import asdict, fields

import pytest
import torch
import torch.nn.functional as F

import helpers.gpt as gpt
from helpers.attention import causal_mask, scaled_dot_product_attention
from helpers.gpt import GPT, CausalSelfAttention, GPTConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def _prompt(tok, text="First", batch=1):
    return torch.tensor([tok.encode(text)] * batch, dtype=torch.long)


# --- the config ---------------------------------------------------------------------


def test_config_from_dict_round_trip_and_names_missing_or_unknown_keys(config):
    assert GPTConfig.from_dict(asdict(config)) == config
    d = asdict(config)
    del d["n_head"]
    with pytest.raises(ValueError, match="missing.*n_head"):  # not silently the default 4
        GPTConfig.from_dict(d)
    with pytest.raises(ValueError, match="unknown.*n_heads"):
        GPTConfig.from_dict({**asdict(config), "n_heads": 4})
    with pytest.raises(ValueError, match="n_layer"):
        GPTConfig.from_dict({**asdict(config), "n_layer": "2"})
    with pytest.raises(ValueError, match="bias"):
        GPTConfig.from_dict({**asdict(config), "bias": "yes"})
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig.from_dict({**asdict(config), "dropout": True})


def test_every_config_field_has_help_for_the_trainer_flags():
    for f in fields(GPTConfig):
        assert f.metadata.get("help"), f.name


# --- the model ------------------------------------------------------------------


def test_fused_attention_equals_lesson06_masked_softmax(config):
    """F.scaled_dot_product_attention(is_causal=True) == the explicit formula of lesson 06."""
    torch.manual_seed(1)
    attn = CausalSelfAttention(config).eval()
    x = torch.randn(3, config.block_size, config.n_embd)
    fast = attn(x)
    B, T, C = x.shape
    q, k, v = attn.qkv(x).split(C, dim=2)
    heads = lambda t: t.view(B, T, config.n_head, C // config.n_head).transpose(1, 2)  # noqa: E731
    out, weights = scaled_dot_product_attention(heads(q), heads(k), heads(v), causal_mask(T))
    explicit = attn.proj(out.transpose(1, 2).reshape(B, T, C))
    torch.testing.assert_close(fast, explicit, atol=1e-5, rtol=1e-5)
    # the weights the model shows for its attention maps are those same weights
    shown, att = attn(x, return_weights=True)
    torch.testing.assert_close(att, weights, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(shown, fast, atol=1e-5, rtol=1e-5)
    assert torch.all(att.triu(diagonal=1) == 0)


def test_explicit_path_calls_lesson06_attention_function(config, monkeypatch):
    """One implementation: the GPT's explicit path IS helpers.attention's function."""
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[3].shape)  # the mask
        return scaled_dot_product_attention(*args, **kwargs)

    monkeypatch.setattr(gpt, "scaled_dot_product_attention", spy)
    attn = CausalSelfAttention(config).eval()
    attn(torch.randn(2, 5, config.n_embd), return_weights=True)
    assert calls == [(5, 5)]
    attn(torch.randn(2, 5, config.n_embd))  # the fused path does not
    assert len(calls) == 1


def test_fused_and_explicit_paths_agree_in_training_without_dropout(config):
    torch.manual_seed(2)
    model = GPT(config).train()
    idx = torch.randint(config.vocab_size, (2, config.block_size))
    fast = model(idx)[0]
    explicit = model(idx, return_weights=True)[0]
    torch.testing.assert_close(fast, explicit, atol=1e-5, rtol=1e-5)


def test_forward_shapes_loss_and_init(model, config):
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(config.vocab_size, (2, config.block_size), generator=gen)
    targets = torch.randint(config.vocab_size, (2, config.block_size), generator=gen)
    logits, loss = model(idx, targets)
    assert logits.shape == (2, config.block_size, config.vocab_size)
    # GPT-2 init: near-uniform predictions at the start, loss ~ ln(vocab)
    assert abs(loss.item() - math.log(config.vocab_size)) < 0.1
    assert model(idx)[1] is None
    torch.testing.assert_close(loss, F.cross_entropy(logits.flatten(0, 1), targets.flatten()))
    assert model.lm_head.weight is model.tok_emb.weight  # weight tying
    n = sum(p.numel() for p in model.parameters())
    assert model.num_params() == n
    assert model.num_params(non_embedding=True) == n - config.block_size * config.n_embd


def test_attention_maps_are_causal_and_restore_the_mode(model, config, tok):
    model.train()
    maps = model.attention_maps(_prompt(tok, "First Cit"))
    assert len(maps) == config.n_layer and maps[0].shape == (1, config.n_head, 9, 9)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(1, config.n_head, 9))
    assert model.training


def test_param_groups_decay_matrices_only_and_cover_every_parameter_once(model):
    decay, no_decay = model.param_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(
        p.dim() < 2 for p in no_decay["params"]
    )
    ids = [id(p) for p in decay["params"] + no_decay["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))  # the tied matrix once
    torch.optim.AdamW(model.param_groups(0.1), lr=1e-3)  # AdamW takes them as they are


def test_causality_future_tokens_do_not_change_past_logits(model, config):
    idx = torch.randint(config.vocab_size, (1, 10))
    changed = idx.clone()
    changed[0, 7:] = (changed[0, 7:] + 1) % config.vocab_size
    torch.testing.assert_close(model(idx)[0][:, :7], model(changed)[0][:, :7])


def test_bad_inputs_raise_clear_errors(model, config):
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, config.block_size + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="LongTensor"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(dropout=1.0)


# --- sampling (GPT.generate) --------------------------------------------------------


def test_generate_crops_a_long_prompt_to_its_last_block_size_tokens(model, config, tok, text):
    """A 300-character prompt continues exactly like its last block_size characters."""
    long_text = (text * 6)[:300]
    long_prompt = _prompt(tok, long_text, batch=2)
    short_prompt = long_prompt[:, -config.block_size:]
    for kwargs in (dict(), dict(temperature=0.7, top_k=5), dict(top_p=0.9)):
        a = model.generate(long_prompt, 25, generator=torch.Generator().manual_seed(3), **kwargs)
        b = model.generate(short_prompt, 25, generator=torch.Generator().manual_seed(3), **kwargs)
        assert a.shape == (2, 325)
        assert torch.equal(a[:, :300], long_prompt)
        assert torch.equal(a[:, 300:], b[:, config.block_size:])


def test_sampling_is_reproducible_and_respects_top_k_and_top_p(model, tok):
    prompt = _prompt(tok)
    a = model.generate(prompt, 30, temperature=0.8, generator=torch.Generator().manual_seed(42))
    b = model.generate(prompt, 30, temperature=0.8, generator=torch.Generator().manual_seed(42))
    assert torch.equal(a, b) and a.shape == (1, prompt.size(1) + 30)
    # with top_k=3 every sampled token is among the 3 likeliest at its step
    out = model.generate(prompt, 15, top_k=3, generator=torch.Generator().manual_seed(1))
    for t in range(prompt.size(1), out.size(1)):
        top3 = model(out[:, max(0, t - 16) : t])[0][0, -1].topk(3).indices
        assert out[0, t] in top3
    # with top_p=0.5 every sampled token is in the smallest likeliest set holding >= 0.5
    out = model.generate(prompt, 15, top_p=0.5, generator=torch.Generator().manual_seed(2))
    for t in range(prompt.size(1), out.size(1)):
        probs = model(out[:, max(0, t - 16) : t])[0][0, -1].softmax(-1)
        sorted_p, order = probs.sort(descending=True)
        n_keep = int(((sorted_p.cumsum(0) - sorted_p) < 0.5).sum())
        assert out[0, t] in order[:n_keep]
    assert model.training is False


def test_generate_restores_training_mode(model, tok):
    model.train()
    model.generate(_prompt(tok), 2, generator=torch.Generator().manual_seed(0))
    assert model.training


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
        (dict(top_k=0), "top_k"),
        (dict(top_k=-3), "top_k"),
        (dict(top_k=2.5), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(top_p=-0.1), "top_p"),
        (dict(max_new_tokens=-1), "max_new_tokens"),
    ],
)
def test_bad_sampling_arguments_raise_value_error(model, tok, kwargs, match):
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        model.generate(_prompt(tok), **kwargs)
    with pytest.raises(ValueError, match="empty"):
        model.generate(torch.zeros(1, 0, dtype=torch.long), 3)
