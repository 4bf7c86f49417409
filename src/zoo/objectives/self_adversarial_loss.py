"""Self-adversarial negative sampling loss ("RotatE", Sun et al., ICLR 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.objectives.kge_loss import KGELoss

__all__ = ["SelfAdversarialLoss"]


class SelfAdversarialLoss(KGELoss):
    r"""Self-adversarial negative sampling loss of "RotatE: Knowledge Graph Embedding by Relational
    Rotation in Complex Space" (Sun et al., 2019, https://arxiv.org/abs/1902.10197), Eq. (5), as
    PyKEEN's ``NSSALoss`` (scores :math:`f = -d`):

    .. math::
        \ell = \tfrac12\Big(-\log\sigma(\gamma + f(h, r, t))
              - \sum_j p_j \log\sigma(-\gamma - f(h'_j, r, t'_j))\Big),\qquad
        p_j = \operatorname{softmax}_j(\alpha f(h'_j, r, t'_j))

    with the weights :math:`p_j` detached, filtered negatives excluded from the softmax, and the
    mean over the batch. ``adversarial=False`` uses uniform weights :math:`1/N`.

    Args:
        margin: :math:`\gamma` (default: ``6.0``, LEMON's WN18RR setting).
        adversarial_temperature: :math:`\alpha` (default: ``0.5``).
        adversarial: weight negatives by the softmax (default: ``True``).
    """

    def __init__(self, *, margin: float = 6.0, adversarial_temperature: float = 0.5, adversarial: bool = True) -> None:
        super().__init__()
        self.margin = margin
        self.adversarial_temperature = adversarial_temperature
        self.adversarial = adversarial

    def loss(self, positive: Tensor, negative: Tensor, mask: Tensor) -> Tensor:
        if self.adversarial:
            logits = (negative.detach() * self.adversarial_temperature).masked_fill(~mask, float("-inf"))
            weights = torch.softmax(logits, dim=1).nan_to_num(0.0)  # an all-filtered row weighs nothing
        else:
            weights = mask.to(negative.dtype) / mask.sum(1, keepdim=True).clamp_min(1)
        pos = -F.logsigmoid(self.margin + positive)
        neg = -(weights * F.logsigmoid(-negative - self.margin)).sum(dim=1)
        return 0.5 * (pos.mean() + neg.mean())
