"""helpers.checkpoint: the format, atomic saving, loading that names what is wrong; a checkpoint
carries its tokenizer, characters or BPE (version 2), and version-1 files still load."""

import math
import os
import stat
from dataclasses import asdict

import pytest
import torch

from helpers.bpe import BPETokenizer
from helpers.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, write_atomically
from helpers.data import (
    CharTokenizer,
    bits_per_char,
    data_path,
    shakespeare_text_splits,
    whole_split_loss,
)
from helpers.gpt import GPT, GPTConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def test_checkpoint_round_trip(tmp_path, model, config, tok):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))[1].backward()
    opt.step()
    path = save_checkpoint(tmp_path / "ck.pt", model, opt, 7, config, tok, extra={"note": [1.5, 2]})
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed away
    ck = load_checkpoint(path, tokenizer=tok, config=config)
    assert ck.step == 7 and ck.config == config and ck.tokenizer == tok
    assert ck.extra == {"note": [1.5, 2]}
    assert not ck.model.training
    assert ck.model.lm_head.weight is ck.model.tok_emb.weight  # tying survives loading
    for (name, a), b in zip(model.state_dict().items(), ck.model.state_dict().values()):
        assert torch.equal(a, b), name
    opt2 = torch.optim.AdamW(ck.model.parameters(), lr=1e-3)
    opt2.load_state_dict(ck.optimizer_state)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    idx = torch.tensor([tok.encode("First")])
    torch.testing.assert_close(ck.model(idx)[0], model(idx)[0])


def test_the_shipped_checkpoint_loads():
    ck = load_checkpoint(data_path("gpt_shakespeare.pt"))
    assert ck.config == GPTConfig(
        vocab_size=65, block_size=128, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=True
    )
    assert ck.model.num_params() == 818_048 and ck.step == 3250 and ck.optimizer_state is None
    assert ck.tokenizer.vocab_size == 65 and ck.extra["train_args"]["steps"] == 3500
    raw = torch.load(data_path("gpt_shakespeare.pt"), weights_only=True)["model"]
    assert raw["tok_emb.weight"].data_ptr() == raw["lm_head.weight"].data_ptr()  # stored once


def test_files_get_ordinary_permissions(tmp_path, model, config, tok):
    """0666 minus the umask (0644 under the usual 022), not mkstemp's 0600."""
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
        text = write_atomically(tmp_path / "h.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(text.stat().st_mode) == 0o644
    assert text.read_text() == "{}"


def test_tied_embedding_is_stored_once_even_from_a_gpu(tmp_path, model, config, tok, monkeypatch):
    """On a GPU every .cpu() call makes a new copy; the tied matrix must still be saved once."""
    path = save_checkpoint(tmp_path / "cpu.pt", model, None, 1, config, tok)
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self, *a, **k: self.clone())  # as from a GPU
    from_gpu = save_checkpoint(tmp_path / "gpu.pt", model, None, 1, config, tok)
    monkeypatch.undo()
    for p in (path, from_gpu):
        raw = torch.load(p, weights_only=True)["model"]
        assert raw["tok_emb.weight"].data_ptr() == raw["lm_head.weight"].data_ptr(), p.name
    # and the file holds one copy: no bigger than the parameters themselves plus a margin
    embedding_bytes = config.vocab_size * config.n_embd * 4
    assert from_gpu.stat().st_size < path.stat().st_size + embedding_bytes // 2
    ck = load_checkpoint(from_gpu)
    assert ck.model.lm_head.weight is ck.model.tok_emb.weight


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize("key", ["config", "tokenizer", "step", "model", "optimizer", "extra"])
def test_every_missing_key_is_named(tmp_path, model, config, tok, key):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    payload = torch.load(path, weights_only=True)
    del payload[key]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"'{key}'"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "key, bad",
    [
        ("config", [1, 2]),
        ("tokenizer", 65),
        ("tokenizer", "abc"),
        ("step", "7"),
        ("step", -1),
        ("step", True),
        ("model", [1.0]),
        ("model", {"tok_emb.weight": 1.0}),
        ("optimizer", "adam"),
        ("extra", None),
    ],
)
def test_every_mistyped_key_is_named(tmp_path, model, config, tok, key, bad):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    payload = torch.load(path, weights_only=True)
    payload[key] = bad
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"'{key}'"):
        load_checkpoint(path)


