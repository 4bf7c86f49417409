"""Margin ranking loss ("Translating Embeddings for Modeling Multi-relational Data", Bordes et al., 2013)."""

from __future__ import annotations

from torch import Tensor

from zoo.objectives.kge_loss import KGELoss

__all__ = ["MarginRankingLoss"]


class MarginRankingLoss(KGELoss):
    r"""Pairwise hinge loss of Bordes et al. (2013, https://papers.nips.cc/paper/5071), as PyKEEN's
    ``MarginRankingLoss``: the mean over (positive, unfiltered negative) pairs of

    .. math::
        \max(0,\ \lambda - f(h, r, t) + f(h', r, t'))

    Args:
        margin: :math:`\lambda` (default: ``1.0``).
    """

    def __init__(self, *, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def loss(self, positive: Tensor, negative: Tensor, mask: Tensor) -> Tensor:
        pairs = (self.margin - positive.unsqueeze(1) + negative).relu()
        weight = mask.to(pairs.dtype)
        return (pairs * weight).sum() / weight.sum().clamp_min(1.0)
