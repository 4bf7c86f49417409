"""The MPT training objective: margin-calibrated cross-entropy plus focal distillation from the
old and from an independently trained reference model.

"Margin-Preserving Training against Negative Flips" (arXiv 2511.08322); the PCT baseline is
"Positive-Congruent Training" (Yan et al., CVPR 2021), https://arxiv.org/abs/2011.09161.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.objectives.focal_distillation import FocalDistillation

__all__ = ["MarginPreservingLoss"]


class MarginPreservingLoss(nn.Module):
    r"""Cross-entropy with a margin bias on the new classes plus two focal distillation terms.

    .. math::
        \mathcal{L} = \mathrm{CE}\big(z + b \, \mathbb{1}[c \geq K], \; y\big)
        + \lambda_{old} \, \mathrm{FD}(z_{:, <K}, z^{old}, y)
        + \lambda_{ref} \, \mathrm{FD}(z, z^{ref}, y)

    ``b`` (``margin_bias``) raises the new-class logits inside the cross-entropy only, so the
    trained model must win the old classes by a margin of ``b``; the distillation terms and
    inference use the unbiased logits ``z``. Method presets:

    ==============  ====  ===========  =================
    method          b     old_weight   reference_weight
    ==============  ====  ===========  =================
    no treatment    0     0            0
    PCT (FD-KL)     0     1            0
    MPT (KL)        4     1            1
    MPT (LM)        4     0.4          0.4 (``kind=lm``)
    ==============  ====  ===========  =================

    Args:
        num_old_classes: ``K``, the classes the old model knows (the first ``K``).
        margin_bias: ``b`` (default: ``4.0``; the paper sweeps 0, 1, 2, 4).
        old_weight: ``lambda_old`` (default: ``1.0``).
        reference_weight: ``lambda_ref`` (default: ``1.0``).
        distillation: the focal distillation term (default: ``FocalDistillation()``: KL,
            alpha 1, beta 5, T 5).
        label_smoothing: of the cross-entropy (default: ``0.0``).

    Shapes:
        ``forward(logits, target, old_logits, reference_logits)``: ``(N, C)``, ``(N,)``,
        ``(N, K)`` or ``None``, ``(N, C)`` or ``None`` -> ``(loss, parts)``.
    """

    def __init__(
        self,
        *,
        num_old_classes: int,
        margin_bias: float = 4.0,
        old_weight: float = 1.0,
        reference_weight: float = 1.0,
        distillation: Optional[FocalDistillation] = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if num_old_classes < 1:
            raise ValueError(f"num_old_classes={num_old_classes!r}; expected a positive int")
        if old_weight < 0 or reference_weight < 0:
            raise ValueError(
                f"old_weight={old_weight!r}, reference_weight={reference_weight!r}; expected >= 0"
            )
        self.num_old_classes = num_old_classes
        self.margin_bias = margin_bias
        self.old_weight = old_weight
        self.reference_weight = reference_weight
        self.distillation = distillation if distillation is not None else FocalDistillation()
        self.label_smoothing = label_smoothing

    @property
    def uses_old(self) -> bool:
        return self.old_weight > 0

    @property
    def uses_reference(self) -> bool:
        return self.reference_weight > 0

    def biased_logits(self, logits: Tensor) -> Tensor:
        """``z + b * 1[c >= K]``: the logits the cross-entropy sees during training."""
        if self.margin_bias == 0:
            return logits
        bias = torch.zeros(logits.size(-1), dtype=logits.dtype, device=logits.device)
        bias[self.num_old_classes:] = self.margin_bias
        return logits + bias

    def forward(
        self,
        logits: Tensor,
        target: Tensor,
        old_logits: Optional[Tensor] = None,
        reference_logits: Optional[Tensor] = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        ce = F.cross_entropy(self.biased_logits(logits), target, label_smoothing=self.label_smoothing)
        parts = {"ce": ce}
        loss = ce
        if self.uses_old:
            if old_logits is None:
                raise ValueError("MarginPreservingLoss: old_weight > 0 needs the old model's logits")
            fd_old = self.distillation(logits[:, : self.num_old_classes], old_logits, target)
            parts["fd_old"] = fd_old
            loss = loss + self.old_weight * fd_old
        if self.uses_reference:
            if reference_logits is None:
                raise ValueError("MarginPreservingLoss: reference_weight > 0 needs the reference model's logits")
            fd_ref = self.distillation(logits, reference_logits, target)
            parts["fd_ref"] = fd_ref
            loss = loss + self.reference_weight * fd_ref
        return loss, parts

    def extra_repr(self) -> str:
        return (f"K={self.num_old_classes}, b={self.margin_bias}, old_weight={self.old_weight}, "
                f"reference_weight={self.reference_weight}")
