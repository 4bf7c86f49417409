"""Domain-belonging degree against hand-computed values: the additive (paper) form on a hand-made
three-domain corpus, the log-space form on it and on a few real Blitzer reviews.

Terms: good=2, phone=3, battery=4, food=5, tasty=6, bad=7, movie=8 (0 = padding).
phones:  "good phone battery", "phone good"   -> good 2, phone 2, battery 1   (5 terms)
food:    "good food tasty"                    -> good 1, food 1, tasty 1      (3 terms)
movies:  "bad movie", "movie good"            -> bad 1, movie 2, good 1       (4 terms)

DBD_i(good) = freq * uniq: phones 2/5 * 2/4 = 1/5, food 1/3 * 1/4 = 1/12, movies 1/4 * 1/4 = 1/16,
i.e. 48/240, 20/240, 15/240: normalised over domains 48/83, 20/83, 15/83.
DBD(movie) = (0, 0, 2/4 * 1) -> normalised (0, 0, 1).
"""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest
import torch

from tests.conftest import SHARED_DATA
from zoo.nets.domain_belonging_degree import DomainBelongingDegree

GOOD, PHONE, BATTERY, FOOD, TASTY, BAD, MOVIE = range(2, 9)
DOCS = {
    0: [[GOOD, PHONE, BATTERY], [PHONE, GOOD]],
    1: [[GOOD, FOOD, TASTY]],
    2: [[BAD, MOVIE], [MOVIE, GOOD]],
}


def _counts(vocab: int = 10) -> torch.Tensor:
    counts = torch.zeros(3, vocab)
    for domain, docs in DOCS.items():
        for doc in docs:
            for term in doc:
                counts[domain, term] += 1
    return counts


def _fitted(**kwargs) -> DomainBelongingDegree:
    kwargs.setdefault("aggregation", "additive")
    return DomainBelongingDegree(num_domains=3, vocab_size=10, **kwargs).fit(_counts())


def test_term_degrees_match_hand_computation():
    raw = _fitted(term_normalise=False)
    torch.testing.assert_close(raw.term_degree[GOOD], torch.tensor([1 / 5, 1 / 12, 1 / 16]))
    torch.testing.assert_close(raw.term_degree[MOVIE], torch.tensor([0.0, 0.0, 0.5]))
    torch.testing.assert_close(raw.term_degree[PHONE], torch.tensor([2 / 5, 0.0, 0.0]))
    normalised = _fitted()
    torch.testing.assert_close(normalised.term_degree[GOOD], torch.tensor([48 / 83, 20 / 83, 15 / 83]))
    torch.testing.assert_close(normalised.term_degree[MOVIE], torch.tensor([0.0, 0.0, 1.0]))


def test_document_degrees_match_hand_computation():
    doc = torch.tensor([[GOOD, MOVIE, 0, 0]])  # "good movie" + padding
    # normalised terms: ((48, 20, 15)/83 + (0, 0, 1)) / 2
    torch.testing.assert_close(_fitted()(doc), torch.tensor([[24 / 83, 10 / 83, 49 / 83]]))
    # raw terms: (1/5, 1/12, 1/16 + 1/2) = (48, 20, 135)/240, normalised by 203/240
    torch.testing.assert_close(_fitted(term_normalise=False)(doc), torch.tensor([[48 / 203, 20 / 203, 135 / 203]]))
    # repeated terms count with their frequency: "good good movie" -> (2 * (48, 20, 15)/83 + (0, 0, 1)) / 3
    doc2 = torch.tensor([[GOOD, GOOD, MOVIE]])
    torch.testing.assert_close(_fitted()(doc2), torch.tensor([[96 / 249, 40 / 249, 113 / 249]]))


def test_sharpness_and_argmax_domain():
    docs = torch.tensor([[PHONE, BATTERY, GOOD], [FOOD, TASTY, 0], [BAD, MOVIE, 0]])
    degrees = _fitted()(docs)
    assert degrees.argmax(dim=1).tolist() == [0, 1, 2]
    torch.testing.assert_close(degrees.sum(dim=1), torch.ones(3))
    sharp = _fitted(sharpness=2.0)(torch.tensor([[GOOD, MOVIE]]))
    expected = torch.tensor([24.0, 10.0, 49.0]) ** 2
    torch.testing.assert_close(sharp, (expected / expected.sum()).unsqueeze(0))


def test_unknown_terms_give_uniform_degrees_and_shape_is_checked():
    dbd = _fitted()
    torch.testing.assert_close(dbd(torch.tensor([[9, 0], [0, 0]])), torch.full((2, 3), 1 / 3))
    try:
        dbd.fit(torch.zeros(2, 10))
    except ValueError as err:
        assert "(3, 10)" in str(err)
    else:  # pragma: no cover
        raise AssertionError("fit accepted counts of the wrong shape")


