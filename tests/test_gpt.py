"""helpers.gpt: the model against the lesson-05 formula, decoding, checkpoints."""
import math
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

from helpers.attention import causal_mask, scaled_dot_product_attention
from helpers.data import CharTokenizer
from helpers.gpt import (GPT, CausalSelfAttention, CheckpointError, GPTConfig, load_checkpoint,
                         save_checkpoint)

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tok():
    return CharTokenizer(TEXT)


@pytest.fixture
def config(tok):
    return GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=2, n_head=4, n_embd=32)


@pytest.fixture
def model(config):
    torch.manual_seed(0)
    return GPT(config).eval()


def _prompt(tok, text="First", batch=1):
    return torch.tensor([tok.encode(text)] * batch, dtype=torch.long)


# --- the model ------------------------------------------------------------------

def test_fused_attention_equals_lesson05_masked_softmax(config):
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


# --- decoding ---------------------------------------------------------------------

def test_greedy_equals_beam_size_one_and_top_k_one(model, tok):
    prompt = _prompt(tok, "First", batch=2)
    greedy = model.greedy(prompt, 20)  # longer than block_size - prompt: exercises cropping
    seqs, scores = model.beam_search(prompt, 20, beam_size=1)
    assert seqs.shape == (2, 1, prompt.size(1) + 20) and scores.shape == (2, 1)
    assert torch.equal(seqs[:, 0], greedy)
    assert torch.equal(model.generate(prompt, 20, top_k=1, generator=torch.Generator().manual_seed(0)),
                       greedy)
    # a nucleus so small that only the likeliest token survives is greedy too
    assert torch.equal(model.generate(prompt, 20, top_p=1e-6, generator=torch.Generator().manual_seed(0)),
                       greedy)


def _sequence_logprob(model, seq, n_prompt):
    """Sum of log P(token | context) of the generated part of ``seq`` (1-D), cropping like the model."""
    total = 0.0
    bs = model.config.block_size
    for t in range(n_prompt, len(seq)):
        ctx = seq[max(0, t - bs):t][None]
        total += F.log_softmax(model(ctx)[0][0, -1], dim=-1)[seq[t]].item()
    return total


def test_beam_search_scores_are_summed_logprobs_and_batched(model, tok):
    prompts = torch.tensor([tok.encode("First"), tok.encode("hear ")], dtype=torch.long)
    seqs, scores = model.beam_search(prompts, 6, beam_size=4)
    assert seqs.shape == (2, 4, 11)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])  # best first
    for b in range(2):
        assert torch.equal(seqs[b, :, :5], prompts[b].expand(4, 5))
        assert len({tuple(s.tolist()) for s in seqs[b]}) == 4  # distinct beams
        for k in range(4):
            assert abs(_sequence_logprob(model, seqs[b, k], 5) - scores[b, k].item()) < 1e-4
        # one prompt at a time gives the same beams: the batch does not mix prompts
        alone_seqs, alone_scores = model.beam_search(prompts[b:b + 1], 6, beam_size=4)
        assert torch.equal(alone_seqs[0], seqs[b])
        torch.testing.assert_close(alone_scores[0], scores[b])
    # a wider beam finds a continuation at least as likely as greedy's
    greedy_score = _sequence_logprob(model, model.greedy(prompts[:1], 6)[0], 5)
    assert scores[0, 0].item() >= greedy_score - 1e-5


def test_sampling_is_reproducible_and_respects_top_k(model, tok):
    prompt = _prompt(tok)
    a = model.generate(prompt, 30, temperature=0.8, generator=torch.Generator().manual_seed(42))
    b = model.generate(prompt, 30, temperature=0.8, generator=torch.Generator().manual_seed(42))
    assert torch.equal(a, b) and a.shape == (1, prompt.size(1) + 30)
    # with top_k=3 every sampled token is among the 3 likeliest at its step
    out = model.generate(prompt, 15, top_k=3, generator=torch.Generator().manual_seed(1))
    for t in range(prompt.size(1), out.size(1)):
        top3 = model(out[:, max(0, t - 16):t])[0][0, -1].topk(3).indices
        assert out[0, t] in top3
    # with top_p=0.5 every sampled token is in the smallest likeliest set holding >= 0.5
    out = model.generate(prompt, 15, top_p=0.5, generator=torch.Generator().manual_seed(2))
    for t in range(prompt.size(1), out.size(1)):
        probs = model(out[:, max(0, t - 16):t])[0][0, -1].softmax(-1)
        sorted_p, order = probs.sort(descending=True)
        n_keep = int(((sorted_p.cumsum(0) - sorted_p) < 0.5).sum())
        assert out[0, t] in order[:n_keep]
    assert model.training is False


