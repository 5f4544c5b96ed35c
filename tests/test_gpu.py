"""Every helper that trains or samples gives on a CUDA GPU what it gives on the CPU.

Marked ``gpu``: skipped on a machine without a CUDA GPU (tests/conftest.py). Run them with
``.venv/bin/pytest -q -m gpu tests/test_gpu.py``. Each test builds the same thing twice, on
the CPU and on ``cuda``, and compares to a tolerance (float32 sums run in another order on
a GPU). Sampling cannot give the same tokens (CUDA's random stream is not the CPU's), so
sampling is checked three ways: the tokens are on the GPU, a seed repeats them, and their
frequencies match the CPU model's probabilities; top_k=1 must give exactly the CPU's text.
"""
import copy

import pytest
import torch
import torch.nn.functional as F

pytestmark = pytest.mark.gpu

CUDA = torch.device("cuda")


def cuda_generator(seed: int = 0) -> torch.Generator:
    return torch.Generator(device="cuda").manual_seed(seed)


def cpu_generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def total_variation(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Half the L1 distance between observed frequencies and probabilities."""
    return 0.5 * float((counts.double() / counts.sum() - probs.double()).abs().sum())


def tokens(n: int = 5000, vocab: int = 65, seed: int = 0) -> torch.Tensor:
    return torch.randint(vocab, (n,), generator=cpu_generator(seed))


# --- helpers.data: batches and the loss estimate ------------------------------------------


def test_get_batch_on_the_gpu_is_the_cpu_batch():
    from helpers.data import get_batch

    data = tokens()
    x_cpu, y_cpu = get_batch(data, 8, 4, generator=cpu_generator())
    for source in (data, data.to(CUDA)):                 # data on either device
        x, y = get_batch(source, 8, 4, device=CUDA, generator=cpu_generator())
        assert x.device.type == "cuda" and y.device.type == "cuda"
        assert torch.equal(x.cpu(), x_cpu) and torch.equal(y.cpu(), y_cpu)


def test_estimate_loss_on_the_gpu_equals_the_cpu():
    from helpers.bigram import BigramLanguageModel
    from helpers.data import estimate_loss

    torch.manual_seed(0)
    model = BigramLanguageModel(65)
    splits = {"train": tokens(seed=1), "val": tokens(seed=2)}
    cpu = estimate_loss(model, splits, 5, 8, 16, generator=cpu_generator())
    gpu = estimate_loss(copy.deepcopy(model).to(CUDA), splits, 5, 8, 16,
                        generator=cpu_generator())
    assert gpu.keys() == cpu.keys()
    for name in cpu:
        assert gpu[name] == pytest.approx(cpu[name], rel=1e-5)


# --- helpers.bigram ----------------------------------------------------------------------


def test_bigram_loss_gradients_and_sampling_on_the_gpu():
    from helpers.bigram import BigramLanguageModel

    torch.manual_seed(0)
    cpu_model = BigramLanguageModel(65)
    gpu_model = copy.deepcopy(cpu_model).to(CUDA)
    x, y = tokens(64).view(4, 16), tokens(64, seed=1).view(4, 16)
    _, cpu_loss = cpu_model(x, y)
    _, gpu_loss = gpu_model(x.to(CUDA), y.to(CUDA))
    assert gpu_loss.item() == pytest.approx(cpu_loss.item(), rel=1e-5)
    cpu_loss.backward()
    gpu_loss.backward()
    assert torch.allclose(gpu_model.token_embedding_table.weight.grad.cpu(),
                          cpu_model.token_embedding_table.weight.grad, atol=1e-6)

    prompt = torch.full((20000, 1), 3, dtype=torch.long, device=CUDA)
    out = gpu_model.generate(prompt, 1, generator=cuda_generator(0))
    again = gpu_model.generate(prompt, 1, generator=cuda_generator(0))
    assert out.device.type == "cuda" and out.shape == (20000, 2) and torch.equal(out, again)
    probs = F.softmax(cpu_model.token_embedding_table.weight[3].detach(), dim=-1)
    counts = torch.bincount(out[:, 1].cpu(), minlength=65)
    assert total_variation(counts, probs) < 0.05


# --- helpers.gpt (and helpers.decoding) -------------------------------------------------


def _gpt_pair():
    from helpers.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    config = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32)
    cpu_model = GPT(config)
    return cpu_model, copy.deepcopy(cpu_model).to(CUDA)


def test_gpt_forward_loss_and_gradients_on_the_gpu():
    cpu_model, gpu_model = _gpt_pair()
    x, y = tokens(64).view(4, 16), tokens(64, seed=1).view(4, 16)
    cpu_logits, cpu_loss = cpu_model(x, y)
    gpu_logits, gpu_loss = gpu_model(x.to(CUDA), y.to(CUDA))
    assert gpu_logits.device.type == "cuda"
    assert torch.allclose(gpu_logits.cpu(), cpu_logits, atol=1e-4)
    assert gpu_loss.item() == pytest.approx(cpu_loss.item(), rel=1e-5)
    cpu_loss.backward()
    gpu_loss.backward()
    for (name, p_cpu), p_gpu in zip(cpu_model.named_parameters(), gpu_model.parameters()):
        assert torch.allclose(p_gpu.grad.cpu(), p_cpu.grad, atol=1e-4), name


def test_gpt_generate_on_the_gpu():
    cpu_model, gpu_model = _gpt_pair()
    prompt = tokens(10).view(2, 5)
    # top_k=1 keeps only the likeliest token: no randomness left, so exactly the CPU's text
    cpu_text = cpu_model.generate(prompt, 20, top_k=1, generator=cpu_generator())
    gpu_text = gpu_model.generate(prompt.to(CUDA), 20, top_k=1, generator=cuda_generator())
    assert gpu_text.device.type == "cuda" and torch.equal(gpu_text.cpu(), cpu_text)
    # a prompt longer than block_size is cropped the same way on both devices
    long_prompt = tokens(40).view(2, 20)
    assert torch.equal(gpu_model.generate(long_prompt.to(CUDA), 5, top_k=1).cpu(),
                       cpu_model.generate(long_prompt, 5, top_k=1))
    # sampling: seeded, repeatable, and distributed as the CPU model's probabilities
    many = torch.full((20000, 1), 7, dtype=torch.long, device=CUDA)
    first = gpu_model.generate(many, 1, temperature=0.5, generator=cuda_generator(1))
    again = gpu_model.generate(many, 1, temperature=0.5, generator=cuda_generator(1))
    assert torch.equal(first, again)
    with torch.no_grad():
        probs = F.softmax(cpu_model(torch.tensor([[7]]))[0][0, -1] / 0.5, dim=-1)
    counts = torch.bincount(first[:, 1].cpu(), minlength=65)
    assert total_variation(counts, probs) < 0.05
    for top_k, top_p in ((5, None), (None, 0.9)):
        out = gpu_model.generate(many[:100], 3, top_k=top_k, top_p=top_p,
                                 generator=cuda_generator(2))
        assert out.device.type == "cuda" and out.shape == (100, 4)


def test_greedy_and_beam_search_on_the_gpu():
    decoding = pytest.importorskip("helpers.decoding")
    cpu_model, gpu_model = _gpt_pair()
    prompt = tokens(10).view(2, 5)
    assert torch.equal(decoding.greedy(gpu_model, prompt.to(CUDA), 12).cpu(),
                       decoding.greedy(cpu_model, prompt, 12))
    cpu_seqs, cpu_scores = decoding.beam_search(cpu_model, prompt, 6, beam_size=3)
    gpu_seqs, gpu_scores = decoding.beam_search(gpu_model, prompt.to(CUDA), 6, beam_size=3)
    assert gpu_seqs.device.type == "cuda" and gpu_scores.device.type == "cuda"
    assert torch.equal(gpu_seqs.cpu(), cpu_seqs)
    assert torch.allclose(gpu_scores.cpu(), cpu_scores, atol=1e-4)


# --- helpers.kmeans ----------------------------------------------------------------------


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_kmeans_on_the_gpu_equals_the_cpu(init):
    from helpers.kmeans import kmeans, make_blobs

    X, _ = make_blobs(100, [[-5.0, 2.0], [0.0, -4.0], [5.0, 3.0], [1.0, 5.0]], std=1.0, seed=0)
    cpu = kmeans(X, 4, init=init, generator=cpu_generator())
    gpu = kmeans(X.to(CUDA), 4, init=init, generator=cpu_generator())  # same CPU draws
    assert gpu.centers.device.type == "cuda" and gpu.labels.device.type == "cuda"
    assert torch.equal(gpu.labels.cpu(), cpu.labels)
    assert torch.allclose(gpu.centers.cpu(), cpu.centers, atol=1e-4)
    assert gpu.inertia == pytest.approx(cpu.inertia, rel=1e-4)
    assert gpu.n_iter == cpu.n_iter
    # given starting centres, and a generator on the GPU: it runs there too
    start = X[:4].clone()
    given = kmeans(X.to(CUDA), 4, init=start.to(CUDA))
    assert torch.equal(given.labels.cpu(), kmeans(X, 4, init=start).labels)
    on_gpu = kmeans(X.to(CUDA), 4, generator=cuda_generator())
    assert on_gpu.labels.device.type == "cuda"


# --- helpers.mnist -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_mnist():
    """The first 512 training and 256 held-out images of the course's split."""
    from dataclasses import fields

    from helpers.mnist import load_mnist_splits

    full = load_mnist_splits()
    sizes = (512, 512, 256, 256)          # (x_train, y_train, held-out x, held-out y)
    parts = [getattr(full, f.name)[:n] for f, n in zip(fields(full), sizes)]
    return type(full)(*parts)


def test_mnist_predict_and_training_on_the_gpu(small_mnist):
    from dataclasses import fields

    from helpers.mnist import accuracy, predict, train_classifier

    x_held, y_held = (getattr(small_mnist, f.name) for f in fields(small_mnist)[2:])
    torch.manual_seed(0)
    cpu_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64),
                                    torch.nn.ReLU(), torch.nn.Linear(64, 10))
    gpu_model = copy.deepcopy(cpu_model).to(CUDA)
    # data stays on the CPU: the helpers move each batch to the model's device
    cpu_logits = predict(cpu_model, x_held)
    gpu_logits = predict(gpu_model, x_held)
    assert torch.allclose(gpu_logits.cpu(), cpu_logits, atol=1e-4)
    cpu_hist = train_classifier(cpu_model, small_mnist, 1, seed=0, progress=False)
    gpu_hist = train_classifier(gpu_model, small_mnist, 1, seed=0, progress=False)
    assert next(gpu_model.parameters()).device.type == "cuda"
    assert len(gpu_hist.step_loss) == len(cpu_hist.step_loss) == 8
    assert gpu_hist.step_loss == pytest.approx(cpu_hist.step_loss, abs=1e-3)
    assert accuracy(gpu_model, x_held, y_held) == pytest.approx(
        accuracy(cpu_model, x_held, y_held), abs=0.02)


