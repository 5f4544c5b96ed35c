"""Shared pytest set-up: tests marked ``gpu`` skip on a machine without a CUDA GPU, and
the tiny GPT that the model, decoding and checkpoint tests share."""
import pytest
import torch

from helpers.data import CharTokenizer
from helpers.gpt import GPT, GPTConfig

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (compares the GPU result with the CPU's)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture
def one_thread():
    """Small models run faster, and reproducibly, on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def text():
    return TEXT


@pytest.fixture
def tok(text):
    return CharTokenizer(text)


@pytest.fixture
def config(tok):
    return GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=2, n_head=4, n_embd=32)


@pytest.fixture
def model(config):
    torch.manual_seed(0)
    return GPT(config).eval()
