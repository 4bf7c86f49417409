"""Domain-belonging degree on a hand-made three-domain corpus, against hand-computed values.

Terms: good=2, phone=3, battery=4, food=5, tasty=6, bad=7, movie=8 (0 = padding).
phones:  "good phone battery", "phone good"   -> good 2, phone 2, battery 1   (5 terms)
food:    "good food tasty"                    -> good 1, food 1, tasty 1      (3 terms)
movies:  "bad movie", "movie good"            -> bad 1, movie 2, good 1       (4 terms)

DBD_i(good) = freq * uniq: phones 2/5 * 2/4 = 1/5, food 1/3 * 1/4 = 1/12, movies 1/4 * 1/4 = 1/16,
i.e. 48/240, 20/240, 15/240: normalised over domains 48/83, 20/83, 15/83.
DBD(movie) = (0, 0, 2/4 * 1) -> normalised (0, 0, 1).
"""

from __future__ import annotations

import torch

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
    raw = DomainBelongingDegree(num_domains=2, vocab_size=5).fit(counts)
    # raw-count share: uniq(the) = (10/11, 1/11), so the common term votes for the big domain
    torch.testing.assert_close(raw(doc), torch.tensor([[10 / 11, 1 / 11]]))
    balanced = DomainBelongingDegree(num_domains=2, vocab_size=5, balance_domains=True).fit(counts)
    torch.testing.assert_close(balanced(doc), torch.tensor([[0.5, 0.5]]))
    # domain-specific terms still decide
    assert balanced(torch.tensor([[the, small]])).argmax().item() == 1
    assert "balance_domains=True" in repr(balanced)
