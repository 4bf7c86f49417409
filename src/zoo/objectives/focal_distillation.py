"""Focal distillation: a teacher's logits distilled harder on the samples the teacher gets right.

"Positive-Congruent Training: Towards Regression-Free Model Updates" (Yan et al., CVPR 2021),
https://arxiv.org/abs/2011.09161; the KL form with the weights of "Margin-Preserving Training
against Negative Flips" (arXiv 2511.08322).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FocalDistillation", "FOCAL_KINDS"]

FOCAL_KINDS = ("kl", "lm")


class FocalDistillation(nn.Module):
    r"""Per-sample distillation weighted by whether the teacher is right.

    .. math::
        w_i = \alpha + \beta \, \mathbb{1}[\arg\max_c r_{ic} = y_i]

    ``kind="kl"`` (FD-KL):

    .. math::
        \mathrm{FD}(z, r) = \frac{1}{N} \sum_i w_i \,
        \mathrm{KL}\big(\mathrm{softmax}(r_i / T) \,\|\, \mathrm{softmax}(z_i / T)\big) \cdot s,
        \qquad s = T^2 \text{ if ``temperature_squared`` else } 1

    ``kind="lm"`` (FD-LM, logit matching):

    .. math::
        \mathrm{FD}(z, r) = \frac{1}{N} \sum_i w_i \, \tfrac{1}{2} \, \tfrac{1}{C} \sum_c (z_{ic} - r_{ic})^2

    ``z`` and ``r`` must have the same number of columns: slice the student's logits to the
    teacher's classes before calling (the old model sees only the old classes).

    Args:
        alpha: weight of every sample (default: ``1.0``).
        beta: extra weight of the samples the teacher classifies correctly (default: ``5.0``).
        temperature: softmax temperature ``T`` of the KL form (default: ``5.0``).
        kind: ``"kl"`` or ``"lm"`` (default: ``"kl"``).
        temperature_squared: multiply the KL by ``T^2`` as in PCT (the MPT code does not)
            (default: ``False``).

    Shapes:
        ``forward(logits, teacher_logits, target)``: ``(N, C)``, ``(N, C)``, ``(N,)`` -> scalar.
    """

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        beta: float = 5.0,
        temperature: float = 5.0,
        kind: str = "kl",
        temperature_squared: bool = False,
    ) -> None:
        super().__init__()
        if kind not in FOCAL_KINDS:
            raise ValueError(f"kind={kind!r}; expected one of {list(FOCAL_KINDS)}")
        if temperature <= 0:
            raise ValueError(f"temperature={temperature!r}; expected a positive number")
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha={alpha!r}, beta={beta!r}; expected non-negative weights")
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.kind = kind
        self.temperature_squared = temperature_squared

    def weights(self, teacher_logits: Tensor, target: Tensor) -> Tensor:
        """``alpha + beta * 1[teacher right]`` per sample, shape ``(N,)``."""
        right = (teacher_logits.argmax(dim=-1) == target).to(teacher_logits.dtype)
        return self.alpha + self.beta * right

    def forward(self, logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        if logits.shape != teacher_logits.shape:
            raise ValueError(
                f"FocalDistillation: student logits {tuple(logits.shape)} and teacher logits "
                f"{tuple(teacher_logits.shape)} must have the same shape"
            )
        teacher_logits = teacher_logits.detach()
        if self.kind == "kl":
            t = self.temperature
            per_sample = F.kl_div(
                F.log_softmax(logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1),
                reduction="none", log_target=True,
            ).sum(dim=-1)
            if self.temperature_squared:
                per_sample = per_sample * t * t
        else:
            per_sample = 0.5 * (logits - teacher_logits).pow(2).mean(dim=-1)
        return torch.mean(self.weights(teacher_logits, target) * per_sample)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, alpha={self.alpha}, beta={self.beta}, T={self.temperature}"
