"""The KG datamodule: real data (WN18RR, PyKEEN's bundled KGs) and bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from zoo.utils.resolvers import default_data_dir
from zoo.data.knowledge_graph import KnowledgeGraphDataModule

WN18RR = Path(default_data_dir()) / "kg" / "WN18RR"


def write_kg(root, train, valid=None, test=None, texts=None):
    root.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("valid", valid or train[:1]), ("test", test or train[:1])):
        (root / f"{name}.txt").write_text("".join("\t".join(r) + "\n" for r in rows))
    if texts is not None:
        (root / "entity2text.txt").write_text("".join(f"{k}\t{v}\n" for k, v in texts.items()))
    return root


TRAIN = [("a", "likes", "b"), ("b", "likes", "c"), ("c", "hates", "a")]


@pytest.mark.parametrize("name,entities,relations,train", [("Nations", 14, 55, 1592), ("UMLS", 135, 46, 5216),
                                                           ("Kinships", 104, 25, 8544)])
def test_pykeen_bundled_matches_pykeen(name, entities, relations, train):
    import pykeen.datasets

    dm = KnowledgeGraphDataModule(root=f"pykeen:{name}")
    assert (dm.num_entities, dm.num_relations, len(dm.triples("train"))) == (entities, relations, train)
    reference = getattr(pykeen.datasets, name)()
    assert dm.entity_to_id == reference.training.entity_to_id
    assert dm.relation_to_id == reference.training.relation_to_id
    # the same id triples (PyKEEN stores them sorted)
    assert torch.equal(torch.unique(dm.triples("test"), dim=0), torch.unique(reference.testing.mapped_triples, dim=0))


def test_wn18rr_directory_and_text():
    dm = KnowledgeGraphDataModule(root=str(WN18RR), unseen="keep")
    assert (dm.num_entities, dm.num_relations) == (40943, 11)
    assert [len(dm.triples(s)) for s in ("train", "valid", "test")] == [86835, 3034, 3134]
    assert dm.entity_texts is not None and all(t is not None for t in dm.entity_texts)
    assert dm.relation_texts[dm.relation_to_id["_hypernym"]] == "hypernym"
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (512, 3) and batch.dtype == torch.long
    assert next(iter(dm.test_dataloader())).shape == (256, 4)


def test_unseen_entities_policies(tmp_path, caplog):
    root = write_kg(tmp_path / "kg", TRAIN, valid=[("a", "likes", "z"), ("a", "likes", "b")], test=[("a", "likes", "c"), ("q", "likes", "a")])
    with caplog.at_level(logging.WARNING):
        dropped = KnowledgeGraphDataModule(root=str(root))
        assert len(dropped.triples("test")) == 1 and dropped.num_entities == 3
    assert "dropped 1 of 2 triples" in caplog.text
    kept = KnowledgeGraphDataModule(root=str(root), unseen="keep")
    assert kept.num_entities == 5 and len(kept.triples("test")) == 2
    with pytest.raises(ValueError, match="never occur in train.txt"):
        KnowledgeGraphDataModule(root=str(root), unseen="error").num_entities
    with pytest.raises(ValueError, match="no triple left"):
        KnowledgeGraphDataModule(root=str(write_kg(tmp_path / "v", TRAIN, valid=[("x", "likes", "y")]))).num_entities
    with pytest.raises(ValueError, match="data.unseen='ignore'"):
        KnowledgeGraphDataModule(root=str(root), unseen="ignore")


def test_wrong_column_count_names_file_and_line(tmp_path):
    root = write_kg(tmp_path / "kg", TRAIN)
    (root / "train.txt").write_text("a\tlikes\tb\nb\tlikes\n")
    with pytest.raises(ValueError, match=r"train.txt:2: expected 3 tab-separated columns .* got 2"):
        KnowledgeGraphDataModule(root=str(root)).num_entities


def test_empty_file_and_missing_dir(tmp_path):
    root = write_kg(tmp_path / "kg", TRAIN)
    (root / "test.txt").write_text("\n")
    with pytest.raises(ValueError, match="test.txt: the file holds no triple"):
        KnowledgeGraphDataModule(root=str(root)).num_entities
    with pytest.raises(FileNotFoundError, match="no such knowledge-graph directory"):
        KnowledgeGraphDataModule(root=str(tmp_path / "nowhere"))
    (root / "valid.txt").unlink()
    with pytest.raises(FileNotFoundError, match="valid.txt"):
        KnowledgeGraphDataModule(root=str(root)).num_entities
    with pytest.raises(ValueError, match="pykeen:FB15k"):
        KnowledgeGraphDataModule(root="pykeen:FB15k")


def test_missing_text_is_reported(tmp_path, caplog):
    root = write_kg(tmp_path / "kg", TRAIN, texts={"a": "alpha", "b": "beta"})
    with caplog.at_level(logging.WARNING):
        dm = KnowledgeGraphDataModule(root=str(root))
        assert dm.entity_texts == ["alpha", "beta", None]
    assert "no text for 1 of 3 labels" in caplog.text
    assert KnowledgeGraphDataModule(root=str(write_kg(tmp_path / "nt", TRAIN))).entity_texts is None


def test_entity_embeddings_nan_without_text_and_cached(tmp_path):
    root = write_kg(tmp_path / "kg", TRAIN, texts={"a": "alpha", "b": "beta"})
    dm = KnowledgeGraphDataModule(root=str(root), encoder="hashing")
    vectors = dm.entity_embeddings
    assert vectors.shape == (3, 384)
    assert torch.isnan(vectors[dm.entity_to_id["c"]]).all() and not torch.isnan(vectors[:2]).any()
    torch.testing.assert_close(vectors[:2].norm(dim=1), torch.ones(2))
    assert dm.entity_embeddings is vectors  # computed once
    with pytest.raises(ValueError, match="entity2text"):
        KnowledgeGraphDataModule(root=str(write_kg(tmp_path / "nt", TRAIN))).entity_embeddings
    with pytest.raises(ValueError, match="data.encoder='bert'"):
        KnowledgeGraphDataModule(root=str(root), encoder="bert")