@pytest.mark.parametrize("field", ["n_head", "bias"])
def test_a_config_missing_a_field_is_named_not_filled_with_a_default(
    tmp_path, model, config, tok, field
):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    payload = torch.load(path, weights_only=True)
    del payload["config"][field]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"config.*{field}"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint(tmp_path, model, config, tok, damage):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    raw = path.read_bytes()
    path.write_bytes(
        {"truncate": raw[: len(raw) // 2], "garbage": b"\x00not a checkpoint" * 50, "empty": b""}[
            damage
        ]
    )
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_vocabulary_and_config_mismatch(tmp_path, model, config, tok, text):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    other = CharTokenizer(text + "XYZ")
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
    payload["tokenizer"]["chars"] = payload["tokenizer"]["chars"][:-1]
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


def test_interrupted_text_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = write_atomically(tmp_path / "history.json", '{"evals": [1]}')

    def no_disk(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", no_disk)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, '{"evals": [1, 2]}')
    assert path.read_text() == '{"evals": [1]}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]


# --- the tokenizer inside the checkpoint (lesson 08) ----------------------------------------


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(shakespeare_text_splits()["train"][:30_000], 300)


def test_a_checkpoint_with_a_bpe_tokenizer_round_trips(tmp_path, bpe):
    config = GPTConfig(vocab_size=bpe.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=16)
    torch.manual_seed(0)
    model = GPT(config).eval()
    path = save_checkpoint(tmp_path / "bpe.pt", model, None, 3, config, bpe)
    raw = torch.load(path, weights_only=True)  # plain values only
    assert raw["version"] == 2 and raw["tokenizer"]["kind"] == "bpe" and "chars" not in raw
    ck = load_checkpoint(path, tokenizer=bpe, config=config)
    assert isinstance(ck.tokenizer, BPETokenizer) and ck.tokenizer == bpe
    text = "Before we proceed any further, hear me speak."
    assert ck.tokenizer.decode(ck.tokenizer.encode(text)) == text
    idx = torch.tensor([bpe.encode(text)])
    torch.testing.assert_close(ck.model(idx)[0], model(idx)[0])
    # another tokenizer than the one saved is named
    with pytest.raises(CheckpointError, match="vocabulary mismatch.*BPETokenizer") as e:
        load_checkpoint(path, tokenizer=CharTokenizer("abc"))
    assert "\n" not in str(e.value)


def test_a_tokenizer_that_does_not_fit_the_embedding_is_one_line(tmp_path, bpe, model, config, tok):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    payload = torch.load(path, weights_only=True)
    payload["tokenizer"] = bpe.to_dict()  # 300 tokens for an embedding of tok.vocab_size rows
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="vocab_size=.* but its tokenizer has 300 tokens"):
        load_checkpoint(path)
    payload["tokenizer"] = {"kind": "bpe", "merges": "nonsense"}
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="'tokenizer' entry cannot be used") as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value)


def test_version_1_files_with_chars_still_load(tmp_path, model, config, tok):
    path = save_checkpoint(tmp_path / "ck.pt", model, None, 1, config, tok)
    payload = torch.load(path, weights_only=True)
    payload["version"] = 1
    payload["chars"] = payload.pop("tokenizer")["chars"]
    torch.save(payload, path)
    assert load_checkpoint(path, tokenizer=tok).tokenizer == tok
    payload["chars"] = "ba"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="'chars' entry is not a sorted string"):
        load_checkpoint(path)
    del payload["chars"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="no 'chars' entry"):
        load_checkpoint(path)
    payload["version"] = 3
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="version 3, this code reads versions 1, 2"):
        load_checkpoint(path)


def test_the_shipped_model_scores_2_205_bits_per_char_on_the_whole_validation_text():
    """Lesson 07's whole-split figure, now computed by helpers.data (any tokenizer)."""
    ck = load_checkpoint(data_path("gpt_shakespeare.pt"))
    val = shakespeare_text_splits()["val"]
    bpc = bits_per_char(ck.model, ck.tokenizer, val, ck.config.block_size)
    assert round(bpc, 3) == 2.205
    nats, n = whole_split_loss(ck.model, torch.tensor(ck.tokenizer.encode(val)), 128)
    assert n == len(val) - 1 and round(nats, 4) == 1.5284
    assert bpc == pytest.approx(nats / math.log(2), rel=1e-9)


def test_bits_per_char_spreads_a_bpe_models_loss_over_its_characters(bpe):
    """Loss per token x tokens / characters: a BPE model and a character model compare."""
    config = GPTConfig(vocab_size=bpe.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=16)
    torch.manual_seed(0)
    model = GPT(config)
    text = shakespeare_text_splits()["val"][:3000]
    ids = torch.tensor(bpe.encode(text))
    nats, n = whole_split_loss(model, ids, 8)
    assert n == len(ids) - 1
    n_chars = len(text) - len(bpe.decode(ids[:1].tolist()))
    expected = nats * n / n_chars / math.log(2)
    assert bits_per_char(model, bpe, text, 8) == pytest.approx(expected, rel=1e-9)
