"""helpers.mlp_lm (lesson 05) against written-out computations."""
import math

import pytest
import torch
import torch.nn.functional as F

from helpers.data import estimate_loss
from helpers.mlp_lm import TANH_GAIN, MLPLanguageModel, build_dataset, dataset_loss


def _loop_dataset(ids, block_size):
    X = [ids[i:i + block_size].tolist() for i in range(len(ids) - block_size)]
    Y = [ids[i + block_size].item() for i in range(len(ids) - block_size)]
    return torch.tensor(X), torch.tensor(Y)


@pytest.mark.parametrize("block_size", [1, 3, 8])
def test_build_dataset_matches_the_loop(block_size):
    ids = torch.randint(0, 65, (40,), generator=torch.Generator().manual_seed(block_size))
    X, Y = build_dataset(ids, block_size)
    X_ref, Y_ref = _loop_dataset(ids, block_size)
    assert X.shape == (40 - block_size, block_size) and Y.shape == (40 - block_size,)
    assert torch.equal(X, X_ref) and torch.equal(Y, Y_ref)


def test_build_dataset_rejects_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        build_dataset(torch.zeros(2, 5, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="too few"):
        build_dataset(torch.arange(3), 3)
    with pytest.raises(ValueError, match="at least 1"):
        build_dataset(torch.arange(5), 0)


def _model(seed=0, V=11, block_size=4, n_embd=3, n_hidden=7):
    torch.manual_seed(seed)
    return MLPLanguageModel(V, block_size, n_embd, n_hidden)


def test_forward_matches_concat_tanh_linear_and_manual_nll():
    model = _model()
    X = torch.randint(0, 11, (6, 4), generator=torch.Generator().manual_seed(1))
    Y = torch.randint(0, 11, (6,), generator=torch.Generator().manual_seed(2))
    logits, loss = model(X, Y)
    C = model.embedding.weight
    concat = torch.cat([C[X[:, j]] for j in range(4)], dim=1)          # (6, 12)
    h = torch.tanh(concat @ model.hidden.weight.T + model.hidden.bias)
    expected = h @ model.output.weight.T + model.output.bias
    assert torch.allclose(logits, expected, atol=1e-6)
    log_probs = expected - expected.exp().sum(dim=1, keepdim=True).log()
    manual_nll = -log_probs[torch.arange(6), Y].mean()
    assert torch.allclose(loss, manual_nll, atol=1e-6)
    assert model(X)[1] is None


def test_two_dimensional_targets_use_the_last_column():
    model = _model()
    X = torch.randint(0, 11, (5, 4), generator=torch.Generator().manual_seed(3))
    Y2 = torch.randint(0, 11, (5, 4), generator=torch.Generator().manual_seed(4))
    assert torch.equal(model(X, Y2)[1], model(X, Y2[:, -1])[1])
    with pytest.raises(ValueError, match="block_size=4"):
        model(torch.zeros(5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="targets"):
        model(X, torch.zeros(4, dtype=torch.long))


def test_initialisation_scales():
    torch.manual_seed(0)
    model = MLPLanguageModel(65, 8, 24, 512)
    fan_in = 8 * 24
    expected = TANH_GAIN / math.sqrt(fan_in)
    assert model.hidden.weight.std().item() == pytest.approx(expected, rel=0.02)
    assert model.output.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.all(model.hidden.bias == 0) and torch.all(model.output.bias == 0)
    X = torch.randint(0, 65, (256, 8), generator=torch.Generator().manual_seed(0))
    Y = torch.randint(0, 65, (256,), generator=torch.Generator().manual_seed(1))
    assert model(X, Y)[1].item() == pytest.approx(math.log(65), abs=0.05)


def test_dataset_loss_is_the_exact_mean_over_chunks():
    model = _model()
    ids = torch.randint(0, 11, (103,), generator=torch.Generator().manual_seed(5))
    X, Y = build_dataset(ids, 4)
    whole = F.cross_entropy(model(X)[0], Y).item()
    assert dataset_loss(model, X, Y, batch_size=10) == pytest.approx(whole, abs=1e-6)
    assert model.training


def test_estimate_loss_works_with_get_batch_windows():
    model = _model()
    ids = torch.randint(0, 11, (200,), generator=torch.Generator().manual_seed(6))
    out = estimate_loss(model, {"train": ids}, iters=3, block_size=4, batch_size=8,
                        generator=torch.Generator().manual_seed(0))
    assert math.isfinite(out["train"]) and out["train"] > 0


def _manual_generate(model, start, n, generator):
    """The sampling loop written out: left-pad with token 0, read the last block_size ids."""
    ids = start[0].tolist()
    padded = [0] * max(model.block_size - len(ids), 0) + ids
    for _ in range(n):
        context = torch.tensor([padded[-model.block_size:]])
        probs = F.softmax(model(context)[0], dim=-1)
        nxt = torch.multinomial(probs, 1, generator=generator).item()
        ids.append(nxt)
        padded.append(nxt)
    return ids


@pytest.mark.parametrize("start_len", [1, 4, 6])
def test_generate_matches_the_written_out_loop(start_len):
    model = _model()
    start = torch.randint(0, 11, (1, start_len), generator=torch.Generator().manual_seed(7))
    out = model.generate(start, 20, generator=torch.Generator().manual_seed(8))
    assert out.shape == (1, start_len + 20)
    assert torch.equal(out[:, :start_len], start)
    assert out[0].tolist() == _manual_generate(model, start, 20, torch.Generator().manual_seed(8))


@pytest.mark.gpu
def test_cuda_forward_and_generate_match_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model = _model(V=65, block_size=8, n_embd=24, n_hidden=512)
    X = torch.randint(0, 65, (64, 8), generator=torch.Generator().manual_seed(9))
    Y = torch.randint(0, 65, (64,), generator=torch.Generator().manual_seed(10))
    logits, loss = model(X, Y)
    cuda_model = _model(V=65, block_size=8, n_embd=24, n_hidden=512).cuda()
    cuda_logits, cuda_loss = cuda_model(X.cuda(), Y.cuda())
    assert cuda_logits.device.type == "cuda"
    assert torch.allclose(cuda_logits.cpu(), logits, atol=1e-4)
    assert cuda_loss.item() == pytest.approx(loss.item(), abs=1e-4)
    ids = torch.randint(0, 65, (500,), generator=torch.Generator().manual_seed(11))
    Xs, Ys = build_dataset(ids, 8)
    assert dataset_loss(cuda_model, Xs, Ys) == pytest.approx(dataset_loss(model, Xs, Ys), abs=1e-4)
    start = torch.zeros(2, 1, dtype=torch.long)
    out = cuda_model.generate(start.cuda(), 50, generator=torch.Generator("cuda").manual_seed(0))
    assert out.device.type == "cuda" and out.shape == (2, 51)
    assert out.min() >= 0 and out.max() < 65
    # sampling draws differ between devices' generators; greedy decoding from equal logits does not
    X_cpu, _ = build_dataset(torch.arange(20) % 65, 8)
    X_gpu, _ = build_dataset((torch.arange(20) % 65).cuda(), 8)
    assert X_gpu.device.type == "cuda" and torch.equal(X_gpu.cpu(), X_cpu)
    assert torch.equal(model(X_cpu)[0].argmax(1), cuda_model(X_gpu)[0].argmax(1).cpu())
