"""MultiDomainTextDataModule: readers, label mapping, stratified seeded splits, bad input."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from tests.conftest import SHARED_DATA
from zoo.data.multidomain_text import MultiDomainTextDataModule, stratified_split
from zoo.data.sentiment_readers import read_financial_phrasebank, read_persian

SENTIMENT = SHARED_DATA / "sentiment"
if not SENTIMENT.is_dir():  # worktrees without ../shared: fall back to ZOO_DATA_DIR
    import os

    SENTIMENT = __import__("pathlib").Path(os.environ.get("ZOO_DATA_DIR", "/work/shared/data")) / "sentiment"
needs_data = pytest.mark.skipif(not SENTIMENT.is_dir(), reason="shared sentiment data not found")

ROWS = [
    ("great phone, love it", "pos", "phones"), ("battery died in a day", "neg", "phones"),
    ("screen is sharp and bright", "pos", "phones"), ("stopped charging", "neg", "phones"),
    ("tasty and fresh", "pos", "food"), ("stale bread, awful", "neg", "food"),
    ("delicious soup", "pos", "food"), ("too salty", "neg", "food"),
    ("غذا خوشمزه بود", "pos", "food"), ("فیلم خیلی بد بود", "neg", "movies"),
    ("الفيلم رائع جدا", "pos", "movies"), ("boring plot", "neg", "movies"),
] * 5


def _write_csv(path, rows, header=("text", "label", "domain"), sep=","):
    import csv

    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=sep)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _dm(path, tmp_path, **kwargs) -> MultiDomainTextDataModule:
    kwargs.setdefault("vocab_size", 200)
    return MultiDomainTextDataModule(source="table", path=str(path), cache_dir=str(tmp_path / "cache"),
                                     save_dir=str(tmp_path / "run"), **kwargs)


def test_stratified_split_is_seeded_and_stratified():
    keys = [("a", 0)] * 50 + [("a", 1)] * 30 + [("b", 0)] * 20 + [("c", 1)]
    first = stratified_split(keys, 0.1, 0.2, seed=3)
    assert first == stratified_split(keys, 0.1, 0.2, seed=3)
    assert first != stratified_split(keys, 0.1, 0.2, seed=4)
    for key, n in (("a", 0), 50), (("a", 1), 30), (("b", 0), 20):
        got = Counter(s for k, s in zip(keys, first) if k == key)
        assert got["test"] == round(n * 0.2) and got["val"] == round(n * 0.1), (key, got)
    assert first[-1] == "train"  # a one-row group stays in training


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_table_reader_formats_and_columns(tmp_path, fmt):
    header = ("review", "stars", "shop")
    if fmt == "jsonl":
        path = tmp_path / "corpus.jsonl"
        path.write_text("\n".join(json.dumps(dict(zip(header, r)), ensure_ascii=False) for r in ROWS), encoding="utf-8")
    else:
        path = _write_csv(tmp_path / f"corpus.{fmt}", ROWS, header, "," if fmt == "csv" else "\t")
    dm = _dm(path, tmp_path, text_column="review", label_column="stars", domain_column="shop")
    dm.setup()
    assert dm.class_names == ["neg", "pos"]
    assert dm.domain_names == ["food", "movies", "phones"]
    sizes = {s: len(dm.split(s)) for s in ("train", "val", "test")}
    assert sum(sizes.values()) == len(ROWS) and sizes["test"] > 0
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].dtype == torch.long and batch["input_ids"].shape[0] == batch["label"].shape[0]
    splits = (tmp_path / "run" / "splits.tsv").read_text().splitlines()
    assert splits[0] == "row\tsplit\tdomain\tlabel" and len(splits) == len(ROWS) + 1
    counts = dm.domain_term_counts()
    assert counts.shape == (3, dm.vocab_size)
    assert float(counts.sum()) == sum(len(ids) for ids in dm.split("train").ids)
    with pytest.raises(ValueError, match=r"data.text_column='body'.*columns found"):
        _dm(path, tmp_path, text_column="body", label_column="stars", domain_column="shop").setup()


def test_tokenizer_handles_persian_and_arabic(tmp_path):
    dm = _dm(_write_csv(tmp_path / "c.csv", ROWS), tmp_path)
    dm.setup()
    for text in ("غذا خوشمزه بود", "الفيلم رائع جدا"):
        ids = dm.encode([text])[0]
        assert ids and 1 not in ids, (text, ids)  # no [UNK] for scripts seen in training
    # Arabic yeh/kaf fold into the Persian letters
    assert dm.encode(["كتاب علي"]) == dm.encode(["کتاب علی"])
    # the tokenizer is cached: a second datamodule reuses the file
    cached = sorted((tmp_path / "cache").glob("tokenizer-*.json"))
    assert len(cached) == 1


def test_empty_texts_dropped_or_refused(tmp_path):
    path = _write_csv(tmp_path / "c.csv", ROWS + [("", "pos", "food"), ("   ", "neg", "phones")])
    dm = _dm(path, tmp_path)
    dm.setup()
    assert sum(len(dm.split(s)) for s in ("train", "val", "test")) == len(ROWS)
    with pytest.raises(ValueError, match=r"2 empty text.*empty_texts='drop'"):
        _dm(path, tmp_path, empty_texts="error").setup()


def test_labels_outside_the_declared_set(tmp_path):
    path = _write_csv(tmp_path / "c.csv", ROWS + [("meh", "mixed", "food")])
    with pytest.raises(ValueError, match=r"\['mixed'\] outside the declared set \['neg', 'pos'\]"):
        _dm(path, tmp_path, labels=["neg", "pos"]).setup()
    dm = _dm(path, tmp_path, labels=["neg", "pos"], unknown_labels="drop")
    dm.setup()
    assert dm.num_classes == 2 and sum(len(dm.split(s)) for s in ("train", "val", "test")) == len(ROWS)


def test_domain_only_in_test_file(tmp_path):
    train = _write_csv(tmp_path / "train.csv", ROWS)
    test = _write_csv(tmp_path / "test.csv", [("nice hotel", "pos", "hotels"), ("great soup", "pos", "food")])
    with pytest.raises(ValueError, match=r"test split has domain\(s\) \['hotels'\] absent from the training"):
        _dm(train, tmp_path, test_path=str(test)).setup()
    dm = _dm(train, tmp_path, test_path=str(test), unseen_domains="drop")
    dm.setup()
    assert len(dm.split("test")) == 1 and dm.num_domains == 3


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / "latin.csv"
    body = "text,label,domain\n" + "\n".join(f"{t},{l},{d}" for t, l, d in ROWS[:8] * 3)
    path.write_bytes(body.encode("utf-8") + "\ncaf\xe9 au lait,pos,food\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.csv: byte \d+ \(0xe9\) is not valid utf-8"):
        _dm(path, tmp_path).setup()
    dm = _dm(path, tmp_path, encoding_errors="replace")
    dm.setup()
    texts = dm.texts("train") + dm.texts("val") + dm.texts("test")
    assert "caf\ufffd au lait" in texts
    dm = _dm(path, tmp_path, encoding="latin-1")
    dm.setup()
    assert "café au lait" in dm.texts("train") + dm.texts("val") + dm.texts("test")


def test_bad_options_name_key_and_choices(tmp_path):
    with pytest.raises(ValueError, match=r"data.source='imdb'.*blitzer_mdsd"):
        MultiDomainTextDataModule(source="imdb", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"data.empty_texts='skip'.*drop"):
        _dm(tmp_path / "x.csv", tmp_path, empty_texts="skip")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        _dm(tmp_path / "missing.csv", tmp_path).setup()
    with pytest.raises(ValueError, match="data.format"):
        _dm(_write_csv(tmp_path / "c.txt", ROWS), tmp_path).setup()


@needs_data
def test_persian_label_mapping_and_domains():
    records = read_persian(str(SENTIMENT / "persian"))
    counts = Counter((r.domain, r.label) for r in records)
    # SentiPers 5561 + 1854 rows, all kept (-2..2); ParsiNLU drops the 184 + 64 "mixed" (3) reviews
    assert sum(v for (d, _), v in counts.items() if d == "digital") == 5561 + 1854
    assert sum(v for (d, _), v in counts.items() if d == "food") == 1917 - 184
    assert sum(v for (d, _), v in counts.items() if d == "movie") == 506 - 64
    assert counts[("digital", "negative")] == 513 + 28 + 184 + 12  # -1 and -2 in both files
    assert counts[("food", "neutral")] == 30 and counts[("movie", "neutral")] == 24
    mixed_as_neutral = read_persian(str(SENTIMENT / "persian"), mixed="neutral")
    assert len(mixed_as_neutral) == len(records) + 184 + 64


@needs_data
def test_financial_phrasebank_reader():
    records = read_financial_phrasebank(str(SENTIMENT / "financial_phrasebank"), agreement=66)
    assert len(records) == 4217 and {r.domain for r in records} == {"finance"}
    assert set(Counter(r.label for r in records)) == {"negative", "neutral", "positive"}


def test_pretrained_vectors_fill_the_embedding_table(tmp_path):
    from zoo.nets.text_capsule_net import TextCapsuleNet

    dm = _dm(_write_csv(tmp_path / "c.csv", ROWS), tmp_path)
    dm.setup()
    vocab = dm.tokenizer.get_vocab()
    word = next(w for w in ("phone", "food", "soup", "plot") if w in vocab)
    vectors = tmp_path / "vectors.txt"
    vectors.write_text(f"2 4\n{word} 1 2 3 4\nunseenword 9 9 9 9\n", encoding="utf-8")
    dm_vec = _dm(_write_csv(tmp_path / "c.csv", ROWS), tmp_path, pretrained_vectors=str(vectors))
    path = dm_vec.pretrained_embeddings_path
    net = TextCapsuleNet(vocab_size=dm_vec.vocab_size, num_classes=2, embed_dim=4, pretrained_path=path,
                         freeze_embeddings=True)
    torch.testing.assert_close(net.embedding.weight[vocab[word]], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert not net.embedding.weight.requires_grad and float(net.embedding.weight[0].abs().sum()) == 0
    with pytest.raises(ValueError, match=r"pretrained_path=.*expected \(vocab_size, embed_dim\)"):
        TextCapsuleNet(vocab_size=dm_vec.vocab_size, num_classes=2, embed_dim=8, pretrained_path=path)
    assert dm.pretrained_embeddings_path is None