# --- helpers.layers ----------------------------------------------------------------------


@pytest.mark.parametrize("layer, size, shape", [
    ("BatchNorm1d", 8, (32, 8)),
    ("BatchNorm1d", 8, (16, 8, 5)),
    ("LayerNorm", 8, (4, 6, 8)),
])
def test_normalisation_layers_on_the_gpu(layer, size, shape):
    import helpers.layers

    torch.manual_seed(0)
    cpu_layer = getattr(helpers.layers, layer)(size)
    gpu_layer = copy.deepcopy(cpu_layer).to(CUDA)
    x = (3 * torch.randn(shape, generator=cpu_generator()) + 1).requires_grad_()
    x_gpu = x.detach().to(CUDA).requires_grad_()
    out_cpu, out_gpu = cpu_layer(x), gpu_layer(x_gpu)       # training mode
    assert out_gpu.device.type == "cuda"
    assert torch.allclose(out_gpu.detach().cpu(), out_cpu.detach(), atol=1e-5)
    weights = torch.randn(shape, generator=cpu_generator(1))
    (out_cpu * weights).sum().backward()
    (out_gpu * weights.to(CUDA)).sum().backward()
    assert torch.allclose(x_gpu.grad.cpu(), x.grad, atol=1e-5)
    for (name, b_cpu), b_gpu in zip(cpu_layer.state_dict().items(),
                                    gpu_layer.state_dict().values()):
        assert torch.allclose(b_gpu.cpu().double(), b_cpu.double(), atol=1e-5), name
    cpu_layer.eval()
    gpu_layer.eval()
    with torch.no_grad():
        assert torch.allclose(gpu_layer(x_gpu).cpu(), cpu_layer(x), atol=1e-5)


# --- helpers.conv ------------------------------------------------------------------------


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_conv_helpers_on_the_gpu(stride, padding):
    from helpers.conv import conv2d_loop, conv2d_unfold, unfold

    g = cpu_generator()
    x = torch.randn(2, 3, 9, 9, generator=g)
    w = torch.randn(4, 3, 3, 3, generator=g)
    b = torch.randn(4, generator=g)
    expected = F.conv2d(x, w, b, stride=stride, padding=padding)   # on the CPU: no TF32
    for conv in (conv2d_loop, conv2d_unfold):
        got = conv(x.to(CUDA), w.to(CUDA), b.to(CUDA), stride=stride, padding=padding)
        assert got.device.type == "cuda", conv.__name__
        assert torch.allclose(got.cpu(), expected, atol=1e-4), conv.__name__
    cols = unfold(x.to(CUDA), 3, stride, padding)
    assert cols.device.type == "cuda"
    assert torch.equal(cols.cpu(), unfold(x, 3, stride, padding))
