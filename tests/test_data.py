"""helpers.data: files verified by checksum, loaders return what the lessons expect."""
import shutil

import numpy as np
import pytest
import torch

from helpers import data
from helpers.data import CharTokenizer, DataFileError


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of data/ (so a test may damage it) that helpers.data will use."""
    folder = tmp_path / "data"
    shutil.copytree(data.data_dir(), folder)
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    monkeypatch.setattr(data, "_verified", set())
    return folder


def test_all_files_verify():
    assert data.verify_all() == {
        "tinyshakespeare.txt": "ok", "california_housing.csv": "ok",
        "mnist-t10k-images-idx3-ubyte.gz": "ok", "mnist-t10k-labels-idx1-ubyte.gz": "ok",
        "gpt_shakespeare.pt": "ok", "gpt_shakespeare.history.json": "ok", "gpt2.tiktoken": "ok",
        "gpt_shakespeare_bpe.pt": "ok", "gpt_shakespeare_bpe.history.json": "ok",
    }


def test_damaged_file_is_named_with_the_fix(data_copy):
    with open(data_copy / "tinyshakespeare.txt", "a") as f:
        f.write("x")
    damaged = r"'tinyshakespeare.txt' is damaged.*SHA-256.*git checkout"
    with pytest.raises(DataFileError, match=damaged):
        data.load_shakespeare()


def test_missing_file_is_named_with_the_fix(data_copy):
    (data_copy / "california_housing.csv").unlink()
    with pytest.raises(DataFileError, match=r"'california_housing.csv' is missing.*git checkout"):
        data.load_housing()


def test_unknown_file_lists_the_known_ones():
    with pytest.raises(DataFileError, match="not a course data file.*tinyshakespeare.txt"):
        data.data_path("nope.txt")


def test_shakespeare_and_tokenizer():
    text = data.load_shakespeare()
    assert len(text) == 1_115_394
    tok = CharTokenizer(text)
    assert tok.vocab_size == 65
    sample = text[:1000]
    assert tok.decode(tok.encode(sample)) == sample
    assert tok.decode(torch.tensor(tok.encode(sample))) == sample
    assert CharTokenizer(tok.chars) == tok


def test_tokenizer_names_unknown_character_and_position():
    tok = CharTokenizer("hello world")
    with pytest.raises(ValueError, match=r"character 'é' \(U\+00E9\) at position 3"):
        tok.encode("helé")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([99])


def test_splits_and_batches():
    splits, tok = data.load_shakespeare_splits()
    assert len(splits["train"]) == 1_003_854 and len(splits["val"]) == 111_540
    g = torch.Generator().manual_seed(0)
    x, y = data.get_batch(splits["train"], block_size=8, batch_size=4, generator=g)
    assert x.shape == y.shape == (4, 8) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    x2, _ = data.get_batch(splits["train"], 8, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)  # reproducible with a seeded generator
    with pytest.raises(ValueError, match="too few"):
        data.get_batch(splits["val"][:5], block_size=8, batch_size=1)


def test_housing():
    h = data.load_housing()
    assert h.features.shape == (20_640, 8) and h.target.shape == (20_640,)
    assert h.feature_names[4] == "total_bedrooms"
    assert np.isnan(h.features).sum() == 207 == np.isnan(h.features[:, 4]).sum()
    assert set(h.ocean_proximity) == {"<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"}


def test_mnist():
    images, labels = data.load_mnist()
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10_000,) and labels.dtype == torch.int64
    assert set(labels.tolist()) == set(range(10))
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits


def test_make_moons():
    X, y = data.make_moons(100, noise=0.1, seed=1)
    assert X.shape == (100, 2) and set(y.tolist()) == {0, 1} and y.sum() == 50
    X2, _ = data.make_moons(100, noise=0.1, seed=1)
    assert np.array_equal(X, X2)
    clean, cy = data.make_moons(100, noise=0.0)
    r_outer = np.hypot(*clean[cy == 0].T)  # the outer moon lies on the unit circle
    assert np.allclose(r_outer, 1.0)
