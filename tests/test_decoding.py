"""helpers.decoding: greedy, beam search and the sampling filters, as functions of a model."""

import pytest
import torch
import torch.nn.functional as F

from helpers.decoding import beam_search, greedy, next_token_logits, top_k_filter, top_p_filter

pytestmark = pytest.mark.usefixtures("one_thread")


def _prompt(tok, text="First", batch=1):
    return torch.tensor([tok.encode(text)] * batch, dtype=torch.long)


def _sequence_logprob(model, seq, n_prompt):
    """Sum of log P(token | context) over the generated part of ``seq`` (1-D), context cropped."""
    total = 0.0
    bs = model.config.block_size
    for t in range(n_prompt, len(seq)):
        ctx = seq[max(0, t - bs) : t][None]
        total += F.log_softmax(model(ctx)[0][0, -1], dim=-1)[seq[t]].item()
    return total


def test_greedy_equals_beam_size_one_and_top_k_one(model, tok):
    prompt = _prompt(tok, "First", batch=2)
    out = greedy(model, prompt, 20)  # longer than block_size - prompt: exercises cropping
    seqs, scores = beam_search(model, prompt, 20, beam_size=1)
    assert seqs.shape == (2, 1, prompt.size(1) + 20) and scores.shape == (2, 1)
    assert torch.equal(seqs[:, 0], out)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(model.generate(prompt, 20, top_k=1, generator=gen), out)
    # a nucleus so small that only the likeliest token survives is greedy too
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(model.generate(prompt, 20, top_p=1e-6, generator=gen), out)


def test_decoding_crops_a_300_character_prompt_to_its_last_block_size(model, tok, text):
    """Generating from a 300-character prompt == generating from its last block_size characters."""
    bs = model.config.block_size
    long_prompt = _prompt(tok, (text * 6)[:300])
    short_prompt = long_prompt[:, -bs:]
    assert torch.equal(
        next_token_logits(model, long_prompt), next_token_logits(model, short_prompt)
    )
    a, b = greedy(model, long_prompt, 30), greedy(model, short_prompt, 30)
    assert torch.equal(a[:, :300], long_prompt) and torch.equal(a[:, 300:], b[:, bs:])
    (sa, ca), (sb, cb) = (
        beam_search(model, long_prompt, 8, 3),
        beam_search(model, short_prompt, 8, 3),
    )
    assert sa.shape == (1, 3, 308)
    assert torch.equal(sa[:, :, 300:], sb[:, :, bs:]) and torch.equal(ca, cb)


def test_beam_search_scores_are_summed_logprobs_and_batched(model, tok):
    prompts = torch.tensor([tok.encode("First"), tok.encode("hear ")], dtype=torch.long)
    seqs, scores = beam_search(model, prompts, 6, beam_size=4)
    assert seqs.shape == (2, 4, 11)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])  # best first
    for b in range(2):
        assert torch.equal(seqs[b, :, :5], prompts[b].expand(4, 5))
        assert len({tuple(s.tolist()) for s in seqs[b]}) == 4  # distinct beams
        for k in range(4):
            assert abs(_sequence_logprob(model, seqs[b, k], 5) - scores[b, k].item()) < 1e-4
        # one prompt at a time gives the same beams: the batch does not mix prompts
        alone_seqs, alone_scores = beam_search(model, prompts[b : b + 1], 6, beam_size=4)
        assert torch.equal(alone_seqs[0], seqs[b])
        torch.testing.assert_close(alone_scores[0], scores[b])
    # a wider beam finds a continuation at least as likely as greedy's
    greedy_score = _sequence_logprob(model, greedy(model, prompts[:1], 6)[0], 5)
    assert scores[0, 0].item() >= greedy_score - 1e-5


def test_beam_size_may_exceed_the_vocabulary(model, tok):
    """More beams than characters: after two tokens there are V^2 continuations to keep."""
    V = model.config.vocab_size
    K = V + 7
    seqs, scores = beam_search(model, _prompt(tok), 2, beam_size=K)
    assert seqs.shape == (1, K, 7) and torch.isfinite(scores).all()
    assert len({tuple(s.tolist()) for s in seqs[0]}) == K  # all distinct
    for k in (0, K // 2, K - 1):
        assert abs(_sequence_logprob(model, seqs[0, k], 5) - scores[0, k].item()) < 1e-4
    # after a single token only V continuations exist: the rest are marked -inf
    one, one_scores = beam_search(model, _prompt(tok), 1, beam_size=K)
    assert torch.isfinite(one_scores[0, :V]).all() and torch.isinf(one_scores[0, V:]).all()
    assert sorted(one[0, :V, -1].tolist()) == list(range(V))


def test_decoding_restores_training_mode(model, tok):
    model.train()
    greedy(model, _prompt(tok), 2)
    beam_search(model, _prompt(tok), 2, beam_size=2)
    assert model.training


def test_filters_keep_the_likeliest_tokens():
    logits = torch.tensor([[2.0, 0.0, 1.0, -1.0]])
    assert torch.equal(top_k_filter(logits, 2).isinf(), torch.tensor([[False, True, False, True]]))
    assert torch.equal(top_k_filter(logits, 10), logits)
    probs = logits.softmax(-1)  # 0.64, 0.09, 0.24, 0.03
    assert torch.equal(top_p_filter(logits, 0.5).isinf(), torch.tensor([[False, True, True, True]]))
    assert torch.equal(
        top_p_filter(logits, 0.8).isinf(), torch.tensor([[False, True, False, True]])
    )
    assert probs[0, 0] < 0.8 < probs[0, 0] + probs[0, 2]
    assert torch.equal(top_p_filter(logits, 1.0), logits)


def test_bad_decoding_arguments_raise_value_error(model, tok):
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, _prompt(tok), 3, beam_size=0)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, _prompt(tok), 3, beam_size=2.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy(model, _prompt(tok), -1)
    with pytest.raises(ValueError, match="LongTensor"):
        greedy(model, torch.zeros(1, 3), 2)
    with pytest.raises(ValueError, match="empty"):
        beam_search(model, torch.zeros(1, 0, dtype=torch.long), 2, beam_size=2)
