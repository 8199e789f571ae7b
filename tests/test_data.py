"""Corpora, the offline-safe Shakespeare downloader, datasets/batches and the tokenizer."""

import hashlib
import json

import numpy as np
import pytest

from models import data
from models.data import CharDataset, DataError, load_text
from models.tokenizer import CharTokenizer, TokenizerError

FAKE_CORPUS = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """Never touch the real cache or the network settings of the machine."""
    for name in ("STEPGRAD_CACHE", "STEPGRAD_SHAKESPEARE_URL", "STEPGRAD_OFFLINE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STEPGRAD_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """A local file:// "download" whose sha256 is the one the downloader expects."""
    source = tmp_path / "input.txt"
    source.write_text(FAKE_CORPUS, encoding="utf-8")
    monkeypatch.setattr(data, "SHAKESPEARE_SHA256", hashlib.sha256(source.read_bytes()).hexdigest())
    return source.as_uri()


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

def test_shakespeare_downloads_verifies_and_caches(fake_source, tmp_path, monkeypatch):
    monkeypatch.setenv("STEPGRAD_SHAKESPEARE_URL", fake_source)
    assert load_text("shakespeare") == FAKE_CORPUS
    assert (tmp_path / "cache" / data.SHAKESPEARE_FILE).read_text(encoding="utf-8") == FAKE_CORPUS

    def no_fetch(*args, **kwargs):
        raise AssertionError("the cached copy should have been used")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_fetch)
    assert load_text("shakespeare") == FAKE_CORPUS


def test_damaged_cache_is_downloaded_again(fake_source, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / data.SHAKESPEARE_FILE).write_text("garbage", encoding="utf-8")
    assert data.shakespeare_text(url=fake_source) == FAKE_CORPUS
    assert (cache / data.SHAKESPEARE_FILE).read_text(encoding="utf-8") == FAKE_CORPUS


def test_wrong_sha_is_refused_and_not_cached(fake_source, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SHAKESPEARE_SHA256", "0" * 64)
    with pytest.raises(DataError, match="wrong sha256") as info:
        data.shakespeare_text(url=fake_source)
    assert "\n" not in str(info.value)
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.iterdir())


def test_no_network_falls_back_with_one_line_notice(tmp_path, capsys):
    text = data.shakespeare_text(url="http://127.0.0.1:9/input.txt", timeout=2)
    notice = capsys.readouterr().err
    assert notice.count("\n") == 1 and "could not download" in notice
    assert text == data.fallback_text()
    assert not (tmp_path / "cache" / data.SHAKESPEARE_FILE).exists()


def test_offline_switch_skips_the_download(monkeypatch, capsys):
    def no_fetch(*args, **kwargs):
        raise AssertionError("STEPGRAD_OFFLINE must not touch the network")

    monkeypatch.setenv("STEPGRAD_OFFLINE", "1")
    monkeypatch.setattr(data.urllib.request, "urlopen", no_fetch)
    assert load_text("shakespeare") == data.fallback_text()
    assert "STEPGRAD_OFFLINE" in capsys.readouterr().err


def test_fallback_corpus_is_deterministic_printable_and_large():
    text = data.fallback_text()
    assert text == data.fallback_text()
    assert 500_000 < len(text) <= data.FALLBACK_CHARS and text.endswith("\n")
    assert set(text) <= {chr(c) for c in range(32, 127)} | {"\n"}


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    assert data.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("STEPGRAD_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "stepgrad"


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
