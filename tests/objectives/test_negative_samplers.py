"""Negative samplers: the generic interface for each, plus Bernoulli and LEMON statistics."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from zoo.data.knowledge_graph import KnowledgeGraphDataModule
from zoo.objectives.bernoulli_sampler import BernoulliNegativeSampler, bernoulli_head_probability
from zoo.objectives.lemon_sampler import LemonNegativeSampler
from zoo.objectives.negative_sampler import NegativeSampler, TripleSet
from zoo.objectives.uniform_sampler import UniformNegativeSampler


@pytest.fixture(scope="module")
def umls():
    from zoo.utils.resolvers import default_data_dir

    return KnowledgeGraphDataModule(root="pykeen:UMLS", text_root=str(Path(default_data_dir()) / "kg" / "UMLS"))


def make(name: str, tmp_path, **kwargs) -> NegativeSampler:
    if name == "uniform":
        return UniformNegativeSampler(num_negatives=8, **kwargs)
    if name == "bernoulli":
        return BernoulliNegativeSampler(num_negatives=8, **kwargs)
    return LemonNegativeSampler(num_negatives=8, num_clusters=6, khop=2, encoder="hashing",
                                cache_dir=str(tmp_path), **kwargs)


SAMPLERS = ("uniform", "bernoulli", "lemon")


def test_every_sampler_is_tested():
    assert {c.__name__ for c in NegativeSampler.__subclasses__()} == {
        "UniformNegativeSampler", "BernoulliNegativeSampler", "LemonNegativeSampler"}


@pytest.mark.parametrize("name", SAMPLERS)
def test_interface(name, umls, tmp_path):
    train = umls.triples("train")
    sampler = make(name, tmp_path).fit(train, num_entities=umls.num_entities, num_relations=umls.num_relations,
                                       entity_texts=umls.entity_texts)
    for batch in (train[:64], train[:1]):
        negatives, mask = sampler.sample(batch)
        assert negatives.shape == (len(batch), 8, 3) and negatives.dtype == torch.long
        assert mask.shape == (len(batch), 8) and mask.dtype == torch.bool
        assert negatives[..., [0, 2]].min() >= 0 and negatives[..., [0, 2]].max() < umls.num_entities
        # exactly one of head/tail changed, the relation never
        pos = batch.unsqueeze(1)
        assert (negatives[..., 1] == pos[..., 1]).all()
        changed = (negatives[..., 0] != pos[..., 0]).long() + (negatives[..., 2] != pos[..., 2]).long()
        assert (changed == 1).all()
        # no unmasked negative is a known true triple
        known = TripleSet(train, umls.num_entities, umls.num_relations)(negatives)
        assert not (known & mask).any()
    # seeded: the same seed gives the same negatives
    again = make(name, tmp_path).fit(train, num_entities=umls.num_entities, num_relations=umls.num_relations,
                                     entity_texts=umls.entity_texts)
    first = make(name, tmp_path).fit(train, num_entities=umls.num_entities, num_relations=umls.num_relations,
                                     entity_texts=umls.entity_texts)
    assert torch.equal(first.sample(train[:32])[0], again.sample(train[:32])[0])


def test_sample_before_fit_raises(tmp_path):
    with pytest.raises(RuntimeError, match="fit"):
        UniformNegativeSampler(num_negatives=2).sample(torch.zeros(1, 3, dtype=torch.long))


def test_uniform_is_uniform_and_never_the_original():
    triples = torch.tensor([[0, 0, 1]])
    sampler = UniformNegativeSampler(num_negatives=20000, filtered=False).fit(triples, num_entities=5, num_relations=1)
    negatives, _ = sampler.sample(triples)
    head = negatives[0, :, 2] == 1
    assert abs(head.float().mean().item() - 0.5) < 0.02
    heads = negatives[0, head, 0]
    assert (heads != 0).all()
    freq = torch.bincount(heads, minlength=5)[1:].float() / len(heads)
    assert (freq - 0.25).abs().max() < 0.02


def test_bernoulli_probabilities_and_frequencies():
    # relation 0: one head, 4 tails (tph 4, hpt 1 -> p_head 0.8); relation 1: 4 heads, one tail (p 0.2)
    triples = torch.tensor([[0, 0, t] for t in range(1, 5)] + [[h, 1, 9] for h in range(5, 9)])
    prob = bernoulli_head_probability(triples, num_relations=3)
    torch.testing.assert_close(prob, torch.tensor([0.8, 0.2, 0.5]))
    sampler = BernoulliNegativeSampler(num_negatives=20000, filtered=False).fit(triples, num_entities=10, num_relations=3)
    negatives, _ = sampler.sample(torch.tensor([[0, 0, 1], [5, 1, 9]]))
    head_rate = (negatives[:, :, 0] != torch.tensor([[0], [5]])).float().mean(1)
    assert abs(head_rate[0].item() - 0.8) < 0.02 and abs(head_rate[1].item() - 0.2) < 0.02


def test_lemon_negatives_come_from_the_chosen_clusters(umls, tmp_path):
    train = umls.triples("train")
    sampler = make("lemon", tmp_path).fit(train, num_entities=umls.num_entities,
                                          num_relations=umls.num_relations, entity_texts=umls.entity_texts)
    batch = train[:256]
    negatives, mask = sampler.sample(batch)
    head_side = negatives[..., 0] != batch[:, None, 0]
    kept = torch.where(head_side, batch[:, None, 2], batch[:, None, 0])
    new = torch.where(head_side, negatives[..., 0], negatives[..., 2])
    in_chosen = (sampler.cluster[new].unsqueeze(-1) == sampler.near[kept]).any(-1)
    # every negative not from the kept entity's khop nearest clusters is a uniform fallback
    fallback = sampler.last_fallback_fraction
    assert in_chosen.float().mean().item() >= 1 - fallback - 1e-6
    assert in_chosen.float().mean().item() > 0.5
    # the union of 2 of 6 clusters is far from uniform: cluster membership of candidates is skewed
    assert sampler.near.shape == (umls.num_entities, 2)


def test_lemon_missing_text_falls_back_and_says_how_many(umls, tmp_path, caplog):
    texts = list(umls.entity_texts)
    missing = list(range(0, 40))
    for i in missing:
        texts[i] = None
    train = umls.triples("train")
    with caplog.at_level(logging.WARNING):
        sampler = make("lemon", tmp_path).fit(train, num_entities=umls.num_entities,
                                              num_relations=umls.num_relations, entity_texts=texts)
    assert sampler.num_missing_text == 40
    assert "40 of 135 entities have no text" in caplog.text
    assert (sampler.near[missing] == -1).all()
    negatives, mask = sampler.sample(train)
    assert negatives[..., [0, 2]].max() < umls.num_entities


def test_lemon_bad_input(umls, tmp_path):
    with pytest.raises(ValueError, match="khop=9"):
        LemonNegativeSampler(num_negatives=2, num_clusters=4, khop=9, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="encoder='bert'"):
        LemonNegativeSampler(num_negatives=2, encoder="bert", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="entity2text"):
        make("lemon", tmp_path).fit(umls.triples("train"), num_entities=umls.num_entities,
                                    num_relations=umls.num_relations, entity_texts=None)
    with pytest.raises(ValueError, match="num_negatives=0"):
        UniformNegativeSampler(num_negatives=0)


@pytest.mark.slow
def test_lemon_sentence_encoder_embeddings_are_cached(umls, tmp_path):
    """The real all-MiniLM-L6-v2 path on UMLS's 135 texts: computed once, then read from the cache."""
    from zoo.objectives.text_embedding import embedding_cache_path

    kwargs = dict(num_entities=umls.num_entities, num_relations=umls.num_relations, entity_texts=umls.entity_texts)
    sampler = LemonNegativeSampler(num_negatives=4, num_clusters=8, khop=2, cache_dir=str(tmp_path))
    sampler.fit(umls.triples("train"), **kwargs)
    assert sampler.encoder_used == "minilm"
    path = embedding_cache_path(list(umls.entity_texts), str(tmp_path), "minilm", 64)
    assert (tmp_path / path.split("/")[-1]).is_file()
    again = LemonNegativeSampler(num_negatives=4, num_clusters=8, khop=2, cache_dir=str(tmp_path))
    again.fit(umls.triples("train"), quick=True, **kwargs)  # quick: must not need to encode
    assert again.encoder_used == "minilm" and torch.equal(again.near, sampler.near)
