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

    # the model-free text encoder: these tests check the sampler, not the encoder
    return KnowledgeGraphDataModule(root="pykeen:UMLS", text_root=str(Path(default_data_dir()) / "kg" / "UMLS"),
                                    encoder="hashing")


def make(name: str, tmp_path, **kwargs) -> NegativeSampler:
    if name == "uniform":
        return UniformNegativeSampler(num_negatives=8, **kwargs)
    if name == "bernoulli":
        return BernoulliNegativeSampler(num_negatives=8, **kwargs)
    return LemonNegativeSampler(num_negatives=8, num_clusters=6, khop=2, **kwargs)


SAMPLERS = ("uniform", "bernoulli", "lemon")


def test_every_sampler_is_tested():
    assert {c.__name__ for c in NegativeSampler.__subclasses__()} == {
        "UniformNegativeSampler", "BernoulliNegativeSampler", "LemonNegativeSampler"}


@pytest.mark.parametrize("name", SAMPLERS)
def test_interface(name, umls, tmp_path):
    train = umls.triples("train")
    sampler = make(name, tmp_path).fit(train, num_entities=umls.num_entities, num_relations=umls.num_relations,
                                       entity_embeddings=umls.entity_embeddings)
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
                                     entity_embeddings=umls.entity_embeddings)
    first = make(name, tmp_path).fit(train, num_entities=umls.num_entities, num_relations=umls.num_relations,
                                     entity_embeddings=umls.entity_embeddings)
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
                                          num_relations=umls.num_relations, entity_embeddings=umls.entity_embeddings)
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
    vectors = umls.entity_embeddings.clone()
    missing = list(range(0, 40))
    vectors[missing] = float("nan")
    train = umls.triples("train")
    with caplog.at_level(logging.WARNING):
        sampler = make("lemon", tmp_path).fit(train, num_entities=umls.num_entities,
                                              num_relations=umls.num_relations, entity_embeddings=vectors)
    assert sampler.num_missing_text == 40
    assert "40 of 135 entities have no text" in caplog.text
    assert (sampler.near[missing] == -1).all()
    negatives, mask = sampler.sample(train)
    assert negatives[..., [0, 2]].max() < umls.num_entities


def test_lemon_bad_input(umls, tmp_path):
    with pytest.raises(ValueError, match="khop=9"):
        LemonNegativeSampler(num_negatives=2, num_clusters=4, khop=9)
    with pytest.raises(ValueError, match="min_cosine=2"):
        LemonNegativeSampler(num_negatives=2, min_cosine=2)
    with pytest.raises(ValueError, match="lemon_ratio=1.5"):
        LemonNegativeSampler(num_negatives=2, lemon_ratio=1.5)
    with pytest.raises(ValueError, match="entity2text"):
        make("lemon", tmp_path).fit(umls.triples("train"), num_entities=umls.num_entities,
                                    num_relations=umls.num_relations, entity_embeddings=None)
    with pytest.raises(ValueError, match="num_negatives=0"):
        UniformNegativeSampler(num_negatives=0)


def two_groups(num: int = 100, dim: int = 8):
    """Entities 0..num/2-1 and num/2..num-1 with text vectors far apart (one k-means cluster each),
    triples (a, 0, b) within the first group; returns (vectors, triples)."""
    g = torch.Generator().manual_seed(0)
    half = num // 2
    base = torch.zeros(num, dim)
    base[:half, 0], base[half:, 1] = 10.0, 10.0
    vectors = base + torch.randn(num, dim, generator=g)
    triples = torch.stack([torch.arange(half), torch.zeros(half, dtype=torch.long), torch.arange(half).roll(1)], dim=1)
    return vectors, triples


@pytest.mark.parametrize("ratio", [0.0, 0.3, 1.0])
def test_lemon_ratio_gives_the_mix_in_expectation(ratio):
    """With two far-apart clusters and khop=1, a LEMON negative stays in the kept entity's group and a
    uniform one lands there with probability 49/99; the share of same-group negatives is the mix."""
    vectors, triples = two_groups()
    sampler = LemonNegativeSampler(num_negatives=4000, num_clusters=2, khop=1, lemon_ratio=ratio, filtered=False)
    sampler.fit(triples, num_entities=100, num_relations=1, entity_embeddings=vectors)
    batch = triples[:10]
    negatives, _ = sampler.sample(batch)
    head_side = negatives[..., 0] != batch[:, None, 0]
    new = torch.where(head_side, negatives[..., 0], negatives[..., 2])
    same_group = (new < 50).float().mean().item()
    # LEMON draws the replaced entity itself with probability 1/50 and then falls back to uniform
    p_uniform = 49 / 99
    expected = ratio * (49 / 50 + p_uniform / 50) + (1 - ratio) * p_uniform
    assert abs(same_group - expected) < 0.015, (same_group, expected)
    lemon_share = (sampler.last_source > 0).float().mean().item()
    assert abs(lemon_share - ratio) < 0.015


