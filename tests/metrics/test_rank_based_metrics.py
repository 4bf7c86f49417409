"""Filtered realistic ranks and MRR/MR/Hits@k against a brute-force reference on a tiny KG."""

from __future__ import annotations

import pytest
import torch

from zoo.metrics.filter_index import FilterIndex
from zoo.metrics.rank_based_metrics import RankBasedMetrics, realistic_rank
from zoo.nets.distmult import DistMult


def brute_force_rank(scores: torch.Tensor, target: int, others: set[int]) -> float:
    s = scores[target].item()
    candidates = [e for e in range(len(scores)) if e == target or e not in others]
    better = sum(scores[e].item() > s for e in candidates)
    ties = sum(scores[e].item() == s for e in candidates)  # includes the target
    return 0.5 * ((better + 1) + (better + ties))


def test_realistic_rank_ties():
    scores = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.0]])
    # target 1 ties with 2 and 3: optimistic 1, pessimistic 3 -> 2
    assert realistic_rank(scores, torch.tensor([1])).item() == 2.0
    # filtering entity 2 removes one tie: optimistic 1, pessimistic 2
    exclude = torch.tensor([[False, True, True, False, False]])  # the target itself is never excluded
    assert realistic_rank(scores, torch.tensor([1]), exclude).item() == 1.5
    assert realistic_rank(scores, torch.tensor([4])).item() == 5.0


def test_evaluator_matches_brute_force_on_tiny_kg():
    torch.manual_seed(0)
    num_e, num_r = 12, 3
    triples = torch.unique(torch.stack([torch.randint(num_e, (60,)), torch.randint(num_r, (60,)),
                                        torch.randint(num_e, (60,))], 1), dim=0)
    test = triples[:15]
    model = DistMult(num_entities=num_e, num_relations=num_r, embedding_dim=4)
    with torch.no_grad():  # coarse values make ties common
        model.entity_embedding.copy_(torch.randint(-1, 2, model.entity_embedding.shape).float())
        model.relation_embedding.fill_(1.0)
    index = FilterIndex(triples, num_e, num_r)
    metric = RankBasedMetrics((1, 3, 10))
    h, r, t = test.unbind(1)
    tail_rank = realistic_rank(model.score_tails(h, r), t, index.mask(h, r, "tail"))
    head_rank = realistic_rank(model.score_heads(r, t), h, index.mask(t, r, "head"))
    metric.update(torch.arange(len(test)), head_rank, tail_rank)
    # DDP padding repeats a triple: counted once
    metric.update(torch.tensor([0]), head_rank[:1], tail_rank[:1])
    got = metric.compute()

    known = {tuple(x) for x in triples.tolist()}
    ranks = []
    for hh, rr, tt in test.tolist():
        tails = {e for e in range(num_e) if (hh, rr, e) in known}
        heads = {e for e in range(num_e) if (e, rr, tt) in known}
        s_t = torch.stack([model(torch.tensor(hh), torch.tensor(rr), torch.tensor(e)) for e in range(num_e)])
        s_h = torch.stack([model(torch.tensor(e), torch.tensor(rr), torch.tensor(tt)) for e in range(num_e)])
        ranks += [brute_force_rank(s_h.detach(), hh, heads), brute_force_rank(s_t.detach(), tt, tails)]
    ranks = torch.tensor(ranks, dtype=torch.double)
    assert any(r != int(r) for r in ranks.tolist())  # the test exercises ties
    assert got["mrr"].item() == pytest.approx((1 / ranks).mean().item(), abs=1e-6)
    assert got["mr"].item() == pytest.approx(ranks.mean().item(), abs=1e-5)
    for k in (1, 3, 10):
        assert got[f"hits@{k}"].item() == pytest.approx((ranks <= k).double().mean().item(), abs=1e-6)


def test_filter_index_mask():
    triples = torch.tensor([[0, 0, 1], [0, 0, 2], [3, 0, 2], [0, 1, 4]])
    index = FilterIndex(triples, num_entities=5, num_relations=2)
    tails = index.mask(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]), "tail")
    assert tails.tolist() == [[False, True, True, False, False], [False, False, False, False, True], [False] * 5]
    heads = index.mask(torch.tensor([2]), torch.tensor([0]), "head")
    assert heads.tolist() == [[True, False, False, True, False]]
    with pytest.raises(ValueError, match="side='middle'"):
        index.mask(torch.tensor([0]), torch.tensor([0]), "middle")


def test_compute_without_update_raises():
    with pytest.raises(ValueError, match="before any update"):
        RankBasedMetrics().compute()


def test_compute_on_gathered_state():
    """After a DDP sync torchmetrics replaces the list states by one concatenated tensor; compute()
    must accept it and still count a triple padded onto both ranks once."""
    rank0, rank1 = RankBasedMetrics(), RankBasedMetrics()
    rank0.update(torch.tensor([0, 2]), torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
    rank1.update(torch.tensor([1, 0]), torch.tensor([3.0, 1.0]), torch.tensor([1.0, 1.0]))  # index 0 repeated
    gathered = RankBasedMetrics()
    gathered.index = torch.cat(rank0.index + rank1.index)
    gathered.ranks = torch.cat(rank0.ranks + rank1.ranks)
    values = gathered.compute()
    ranks = torch.tensor([1.0, 1.0, 3.0, 1.0, 2.0, 4.0])  # indices 0, 1, 2 (head, tail) once each
    assert values["mrr"].item() == pytest.approx(ranks.reciprocal().mean().item())
    assert values["mr"].item() == pytest.approx(ranks.mean().item())
