"""Softplus (logistic) loss, i.e. binary cross-entropy on logits ("Complex Embeddings for Simple Link Prediction")."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from zoo.objectives.kge_loss import KGELoss

__all__ = ["SoftplusLoss"]


class SoftplusLoss(KGELoss):
    r"""Pointwise logistic loss of Trouillon et al. (2016, https://arxiv.org/abs/1606.06357), which is
    binary cross-entropy with logits and labels :math:`y = +1` (positives), :math:`y = -1` (negatives):

    .. math::
        \ell = \operatorname{softplus}(-y\, f(h, r, t)) = -\log \sigma(y\, f(h, r, t))

    averaged over all positive and unfiltered negative triples (PyKEEN's ``SoftplusLoss``).
    """

    def loss(self, positive: Tensor, negative: Tensor, mask: Tensor) -> Tensor:
        weight = mask.to(negative.dtype)
        total = F.softplus(-positive).sum() + (F.softplus(negative) * weight).sum()
        return total / (positive.numel() + weight.sum())
