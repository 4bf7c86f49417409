"""Negative-flip rate between an old and a new classifier, as a torchmetrics ``Metric``.

"Positive-Congruent Training: Towards Regression-Free Model Updates" (Yan et al., CVPR 2021),
https://arxiv.org/abs/2011.09161, and "Margin-Preserving Training against Negative Flips"
(arXiv 2511.08322), which counts flips over the OLD-class test samples only.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = ["NegativeFlipRate", "as_labels"]


def as_labels(preds: Tensor) -> Tensor:
    """Class indices from logits/probabilities ``(N, C)`` or pass-through labels ``(N,)``."""
    if preds.dim() == 2:
        return preds.argmax(dim=-1)
    if preds.dim() == 1:
        return preds.long()
    raise ValueError(f"predictions must have shape (N,) or (N, C); got {tuple(preds.shape)}")


class NegativeFlipRate(Metric):
    r"""Share of old-class samples the old model got right and the new model gets wrong.

    .. math::
        \mathrm{NFR} = \frac{1}{|S|} \sum_{i \in S} \mathbb{1}[\hat y^{old}_i = y_i \wedge \hat y^{new}_i \neq y_i],
        \qquad S = \{ i : y_i < K \}

    with ``K = num_old_classes`` (all samples when ``None``). With ``relative=True`` the metric is
    the relative NFR, which discounts the flips expected from the two error rates alone:

    .. math::
        \mathrm{RNFR} = \frac{\mathrm{NFR}}{(1 - \mathrm{ER}_{old}) \, \mathrm{ER}_{new}}

    where both error rates are measured on the same samples ``S`` (``nan`` when ``ER_new = 0``
    or ``ER_old = 1``).

    Args:
        num_old_classes: ``K``: samples with label ``>= K`` are ignored (default: ``None``, none).
        relative: compute RNFR instead of NFR (default: ``False``).

    Shapes:
        ``update(preds, old_preds, target)``: ``preds`` ``(N, C)`` logits or ``(N,)`` labels of the new
        model, ``old_preds`` ``(N, K)`` logits or ``(N,)`` labels of the old model, ``target`` ``(N,)``.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, *, num_old_classes: Optional[int] = None, relative: bool = False) -> None:
        super().__init__()
        if num_old_classes is not None and num_old_classes < 1:
            raise ValueError(f"num_old_classes={num_old_classes!r}; expected a positive int or None")
        self.num_old_classes = num_old_classes
        self.relative = relative
        for name in ("flips", "old_correct", "new_correct", "total"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, old_preds: Tensor, target: Tensor) -> None:
        new_labels, old_labels = as_labels(preds), as_labels(old_preds)
        if not (new_labels.shape == old_labels.shape == target.shape):
            raise ValueError(
                f"NegativeFlipRate: preds {tuple(new_labels.shape)}, old_preds {tuple(old_labels.shape)} "
                f"and target {tuple(target.shape)} must hold the same number of samples"
            )
        keep = target < self.num_old_classes if self.num_old_classes is not None else torch.ones_like(target, dtype=torch.bool)
        new_ok = (new_labels == target) & keep
        old_ok = (old_labels == target) & keep
        self.flips += (old_ok & ~new_ok & keep).sum()
        self.old_correct += old_ok.sum()
        self.new_correct += new_ok.sum()
        self.total += keep.sum()

    def compute(self) -> Tensor:
        total = self.total.clamp(min=1).double()
        nfr = self.flips.double() / total
        if not self.relative:
            return nfr.float()
        err_old = 1.0 - self.old_correct.double() / total
        err_new = 1.0 - self.new_correct.double() / total
        denom = (1.0 - err_old) * err_new
        if denom <= 0:
            return torch.tensor(float("nan"))
        return (nfr / denom).float()
