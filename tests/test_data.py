"""Corpora (the packaged tiny Shakespeare, text files), datasets and their batches, the tokenizer."""

import gzip
import hashlib
import json
import random
import socket

import numpy as np
import pytest

from models import data
from models.data import CharDataset, DataError, is_word_list, load_text
from models.tokenizer import CharTokenizer, TokenizerError


# ------------------------------------------------------------------ text files

def test_load_text_reads_utf8_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("héllo wörld\n", encoding="utf-8")
    assert load_text(str(path)) == "héllo wörld\n"


@pytest.mark.parametrize("make, words", [
    (lambda p: p, ["not found"]),
    (lambda p: (p.mkdir(), p)[1], ["directory"]),
    (lambda p: (p.write_bytes(b""), p)[1], ["empty"]),
    (lambda p: (p.write_bytes(b"abc\xffdef"), p)[1], ["not UTF-8", "0xff", "offset 3"]),
])
def test_bad_files_give_one_line_data_error(tmp_path, make, words):
    path = make(tmp_path / "corpus.txt")
    with pytest.raises(DataError) as info:
        load_text(str(path))
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message


# ------------------------------------------------------------------ shakespeare

def test_shakespeare_ships_with_the_package_and_needs_no_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("reading tiny Shakespeare must not touch the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    text = load_text("shakespeare")
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == data.SHAKESPEARE_SHA256
    assert len(text) == 1_115_394 and text.startswith("First Citizen:\nBefore we proceed any further")
    assert len(set(text)) == 65


def test_the_packaged_copy_is_small():
    from importlib import resources

    assert resources.files("models").joinpath(data.SHAKESPEARE_RESOURCE).stat().st_size < 600_000


@pytest.mark.parametrize("damage, words", [
    (lambda packed: packed[:len(packed) // 2], ["damaged"]),                       # cut short
    (lambda packed: b"not gzip at all" + packed, ["damaged"]),                     # not gzip
    (lambda packed: gzip.compress(gzip.decompress(packed).replace(b"ROMEO", b"ROMEX")), ["sha256"]),
])
def test_a_damaged_packaged_copy_is_a_one_line_error(damage, words):
    from importlib import resources

    packed = resources.files("models").joinpath(data.SHAKESPEARE_RESOURCE).read_bytes()
    with pytest.raises(DataError) as info:
        data.unpack_shakespeare(damage(packed))
    message = str(info.value)
    assert "\n" not in message and "reinstall stepgrad" in message
    for word in words:
        assert word in message


def test_a_missing_packaged_copy_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(data, "SHAKESPEARE_RESOURCE", "corpora/not-there.txt.gz")
    with pytest.raises(DataError, match="missing from the installed package"):
        load_text("shakespeare")


# --------------------------------------------------------------------- dataset

def corpus(n=1000):
    rng = np.random.default_rng(0)
    return "".join(rng.choice(list("abcdefgh \n"), size=n))


def test_split_sizes_and_dtype():
    dataset = CharDataset(corpus(1000))
    assert (len(dataset.train), len(dataset.val)) == (900, 100)
    assert dataset.train.dtype == np.int64
    dataset = CharDataset(corpus(1000), val_fraction=0.25)
    assert (len(dataset.train), len(dataset.val)) == (750, 250)
    assert dataset.tokenizer.decode(np.concatenate([dataset.train, dataset.val])) == corpus(1000)


def test_batches_are_shifted_windows_at_generator_offsets():
    dataset, block = CharDataset(corpus()), 16
    x, y = dataset.get_batch("train", 5, block, np.random.default_rng(7))
    assert x.shape == y.shape == (5, block) and x.dtype == y.dtype == np.int64
    offsets = np.random.default_rng(7).integers(len(dataset.train) - block, size=5)
    for row, offset in enumerate(offsets):
        np.testing.assert_array_equal(x[row], dataset.train[offset:offset + block])
        np.testing.assert_array_equal(y[row], dataset.train[offset + 1:offset + block + 1])


def test_batches_reproducible_by_seed_and_resumable_from_state():
    dataset = CharDataset(corpus())
    rng = np.random.default_rng(3)
    dataset.get_batch("train", 4, 8, rng)
    saved = rng.bit_generator.state
    expected = dataset.get_batch("val", 4, 8, rng)
    resumed = np.random.default_rng()
    resumed.bit_generator.state = saved
    np.testing.assert_array_equal(dataset.get_batch("val", 4, 8, resumed)[0], expected[0])
    first = dataset.get_batch("train", 4, 8, np.random.default_rng(3))
    again = dataset.get_batch("train", 4, 8, np.random.default_rng(3))
    np.testing.assert_array_equal(first[1], again[1])


def test_longest_possible_block_uses_the_last_character():
    dataset = CharDataset("abcdefghij" * 2, val_fraction=0.5)  # 10 ids per split
    x, y = dataset.get_batch("val", 3, 9, np.random.default_rng(0))
    assert (x == x[0]).all() and y[0, -1] == dataset.val[-1]


@pytest.mark.parametrize("text, block, words", [
    ("a" * 50, 64, ["block size 64", "train split has 45", "at least 65", "data.txt"]),
    ("a" * 100, 20, ["val split has 10", "at least 21"]),
])
def test_corpus_shorter_than_context(text, block, words):
    dataset = CharDataset(text, source="data.txt")
    with pytest.raises(DataError) as info:
        dataset.get_batch("train", 2, block, np.random.default_rng(0))
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_bad_dataset_arguments():
    with pytest.raises(DataError, match="val_fraction"):
        CharDataset("abc", val_fraction=1.0)
    with pytest.raises(DataError, match="split"):
        CharDataset(corpus()).get_batch("test", 2, 4, np.random.default_rng(0))
    with pytest.raises(DataError, match="no val split"):
        CharDataset(corpus(), val_fraction=0).get_batch("val", 2, 4, np.random.default_rng(0))


# ---------------------------------------------------------- word lists and contexts

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn"]


def makemore_examples(words, block_size, stoi):
    """makemore's build_dataset: every character of every word (and its end) with the block_size before it."""
    xs, ys = [], []
    for word in words:
        context = [stoi["\n"]] * block_size
        for ch in word + "\n":
            xs.append(context)
            ys.append(stoi[ch])
            context = context[1:] + [stoi[ch]]
    return np.array(xs), np.array(ys)


@pytest.mark.parametrize("text, expected", [
    ("emma\nolivia\nava\n", True),
    ("emma\nolivia", True),
    ("emma\n", False),                      # one line: a text
    ("emma\n\nolivia\n", False),            # an empty line
    ("new york\nparis\n", False),           # a line of two words
    ("First Citizen:\nBefore we proceed\n", False),
])
def test_word_lists_are_recognised(text, expected):
    assert is_word_list(text) is expected


def test_a_word_list_is_shuffled_as_makemore_does_and_split_by_word():
    text = "\n".join(NAMES) + "\n"
    dataset = CharDataset(text, val_fraction=0.2, word_list=True)
    words = list(NAMES)
    random.seed(42)
    random.shuffle(words)  # makemore's own lines
    decode = dataset.tokenizer.decode
    assert decode(dataset.train) == "".join(w + "\n" for w in words[:8])
    assert decode(dataset.val) == "".join(w + "\n" for w in words[8:])
    assert dataset.word_list and len(dataset.starts) == len(NAMES)


def test_contexts_of_a_word_list_are_makemores_examples():
    dataset = CharDataset.from_words(NAMES[:7], NAMES[7:])
    stoi = {ch: i for i, ch in enumerate(dataset.tokenizer.chars)}
    newline = stoi["\n"]
    for split, words in (("train", NAMES[:7]), ("val", NAMES[7:])):
        positions = dataset.positions(split)
        xs, ys = makemore_examples(words, 3, stoi)
        np.testing.assert_array_equal(dataset.contexts(positions, 3, newline), xs)
        np.testing.assert_array_equal(dataset.ids[positions], ys)


def test_contexts_of_a_text_are_the_characters_before_and_pad_only_at_its_start():
    dataset = CharDataset("abcdefghijklmnopqrst", val_fraction=0.5)
    pad = 99
    contexts = dataset.contexts(np.arange(20), 4, pad)                 # (20, 4)
    np.testing.assert_array_equal(contexts[0], [pad] * 4)
    np.testing.assert_array_equal(contexts[2], [pad, pad, 0, 1])
    np.testing.assert_array_equal(contexts[10], [6, 7, 8, 9])          # the first val character sees train text
    np.testing.assert_array_equal(dataset.positions("val"), np.arange(10, 20))


def test_context_batches_are_runs_of_targets_at_generator_offsets():
    dataset = CharDataset(corpus())
    x, y = dataset.get_context_batch("val", 5, 6, 3, -1, np.random.default_rng(7))
    assert x.shape == (5, 6, 3) and y.shape == (5, 6) and x.dtype == y.dtype == np.int64
    offsets = np.random.default_rng(7).integers(len(dataset.val) - 6 + 1, size=5)
    for row, offset in enumerate(offsets):
        positions = dataset.n_train + offset + np.arange(6)
        np.testing.assert_array_equal(y[row], dataset.ids[positions])
        np.testing.assert_array_equal(x[row], dataset.ids[positions[:, None] - 3 + np.arange(3)])
    with pytest.raises(DataError, match="sequence length 101"):
        dataset.get_context_batch("val", 1, 101, 3, -1, np.random.default_rng(0))


@pytest.mark.parametrize("block", [1, 7, 99])
def test_windows_cover_every_target_of_a_split_once_in_order(block):
    dataset = CharDataset(corpus())                                    # 100 val ids: 99 targets
    pieces = dataset.windows("val", block)
    xs = np.concatenate([x.reshape(-1) for x, _ in pieces])
    ys = np.concatenate([y.reshape(-1) for _, y in pieces])
    np.testing.assert_array_equal(xs, dataset.val[:-1])
    np.testing.assert_array_equal(ys, dataset.val[1:])
    assert all(x.shape[1] <= block for x, _ in pieces)


# ------------------------------------------------------------------- tokenizer

def test_tokenizer_round_trip_and_sorted_vocabulary():
    text = "hello, world!\nÜnïcödé 🙂"
    tok = CharTokenizer.from_text(text)
    assert tok.chars == "".join(sorted(set(text))) and tok.vocab_size == len(set(text))
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert tok.decode(ids) == text and tok.decode(ids.tolist()) == text
    assert tok.encode("").shape == (0,) and tok.decode([]) == ""


def test_tokenizer_json_round_trip():
    tok = CharTokenizer.from_text("the quick brown fox\n\"'\\")
    restored = CharTokenizer.from_json(tok.to_json())
    assert restored.chars == tok.chars
    assert CharTokenizer.from_dict(json.loads(json.dumps(tok.to_dict()))).chars == tok.chars
    with pytest.raises(TokenizerError):
        CharTokenizer.from_json("{not json")


def test_unknown_characters_are_named():
    tok = CharTokenizer.from_text("hello world")
    with pytest.raises(TokenizerError) as info:
        tok.encode("héllo €uro é", what="prompt")
    assert str(info.value) == "prompt contains characters not in the vocabulary: 'é', '€', 'u'"
    with pytest.raises(TokenizerError, match="out of range"):
        tok.decode([0, tok.vocab_size])
