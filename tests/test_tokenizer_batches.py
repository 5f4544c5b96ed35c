"""What tests/test_data.py leaves out: batches follow the text, estimate_loss evaluates politely."""
import torch
from torch import nn
from torch.nn import functional as F

from helpers.data import CharTokenizer, estimate_loss, get_batch


def test_batches_are_windows_of_the_text_and_targets_are_next_characters():
    tok = CharTokenizer("abcdefghij")
    data = torch.tensor(tok.encode("abcdefghij" * 3))
    x, y = get_batch(data, block_size=4, batch_size=6, generator=torch.Generator().manual_seed(0))
    for xs, ys in zip(x, y):
        window = tok.decode(xs) + tok.decode(ys[-1:])
        assert window in "abcdefghij" * 3  # a real stretch of the text
        assert tok.decode(ys) == window[1:]


class _Recorder(nn.Module):
    """A bigram-like model that records its mode and whether autograd was on."""

    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(10, 10)
        self.dropout = nn.Dropout(0.5)
        self.seen = []

    def forward(self, idx, targets):
        self.seen.append((self.training, torch.is_grad_enabled()))
        logits = self.dropout(self.table(idx))
        return logits, F.cross_entropy(logits.view(-1, 10), targets.view(-1))


def test_estimate_loss_evaluates_in_eval_mode_without_grad_and_restores_mode():
    torch.manual_seed(0)
    splits = {"train": torch.randint(10, (200,)), "val": torch.randint(10, (100,))}
    model = _Recorder().train()
    losses = estimate_loss(model, splits, iters=3, block_size=5, batch_size=4,
                           generator=torch.Generator().manual_seed(0))
    assert set(losses) == {"train", "val"} and all(isinstance(v, float) for v in losses.values())
    assert model.seen == [(False, False)] * 6 and model.training
    again = estimate_loss(model, splits, iters=3, block_size=5, batch_size=4,
                          generator=torch.Generator().manual_seed(0))
    assert again == losses  # no dropout in eval mode + seeded batches = the same numbers
