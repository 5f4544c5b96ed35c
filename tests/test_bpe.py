"""helpers.bpe: GPT-2's tokenizer equals tiktoken's, training (plain loop == fast), round trips,
special tokens, and one clear line for every bad input."""

import shutil

import pytest
import tiktoken
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken.load import load_tiktoken_bpe

from helpers.bpe import (
    ENDOFTEXT,
    GPT2_SPLIT_PATTERN,
    BPETokenizer,
    get_pair_counts,
    merge,
    train_merges,
    train_merges_plain,
)
from helpers.data import (
    CharTokenizer,
    DataFileError,
    Tokenizer,
    data_dir,
    data_path,
    load_shakespeare,
    tokenizer_from_dict,
)

TEXTS = {
    "english": "Hello world! It's a test, isn't it? We'll see; they've gone, I'd say.",
    "contractions": "don't DON'T you're we've I'm she'll he'd it's ''s 're'",
    "code": 'def f(x):\n    return {"a": x ** 2}  # comment\n\tif x != 0:\n\t\tprint(x)\n',
    "numbers": "3.14159 1,000,000 2024-01-31 0x1F 1e-9 12345678901234567890 ½ ⅔",
    "chinese": "我们今天去公园散步，天气很好。",
    "emoji": "I ❤️ tokenizers 🤖🎉 👩‍👩‍👧‍👦 flags 🇫🇷!",
    "spaces": "a  b   c    d\n\n\n  e \t\t f      \n   ",
    "mixed": "Ünïcödé naïve café — “quotes” ‘single’ … €100 ñ Ω ß",
}


@pytest.fixture(scope="module")
def gpt2():
    return BPETokenizer.gpt2()


@pytest.fixture(scope="module")
def reference():
    """tiktoken's GPT-2 encoding, built offline from the same file."""
    ranks = load_tiktoken_bpe(str(data_path("gpt2.tiktoken")))
    return tiktoken.Encoding("gpt2", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks,
                             special_tokens={ENDOFTEXT: 50256})


@pytest.fixture(scope="module")
def small():
    """A small tokenizer trained on the first 20,000 characters of tiny Shakespeare."""
    return BPETokenizer.train(load_shakespeare()[:20_000], 400)


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


# --- GPT-2's vocabulary: exactly tiktoken's tokens ------------------------------------


def test_hello_world_and_the_vocabulary(gpt2, reference):
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.vocab_size == 50257 == reference.n_vocab
    assert gpt2.special_tokens == {ENDOFTEXT: 50256}
    assert all(gpt2.vocab[i] == reference.decode_single_token_bytes(i) for i in range(50257))


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_encoding_equals_tiktoken(gpt2, reference, name):
    text = TEXTS[name]
    assert gpt2.encode(text) == reference.encode(text)
    assert gpt2.decode(gpt2.encode(text)) == text


def test_the_whole_of_tiny_shakespeare_equals_tiktoken(gpt2, reference):
    text = load_shakespeare()
    ids = gpt2.encode_ordinary(text)
    assert len(ids) == 338_025
    assert ids == reference.encode_ordinary(text)
    assert gpt2.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_encodes_as_tiktoken_and_decodes_back(gpt2, reference, text):
    ids = gpt2.encode_ordinary(text)
    assert ids == reference.encode_ordinary(text)
    assert gpt2.decode(ids) == text


def test_loading_is_verified_by_checksum(tmp_path, monkeypatch):
    """A damaged or missing data/gpt2.tiktoken is named, with the fix."""
    shutil.copy(data_dir() / "SHA256SUMS", tmp_path / "SHA256SUMS")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataFileError, match="'gpt2.tiktoken' is missing.*git checkout") as e:
        BPETokenizer.gpt2()
    _one_line(e)
    (tmp_path / "gpt2.tiktoken").write_text("IQ== 0\n")
    with pytest.raises(DataFileError, match="'gpt2.tiktoken' is damaged.*git checkout") as e:
        BPETokenizer.gpt2()
    _one_line(e)


@pytest.mark.parametrize("content, match", [
    ("IQ== 0\nnot base64 at all!\n", "line 2: expected 'base64"),
    ("IQ== 0\nIg== 5\n", "line 2: rank 5, expected 1"),
    ("IQ== 0\nIg== 1\n", "ranks 0-255 must be the 256 single bytes"),
])
def test_a_damaged_tiktoken_file_is_one_line(tmp_path, content, match):
    path = tmp_path / "bad.tiktoken"
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as e:
        BPETokenizer.from_tiktoken_file(path)
    _one_line(e)
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="not ASCII"):
        BPETokenizer.from_tiktoken_file(path)
    with pytest.raises(FileNotFoundError, match="no tiktoken ranks file"):
        BPETokenizer.from_tiktoken_file(tmp_path / "none.tiktoken")


