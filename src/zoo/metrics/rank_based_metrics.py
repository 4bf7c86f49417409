"""Filtered rank-based link-prediction metrics: MRR, MR, Hits@k (PyKEEN's ``RankBasedEvaluator``)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

__all__ = ["RankBasedMetrics", "realistic_rank"]


def realistic_rank(scores: Tensor, target: Tensor, exclude: Optional[Tensor] = None) -> Tensor:
    r"""The realistic rank of each row's target among its candidates ("Ambiguity of Rank-Based
    Evaluation Metrics", Berrendorf et al., 2020, https://arxiv.org/abs/2002.06914):

    .. math::
        \mathrm{rank} = \tfrac12\big(\underbrace{|\{e : s_e > s_\star\}| + 1}_{\text{optimistic}}
        + \underbrace{|\{e : s_e \ge s_\star\}|}_{\text{pessimistic}}\big)

    so ties count half. Candidates in ``exclude`` (other known answers: the filtered setting) are
    left out; the target itself never is.

    :param scores: ``(B, |E|)``; higher is better.
    :param target: ``(B,)`` the true entity of each row.
    :param exclude: optional ``(B, |E|)`` bool.
    :returns: ``(B,)`` float ranks, >= 1.
    """
    true_score = scores.gather(1, target.unsqueeze(1))
    if exclude is not None:
        keep = ~exclude
        keep.scatter_(1, target.unsqueeze(1), True)
    greater = scores > true_score
    greater_equal = scores >= true_score
    if exclude is not None:
        greater &= keep
        greater_equal &= keep
    optimistic = greater.sum(1) + 1
    pessimistic = greater_equal.sum(1)
    return 0.5 * (optimistic + pessimistic).double()


class RankBasedMetrics(Metric):
    r"""Mean reciprocal rank, mean rank and Hits@k of head and tail predictions, averaged over both.

    .. math::
        \mathrm{MRR} = \frac{1}{2n}\sum_{i, s \in \{h, t\}} \frac{1}{\mathrm{rank}_{i,s}}, \quad
        \mathrm{MR} = \frac{1}{2n}\sum \mathrm{rank}_{i,s}, \quad
        \mathrm{Hits@}k = \frac{1}{2n}\sum [\mathrm{rank}_{i,s} \le k]

    Ranks are realistic (see :func:`realistic_rank`), as PyKEEN's default. Each update carries the
    triples' indices in their split; :meth:`compute` counts each index once, so DDP's distributed
    sampler (which pads a split with repeated triples) does not bias the result.

    Args:
        ks: the :math:`k` of Hits@k (default: ``(1, 3, 10)``).

    Returns (compute): ``{"mrr", "mr", "hits@1", "hits@3", "hits@10"}`` as float tensors.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, ks: Sequence[int] = (1, 3, 10), **kwargs) -> None:
        super().__init__(**kwargs)
        self.ks = tuple(int(k) for k in ks)
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("ranks", default=[], dist_reduce_fx="cat")

    def update(self, index: Tensor, head_rank: Tensor, tail_rank: Tensor) -> None:
        self.index.append(index.long())
        self.ranks.append(torch.stack([head_rank, tail_rank], dim=1).double())

    def compute(self) -> dict[str, Tensor]:
        # a list of per-batch tensors, or one tensor once torchmetrics has gathered the ranks' states (DDP)
        if isinstance(self.index, list) and not self.index:
            raise ValueError("RankBasedMetrics.compute() called before any update (no triple was ranked)")
        index, ranks = dim_zero_cat(self.index), dim_zero_cat(self.ranks)
        _, inverse = torch.unique(index, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1,), len(index), device=index.device, dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(len(index), device=index.device), reduce="amin")
        ranks = ranks[first].reshape(-1)
        out = {"mrr": ranks.reciprocal().mean(), "mr": ranks.mean()}
        for k in self.ks:
            out[f"hits@{k}"] = (ranks <= k).double().mean()
        return {k: v.float() for k, v in out.items()}
