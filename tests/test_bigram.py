"""helpers.bigram: counting and the neural bigram are the same model, reached two ways."""
import math

import pytest
import torch
from torch.nn import functional as F

from helpers.bigram import BigramLanguageModel, bigram_counts, bigram_nll
from helpers.data import CharTokenizer


def test_counts_match_a_loop():
    tok = CharTokenizer("abcab ca")
    ids = torch.tensor(tok.encode("abcab cab a"))
    N = bigram_counts(ids, tok.vocab_size)
    expected = torch.zeros(tok.vocab_size, tok.vocab_size, dtype=torch.long)
    for a, b in zip(ids[:-1].tolist(), ids[1:].tolist()):
        expected[a, b] += 1
    assert torch.equal(N, expected) and N.sum() == len(ids) - 1


def test_nll_known_values_and_unseen_pairs():
    uniform = torch.full((4, 4), 0.25)
    ids = torch.tensor([0, 1, 2, 3, 0])
    assert bigram_nll(uniform, ids) == pytest.approx(math.log(4))
    certain = torch.eye(4)[[1, 2, 3, 0]]  # 0->1->2->3->0 with probability 1
    assert bigram_nll(certain, ids) == pytest.approx(0.0)
    assert bigram_nll(certain, torch.tensor([0, 2])) == math.inf  # a pair of probability 0


def test_forward_shapes_and_loss():
    torch.manual_seed(0)
    model = BigramLanguageModel(vocab_size=11)
    idx, targets = torch.randint(11, (3, 5)), torch.randint(11, (3, 5))
    logits, loss = model(idx)
    assert logits.shape == (3, 5, 11) and loss is None
    logits, loss = model(idx, targets)
    table = model.token_embedding_table.weight
    manual = -F.log_softmax(table[idx], dim=-1).gather(-1, targets[..., None]).mean()
    assert torch.allclose(loss, manual, atol=1e-6)


def test_log_count_table_gives_the_counting_nll():
    """Setting the logits to log P of the smoothed counts reproduces the counting model exactly."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(6, (500,), generator=g)
    probs = (bigram_counts(ids, 6) + 1).float()
    probs /= probs.sum(1, keepdim=True)
    model = BigramLanguageModel(6)
    with torch.no_grad():
        model.token_embedding_table.weight.copy_(probs.log())
    _, loss = model(ids[None, :-1], ids[None, 1:])
    assert loss.item() == pytest.approx(bigram_nll(probs, ids), abs=1e-6)


def test_generate_is_reproducible_and_follows_the_table():
    model = BigramLanguageModel(5)
    with torch.no_grad():  # a deterministic cycle 0->1->2->3->4->0: logits -inf off the cycle
        model.token_embedding_table.weight.fill_(-math.inf)
        model.token_embedding_table.weight[torch.arange(5), (torch.arange(5) + 1) % 5] = 0.0
    out = model.generate(torch.zeros(2, 1, dtype=torch.long), max_new_tokens=7)
    assert out.shape == (2, 8) and out[0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    torch.manual_seed(0)
    random_model = BigramLanguageModel(5)
    start = torch.zeros(1, 1, dtype=torch.long)
    a = random_model.generate(start, 50, generator=torch.Generator().manual_seed(3))
    b = random_model.generate(start, 50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_clear_errors():
    model = BigramLanguageModel(5)
    with pytest.raises(ValueError, match="token id 7, outside the vocabulary 0..4"):
        model(torch.tensor([[1, 7]]))
    with pytest.raises(ValueError, match=r"idx must be \(B, T\).*idx\[None\]"):
        model(torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="LongTensor"):
        bigram_counts(torch.tensor([0.0, 1.0]), 5)


def test_tokenizer_names_a_character_outside_its_vocabulary():
    """Lesson 04's tokenizer: one line that names the character and the fix, not a KeyError."""
    tok = CharTokenizer("First Citizen: speak, speak.")
    expected = (r"character 'é' \(U\+00E9\) at position 3 is not in the tokenizer's "
                r"vocabulary .*build the tokenizer from a text")
    with pytest.raises(ValueError, match=expected):
        tok.encode("Fitéz")