# --- special tokens --------------------------------------------------------------------


def test_special_tokens_are_refused_unless_allowed(gpt2, reference):
    text = "The end.<|endoftext|>A new start"
    with pytest.raises(ValueError, match="contains the special token '<\\|endoftext\\|>'") as e:
        gpt2.encode(text)
    assert "allowed_special" in _one_line(e) and "encode_ordinary" in str(e.value)
    for allowed in ({ENDOFTEXT}, "all"):
        ids = gpt2.encode(text, allowed_special=allowed)
        assert ids == reference.encode(text, allowed_special=allowed)
        assert ids.count(50256) == 1 and gpt2.decode(ids) == text
    ordinary = gpt2.encode_ordinary(text)
    assert 50256 not in ordinary and ordinary == reference.encode_ordinary(text)
    with pytest.raises(ValueError, match="not special tokens"):
        gpt2.encode("x", allowed_special={"<|im_start|>"})


def test_special_tokens_come_last_and_are_never_merged():
    text = ("to be or not to be" + ENDOFTEXT) * 50
    tok = BPETokenizer.train(text, 266)  # 9 merges: every chunk of the text is one token
    assert tok.vocab_size == 266 and tok.special_tokens == {ENDOFTEXT: 265}
    assert not any(b"<|" in piece or b"|>" in piece for piece in tok.vocab[:265])
    assert tok.encode(text, allowed_special="all").count(265) == 50


# --- decoding --------------------------------------------------------------------------


def test_ids_that_split_a_character_decode_to_the_replacement_character(gpt2):
    ids = gpt2.encode("é")  # one character, two bytes: two byte tokens in GPT-2
    assert gpt2.decode_bytes(ids) == "é".encode()
    pieces = [gpt2.decode([i]) for i in gpt2.encode("🤖")]
    assert "\ufffd" in "".join(pieces)  # each id alone is half a character: no exception
    assert gpt2.decode(torch.tensor(ids)) == "é"


def test_an_id_outside_the_vocabulary_is_one_line(small):
    for bad in (400, -1, 10**6):
        with pytest.raises(ValueError, match=f"token id {bad} is outside the vocabulary") as e:
            small.decode([1, bad])
        _one_line(e)
    with pytest.raises(ValueError, match="one sequence"):
        small.decode(torch.zeros(2, 3, dtype=torch.long))


# --- training: the plain loop and the fast one -----------------------------------------