def test_balanced_uniq_matches_hand_computation():
    # freq(good) = (2/5, 1/3, 1/4) = (24, 20, 15)/60, so uniq(good) = (24, 20, 15)/59 and
    # DBD(good) = freq * uniq = (576, 400, 225)/3540, normalised (576, 400, 225)/1201.
    # "movie" occurs only in the movie domain: freq 2/4, uniq 1, as in the raw-count form.
    raw = _fitted(term_normalise=False, balance_domains=True)
    torch.testing.assert_close(raw.term_degree[GOOD], torch.tensor([576.0, 400.0, 225.0]) / 3540)
    torch.testing.assert_close(raw.term_degree[MOVIE], torch.tensor([0.0, 0.0, 0.5]))
    doc = torch.tensor([[GOOD, MOVIE, 0]])
    expected = (torch.tensor([576.0, 400.0, 225.0]) / 1201 + torch.tensor([0.0, 0.0, 1.0])) / 2
    torch.testing.assert_close(_fitted(balance_domains=True)(doc), expected.unsqueeze(0))


def test_balanced_uniq_removes_the_domain_size_prior():
    # domain 0 is ten times larger; "the" has the same rate (1/2) in both domains
    the, big, small = 2, 3, 4
    counts = torch.zeros(2, 5)
    counts[0, the], counts[0, big] = 10, 10
    counts[1, the], counts[1, small] = 1, 1
    doc = torch.tensor([[the]])
    raw = DomainBelongingDegree(num_domains=2, vocab_size=5, aggregation="additive").fit(counts)
    # raw-count share: uniq(the) = (10/11, 1/11), so the common term votes for the big domain
    torch.testing.assert_close(raw(doc), torch.tensor([[10 / 11, 1 / 11]]))
    balanced = DomainBelongingDegree(num_domains=2, vocab_size=5, aggregation="additive",
                                     balance_domains=True).fit(counts)
    torch.testing.assert_close(balanced(doc), torch.tensor([[0.5, 0.5]]))
    # domain-specific terms still decide
    assert balanced(torch.tensor([[the, small]])).argmax().item() == 1
    assert "balance_domains=True" in repr(balanced)


# -- log-space aggregation --------------------------------------------------------------------------
BLITZER = SHARED_DATA / "sentiment" / "blitzer_mdsd"
needs_blitzer = pytest.mark.skipif(not BLITZER.is_dir(), reason="shared Blitzer data not found")


@pytest.fixture(scope="module")
def reviews():
    """Term ids of the first 40 positive reviews of each of three Blitzer domains (training) and of
    the next 10 (held out), words lower-cased, numbered in order of appearance (0 = padding), first
    100 words of each review."""
    from zoo.data.sentiment_readers import read_blitzer_mdsd

    records = read_blitzer_mdsd(str(BLITZER))
    domains = ["books", "electronics", "kitchen"]
    vocab: dict[str, int] = {}

    def ids(text: str) -> list[int]:
        return [vocab.setdefault(w, len(vocab) + 1) for w in re.findall(r"[a-z']+", text.lower())][:100]

    by_domain = {d: [r for r in records if r.domain == d and r.label == "positive"][:50] for d in domains}
    train = {i: [ids(r.text) for r in by_domain[d][:40]] for i, d in enumerate(domains)}
    held = [(i, ids(r.text)) for i, d in enumerate(domains) for r in by_domain[d][40:]]
    counts = torch.zeros(3, len(vocab) + 2, dtype=torch.float64)  # one id past the vocabulary: never seen
    for i, docs in train.items():
        for doc in docs:
            for term in doc:
                counts[i, term] += 1
    return counts, held


def _pad(docs: list[list[int]]) -> torch.Tensor:
    out = torch.zeros(len(docs), max(map(len, docs)), dtype=torch.long)
    for row, doc in enumerate(docs):
        out[row, : len(doc)] = torch.tensor(doc)
    return out


@needs_blitzer
@pytest.mark.parametrize("alpha", [1.0, 0.1])
def test_log_scores_are_sums_of_smoothed_log_frequencies_on_real_reviews(reviews, alpha):
    counts, held = reviews
    sizes = torch.tensor([40.0, 40.0, 40.0])
    dbd = DomainBelongingDegree(num_domains=3, vocab_size=counts.size(1), prior=False, idf=False, smoothing=alpha)
    dbd.fit(counts, sizes)
    seen = {c for c in range(1, counts.size(1)) if counts[:, c].sum() > 0}
    totals = [sum(counts[i, c].item() + alpha for c in seen) for i in range(3)]
    docs = [doc for _, doc in held]
    got = dbd.scores(_pad(docs))
    for row, doc in enumerate(docs):
        tf = Counter(c for c in doc if c in seen)  # held-out words unseen in training are ignored
        for i in range(3):
            expected = sum(n * math.log((counts[i, c].item() + alpha) / totals[i]) for c, n in tf.items())
            assert got[row, i].item() == pytest.approx(expected, rel=1e-5)
    # the degrees are the softmax of the scores: rows sum to 1
    degrees = dbd(_pad(docs))
    torch.testing.assert_close(degrees, torch.softmax(got, dim=1).float())
    torch.testing.assert_close(degrees.sum(dim=1), torch.ones(len(docs)))


