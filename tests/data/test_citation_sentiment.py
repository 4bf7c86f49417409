"""The generic citation-sentiment TSV loader, AAN titles, and the stratified split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zoo.utils.resolvers import default_data_dir
from zoo.data.citation_sentiment import (
    CitationSentimentDataModule, _stratified_masks, read_aan_titles, read_citation_tsv,
)

CORPUS = Path(default_data_dir()) / "citation_sentiment" / "citation_sentiment_corpus.txt"


def test_reads_a_tsv_in_the_athar_form(tmp_path):
    path = tmp_path / "arxivnet.tsv"
    path.write_text("# header\n# Source Target Sentiment Text\n\nP1\tP2\tp\t\"Great work.\"\nP3\tP2\tn\tFails here.\n")
    rows = read_citation_tsv(str(path), ["o", "p", "n"])
    assert rows == [("P1", "P2", "p", "Great work."), ("P3", "P2", "n", "Fails here.")]


def test_bad_rows_name_file_line_and_allowed_labels(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("P1\tP2\tx\ttext\n")
    with pytest.raises(ValueError, match=r"bad.tsv:1: label 'x'; expected one of \['o', 'p', 'n'\]"):
        read_citation_tsv(str(path), ["o", "p", "n"])
    path.write_text("P1\tP2\n")
    with pytest.raises(ValueError, match="bad.tsv:1: expected 4 tab-separated columns"):
        read_citation_tsv(str(path), ["o", "p", "n"])
    with pytest.raises(FileNotFoundError, match="data.corpus_path"):
        read_citation_tsv(str(tmp_path / "missing.tsv"), ["o"])


def test_aan_titles(tmp_path):
    path = tmp_path / "meta.txt"
    path.write_text("id = {A00-1}\nauthor = {X}\ntitle = {Parsing Things}\n\nid = {A00-2}\ntitle = {More}\n")
    assert read_aan_titles(str(path)) == {"A00-1": "Parsing Things", "A00-2": "More"}


@pytest.mark.skipif(not CORPUS.is_file(), reason="shared data not present")
def test_real_corpus_counts():
    rows = read_citation_tsv(str(CORPUS), ["o", "p", "n"])
    labels = [r[2] for r in rows]
    assert len(rows) == 8736
    assert (labels.count("o"), labels.count("p"), labels.count("n")) == (7627, 829, 280)


def test_stratified_split_is_disjoint_seeded_and_keeps_rare_classes():
    y = torch.tensor([0] * 90 + [1] * 8 + [2] * 2)
    a = _stratified_masks(y, 3, 0.1, 0.2, seed=3)
    b = _stratified_masks(y, 3, 0.1, 0.2, seed=3)
    assert all(torch.equal(m, n) for m, n in zip(a, b))
    train, val, test = a
    assert not (train & val).any() and not (train & test).any() and not (val & test).any()
    assert (train | val | test).all()
    assert int(test[y == 2].sum()) == 0 or int(train[y == 2].sum()) >= 1


def test_bad_configuration_raises(tmp_path):
    with pytest.raises(ValueError, match="data.encoder"):
        CitationSentimentDataModule(corpus_path="x", cache_dir=str(tmp_path), encoder="bert")
    with pytest.raises(ValueError, match="data.val_fraction"):
        CitationSentimentDataModule(corpus_path="x", cache_dir=str(tmp_path), val_fraction=0.5, test_fraction=0.6)