def test_pair_counts_and_merge():
    assert get_pair_counts([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    assert merge([1, 2, 3, 1, 2], (1, 2), 256) == [256, 3, 256]
    assert merge([7, 7, 7], (7, 7), 256) == [256, 7]  # left to right, no overlaps
    assert merge([7, 7, 7, 7], (7, 7), 256) == [256, 256]


@pytest.mark.parametrize("pattern", [GPT2_SPLIT_PATTERN, None], ids=["split", "no-split"])
def test_plain_loop_and_fast_training_make_the_same_merges(pattern):
    text = load_shakespeare()[:4000]
    plain = train_merges_plain(text, 120, pattern)
    assert len(plain) == 120
    assert train_merges(text, 120, pattern) == plain


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab c\né", max_size=120), st.integers(1, 30))
def test_plain_and_fast_agree_on_any_small_text(text, n_merges):
    assert train_merges(text, n_merges) == train_merges_plain(text, n_merges)


def test_training_is_deterministic_and_of_the_size_asked_for(small):
    text = load_shakespeare()[:20_000]
    again = BPETokenizer.train(text, 400)
    assert again == small and again.merges == small.merges
    assert small.vocab_size == 400 and len(small.merges) == 400 - 256 - 1
    assert small.vocab[256] == small.vocab[small.merges[0][0]] + small.vocab[small.merges[0][1]]
    ids = small.encode(text)
    assert len(ids) < 0.6 * len(text.encode())  # 143 merges: 44 % fewer tokens than bytes
    assert small.decode(ids) == text


def test_a_trained_tokenizer_encodes_as_tiktoken_would_with_its_ranks(small):
    """Our encoder is tiktoken's algorithm: with our ranks, tiktoken gives the same tokens."""
    ours = tiktoken.Encoding("small", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=small.ranks,
                             special_tokens=small.special_tokens)
    text = load_shakespeare()[-30_000:]  # text it was not trained on
    assert small.encode(text) == ours.encode(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_a_trained_tokenizer_round_trips_any_text(small, text):
    assert small.decode(small.encode_ordinary(text)) == text


@pytest.mark.parametrize("vocab_size, match", [
    (255, "vocab_size must be an integer >= 257"),
    (256, "vocab_size must be an integer >= 257"),
    (300.0, "vocab_size must be an integer"),
    (100_000, "vocab_size=100000 is out of reach: after .* merges .* use vocab_size <= "),
])
def test_bad_vocabulary_sizes_are_one_line(vocab_size, match):
    with pytest.raises(ValueError, match=match) as e:
        BPETokenizer.train("a small text, far too small for many merges", vocab_size)
    _one_line(e)


def test_training_on_an_empty_text_is_one_line():
    with pytest.raises(ValueError, match="empty text") as e:
        BPETokenizer.train("", 300)
    _one_line(e)


def test_bytes_only_without_special_tokens():
    tok = BPETokenizer.train("abc", 256, special_tokens=())
    assert tok.vocab_size == 256 and tok.merges == [] and tok.encode("abc") == [97, 98, 99]


# --- saving and loading ----------------------------------------------------------------


def test_save_load_round_trip(tmp_path, small, gpt2):
    path = small.save(tmp_path / "small.bpe")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "from-value-to-gpt bpe v1" and lines[2] == 'special "<|endoftext|>"'
    a, b = small.merges[0]
    assert lines[5].startswith(f"{a} {b}  # ")  # one merge per line, commented with its bytes
    loaded = BPETokenizer.load(path)
    assert loaded == small and loaded.vocab == small.vocab
    text = load_shakespeare()[-5000:]
    assert loaded.encode(text) == small.encode(text)
    # GPT-2's permuted bytes survive too
    again = BPETokenizer.load(gpt2.save(tmp_path / "gpt2.bpe"))
    assert again == gpt2 and again.encode(TEXTS["emoji"]) == gpt2.encode(TEXTS["emoji"])


def test_a_damaged_tokenizer_file_is_one_line(tmp_path, small):
    path = small.save(tmp_path / "t.bpe")
    good = path.read_text(encoding="utf-8").splitlines()
    damaged = {
        "header": (["something else"] + good[1:], "not a tokenizer file written by"),
        "truncated": (good[:-10], "promises 143 merges, it holds 133"),
        "garbled": (good[:8] + ["12 x"] + good[9:], "line 9: .* cannot be read"),
        "future id": (good[:5] + ["999 1"] + good[6:], "merge 0 .* does not exist yet"),
        "bytes": (good[:3] + ["bytes 1 2 3"] + good[4:], "byte_order must list each byte"),
    }
    for name, (lines, match) in damaged.items():
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=match) as e:
            BPETokenizer.load(path)
        _one_line(e)
        assert str(path) in str(e.value), name
    path.write_bytes(b"\xff\xfe binary")
    with pytest.raises(ValueError, match="not a tokenizer file"):
        BPETokenizer.load(path)
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        BPETokenizer.load(tmp_path / "none.bpe")


# --- the shared tokenizer interface ----------------------------------------------------


def test_both_tokenizers_share_one_interface(tmp_path, small):
    char = CharTokenizer("hello world")
    for tok in (char, small):
        assert isinstance(tok, Tokenizer)
        d = tok.to_dict()
        torch.save(d, tmp_path / "d.pt")  # plain values: weights_only loading reads them
        back = tokenizer_from_dict(torch.load(tmp_path / "d.pt", weights_only=True))
        assert back == tok and type(back) is type(tok)
        assert back.decode(back.encode("hello world")) == "hello world"


@pytest.mark.parametrize("d, match", [
    ({"kind": "words"}, "unknown tokenizer kind 'words'"),
    ([1, 2], "must be a dict"),
    ({"kind": "char", "chars": "ba"}, "sorted distinct characters"),
    ({"kind": "bpe", "pattern": None}, "not a BPE tokenizer dict"),
    ({"kind": "bpe", "pattern": None, "special_tokens": [], "byte_order": list(range(256)),
      "merges": [[0, 300]]}, "does not exist yet"),
])
def test_a_bad_tokenizer_dict_is_one_line(d, match):
    with pytest.raises(ValueError, match=match) as e:
        tokenizer_from_dict(d)
    _one_line(e)