def test_lemon_cosine_filter_keeps_only_candidates_above_threshold():
    vectors, triples = two_groups(dim=4)
    kwargs = dict(num_negatives=2000, num_clusters=2, khop=1, filtered=False)
    unit = torch.nn.functional.normalize(vectors, dim=1)
    batch = triples[:10]

    def cosines(sampler):
        negatives, _ = sampler.sample(batch)
        head_side = negatives[..., 0] != batch[:, None, 0]
        kept = torch.where(head_side, batch[:, None, 2], batch[:, None, 0])
        new = torch.where(head_side, negatives[..., 0], negatives[..., 2])
        return (unit[kept] * unit[new]).sum(-1), sampler.last_source

    plain = LemonNegativeSampler(**kwargs).fit(triples, num_entities=100, num_relations=1, entity_embeddings=vectors)
    cos, source = cosines(plain)
    threshold = float(cos[source == 1].median())  # half the unfiltered LEMON candidates lie below it
    assert (cos[source == 1] < threshold).float().mean() > 0.3
    filtered = LemonNegativeSampler(min_cosine=threshold, **kwargs).fit(
        triples, num_entities=100, num_relations=1, entity_embeddings=vectors)
    cos, source = cosines(filtered)
    assert (source == 1).float().mean() > 0.9  # rejection sampling finds one almost always
    assert (cos[source == 1] >= threshold - 1e-6).all()
    # a threshold only the kept entity itself passes: (almost) everything falls back to uniform
    none = LemonNegativeSampler(min_cosine=1.0, max_tries=2, **kwargs).fit(
        triples, num_entities=100, num_relations=1, entity_embeddings=vectors)
    cos, source = cosines(none)
    assert (cos[source == 1] >= 1 - 1e-5).all() and (source == 2).float().mean() > 0.9


def test_generator_state_round_trip(umls):
    train = umls.triples("train")
    sampler = UniformNegativeSampler(num_negatives=8).fit(train, num_entities=umls.num_entities,
                                                          num_relations=umls.num_relations)
    sampler.sample(train[:16])
    state = sampler.generator_state_dict()
    expected = sampler.sample(train[:16])[0]
    other = UniformNegativeSampler(num_negatives=8).fit(train, num_entities=umls.num_entities,
                                                        num_relations=umls.num_relations)
    other.load_generator_state_dict(state)
    assert torch.equal(other.sample(train[:16])[0], expected)


@pytest.mark.slow
def test_lemon_on_sentence_encoder_embeddings(tmp_path):
    """The real all-MiniLM-L6-v2 path on UMLS's 135 texts: the datamodule computes and caches them,
    and LEMON clusters the same vectors again from the cache."""
    root = dict(root="pykeen:UMLS", text_root=str(Path(default_data_dir()) / "kg" / "UMLS"), cache_dir=str(tmp_path))
    dm = KnowledgeGraphDataModule(**root)
    vectors = dm.entity_embeddings
    assert vectors.shape == (135, 384) and torch.allclose(vectors.norm(dim=1), torch.ones(135), atol=1e-4)
    assert len(list(tmp_path.glob("minilm-64-135-*.pt"))) == 1
    again = KnowledgeGraphDataModule(**root).entity_embeddings
    assert torch.equal(again, vectors)
    kwargs = dict(num_entities=135, num_relations=dm.num_relations)
    a = LemonNegativeSampler(num_negatives=4, num_clusters=8, khop=2).fit(dm.triples("train"), entity_embeddings=vectors, **kwargs)
    b = LemonNegativeSampler(num_negatives=4, num_clusters=8, khop=2).fit(dm.triples("train"), entity_embeddings=again, **kwargs)
    assert torch.equal(a.near, b.near)