def test_generate_restores_training_mode(model, tok):
    model.train()
    model.generate(_prompt(tok), 2, generator=torch.Generator().manual_seed(0))
    model.beam_search(_prompt(tok), 2, beam_size=2)
    assert model.training


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=0.0), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(top_k=0), "top_k"), (dict(top_k=-3), "top_k"), (dict(top_k=2.5), "top_k"),
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(top_p=-0.1), "top_p"),
    (dict(max_new_tokens=-1), "max_new_tokens"),
])
def test_bad_decoding_arguments_raise_value_error(model, tok, kwargs, match):
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        model.generate(_prompt(tok), **kwargs)


def test_bad_beam_arguments_raise_value_error(model, tok):
    with pytest.raises(ValueError, match="beam_size"):
        model.beam_search(_prompt(tok), 3, beam_size=0)
    with pytest.raises(ValueError, match="beam_size"):
        model.beam_search(_prompt(tok), 3, beam_size=1000)


# --- checkpoints ------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path, model, config, tok):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))[1].backward()
    opt.step()
    path = save_checkpoint(tmp_path / "ck.pt", model, opt, 7, config, tok, extra={"note": [1.5, 2]})
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed away
    ck = load_checkpoint(path, tokenizer=tok, config=config)
    assert ck.step == 7 and ck.config == config and ck.tokenizer == tok and ck.extra == {"note": [1.5, 2]}
    assert not ck.model.training
    assert ck.model.lm_head.weight is ck.model.tok_emb.weight  # tying survives loading
    for (name, a), b in zip(model.state_dict().items(), ck.model.state_dict().values()):
        assert torch.equal(a, b), name
    opt2 = torch.optim.AdamW(ck.model.parameters(), lr=1e-3)
    opt2.load_state_dict(ck.optimizer_state)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    idx = _prompt(tok)
    torch.testing.assert_close(ck.model(idx)[0], model(idx)[0])


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint(tmp_path, model, config, tok, damage):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    raw = path.read_bytes()
    path.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"\x00not a checkpoint" * 50,
                      "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_vocabulary_and_config_mismatch(tmp_path, model, config, tok):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    other = CharTokenizer(TEXT + "XYZ")
    with pytest.raises(CheckpointError, match="vocabulary mismatch"):
        load_checkpoint(path, tokenizer=other)
    with pytest.raises(CheckpointError, match="config mismatch"):
        load_checkpoint(path, config=GPTConfig(**{**asdict(config), "n_layer": 3}))
    # a file whose stored weights do not fit its stored config
    payload = torch.load(path, weights_only=True)
    payload["config"]["n_embd"] = 64
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path)
    # a file whose vocabulary does not match its own config
    payload = torch.load(path, weights_only=True)
    payload["config"]["n_embd"] = 32
    payload["chars"] = payload["chars"][:-1]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="inconsistent"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="vocab_size"):
        save_checkpoint(tmp_path / "x.pt", model, None, 1, config, other)


class _Evil:
    """Unpickling this would run code; weights_only loading must refuse."""
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _Evil.ran = True
    return "pwned"


def test_loading_never_runs_code(tmp_path, model, config, tok):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    payload = torch.load(path, weights_only=True)
    payload["extra"] = {"surprise": _Evil()}
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)
    assert not _Evil.ran
    # and a PyTorch file that is not ours is named as such
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a GPT checkpoint"):
        load_checkpoint(path)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, model, config, tok, monkeypatch):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    before = path.read_bytes()

    def dies_halfway(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, None, 2, config, tok)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]
    assert load_checkpoint(path).step == 1