@needs_blitzer
def test_prior_on_off_changes_exactly_the_log_prior_term(reviews):
    counts, held = reviews
    docs = _pad([doc for _, doc in held])
    sizes = torch.tensor([60.0, 30.0, 10.0])  # documents per domain
    on = DomainBelongingDegree(num_domains=3, vocab_size=counts.size(1)).fit(counts, sizes)
    off = DomainBelongingDegree(num_domains=3, vocab_size=counts.size(1), prior=False).fit(counts, sizes)
    log_prior = torch.log(sizes / sizes.sum()).double()
    torch.testing.assert_close(on.scores(docs) - off.scores(docs), log_prior.expand(docs.size(0), -1))
    torch.testing.assert_close(on.term_degree, off.term_degree)  # the term statistics do not move
    # without domain sizes the prior is the domains' share of the training tokens
    tokens = DomainBelongingDegree(num_domains=3, vocab_size=counts.size(1)).fit(counts)
    torch.testing.assert_close(tokens.log_prior, torch.log(counts.sum(1) / counts.sum()).float())
    # a document with no known term: the prior with it, uniform without it
    unknown = torch.tensor([[counts.size(1) - 1, 0]])
    torch.testing.assert_close(on(unknown), (sizes / sizes.sum()).unsqueeze(0))
    torch.testing.assert_close(off(unknown), torch.full((1, 3), 1 / 3))
    assert "prior=True" in repr(on) and "aggregation='log'" in repr(on)


@needs_blitzer
def test_log_form_detects_the_domain_of_most_held_out_reviews(reviews):
    counts, held = reviews
    dbd = DomainBelongingDegree(num_domains=3, vocab_size=counts.size(1)).fit(counts, torch.full((3,), 40.0))
    pred = dbd(_pad([doc for _, doc in held])).argmax(dim=1).tolist()
    assert sum(p == i for p, (i, _) in zip(pred, held)) >= 22, pred  # of 30 (measured: 24); chance: 10


def test_idf_weight_is_the_inverse_domain_frequency():
    # term 2 at the same rate in domains 0 and 1, absent from 2: w = log(3 / 2); term 3 only in
    # domain 2: w = log 3; term 4 at the same rate everywhere: w = 0. Every domain has 4 tokens.
    counts = torch.tensor([[0.0, 0, 2, 0, 2], [0, 0, 2, 0, 2], [0, 0, 0, 2, 2]])
    plain = DomainBelongingDegree(num_domains=3, vocab_size=5, smoothing=1e-9, prior=False, idf=False).fit(counts)
    weighted = DomainBelongingDegree(num_domains=3, vocab_size=5, smoothing=1e-9, prior=False, idf=True).fit(counts)
    for term, w in ((2, math.log(1.5)), (3, math.log(3)), (4, 0.0)):
        torch.testing.assert_close(weighted.term_degree[term], w * plain.term_degree[term], atol=1e-5, rtol=1e-5)
    # a graded case on the hand-made corpus: good has freq (2/5, 1/3, 1/4), w = log 3 - H(u)
    good = DomainBelongingDegree(num_domains=3, vocab_size=10, smoothing=1e-12, idf=True).fit(_counts())
    u = torch.tensor([24.0, 20.0, 15.0]) / 59
    w = math.log(3) + float((u * u.log()).sum())
    torch.testing.assert_close(good.term_degree[GOOD], w * torch.log(torch.tensor([2 / 5, 1 / 3, 1 / 4])))
    torch.testing.assert_close(good.term_degree[0], torch.zeros(3))  # padding


def test_bad_options_name_the_key():
    with pytest.raises(ValueError, match=r"model.dbd.aggregation='sum'.*'log', 'additive'"):
        DomainBelongingDegree(num_domains=2, vocab_size=4, aggregation="sum")
    with pytest.raises(ValueError, match=r"model.dbd.smoothing=0.*aggregation='log'"):
        DomainBelongingDegree(num_domains=2, vocab_size=4, smoothing=0.0)
    with pytest.raises(ValueError, match=r"domain sizes"):
        DomainBelongingDegree(num_domains=2, vocab_size=4).fit(torch.ones(2, 4), torch.zeros(2))
    assert DomainBelongingDegree(num_domains=2, vocab_size=4).smoothing == 0.1
    assert DomainBelongingDegree(num_domains=2, vocab_size=4, aggregation="additive").smoothing == 0.0


@needs_blitzer
def test_sharpness_softens_the_log_mixing_weights_but_not_the_predicted_domain(reviews):
    counts, held = reviews
    docs = _pad([doc for _, doc in held])
    sharp = DomainBelongingDegree(num_domains=3, vocab_size=counts.size(1)).fit(counts)
    soft = DomainBelongingDegree(num_domains=3, vocab_size=counts.size(1), sharpness=0.03).fit(counts)
    torch.testing.assert_close(soft(docs), torch.softmax(0.03 * sharp.scores(docs), dim=1).float())
    assert torch.equal(soft(docs).argmax(dim=1), sharp(docs).argmax(dim=1))
    assert bool((soft(docs).max(dim=1).values < sharp(docs).max(dim=1).values + 1e-6).all())
