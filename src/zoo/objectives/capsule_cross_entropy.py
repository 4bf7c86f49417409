"""Cross-entropy on capsule lengths read as unnormalised class probabilities."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.objectives.capsule_objective import CapsuleObjective

__all__ = ["CapsuleCrossEntropy", "length_probabilities"]


def length_probabilities(lengths: Tensor, eps: float = 1e-6) -> Tensor:
    r"""Class probabilities from capsule lengths: :math:`p_k = a_k / \sum_j a_j`."""
    lengths = lengths.clamp_min(eps)
    return lengths / lengths.sum(dim=-1, keepdim=True)


class CapsuleCrossEntropy(CapsuleObjective):
    r"""Negative log-likelihood of :math:`p_k = a_k / \sum_j a_j` (the probabilities the ensemble
    combines), with optional class weights (:class:`CapsuleObjective`).

    .. math::
        \ell(\mathbf{a}, y) = -\log \frac{a_y}{\sum_j a_j}

    Args:
        class_weights, custom_weights, power, beta: see :class:`CapsuleObjective`.
    """

    def __init__(
        self,
        *,
        class_weights: str = "none",
        custom_weights: Optional[Sequence[float]] = None,
        power: float = 1.0,
        beta: float = 0.999,
    ) -> None:
        super().__init__(class_weights=class_weights, custom_weights=custom_weights, power=power, beta=beta)

    def per_sample(self, lengths: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(torch.log(length_probabilities(lengths)), target, reduction="none")
