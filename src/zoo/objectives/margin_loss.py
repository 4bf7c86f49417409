"""Capsule margin loss: "Dynamic Routing Between Capsules" (Sabour et al., 2017),
https://arxiv.org/abs/1710.09829, Eq. 4."""

from __future__ import annotations

from typing import Optional, Sequence

import torch.nn.functional as F
from torch import Tensor

from zoo.objectives.capsule_objective import CapsuleObjective

__all__ = ["MarginLoss"]


class MarginLoss(CapsuleObjective):
    r"""Separate margin loss per class capsule (Eq. 4), with optional class weights.

    .. math::
        \ell(\mathbf{a}, y) = \sum_k T_k \max(0, m^+ - a_k)^2
            + \lambda (1 - T_k) \max(0, a_k - m^-)^2, \qquad T_k = [k = y]

    Args:
        m_plus: :math:`m^+` (default: ``0.9``).
        m_minus: :math:`m^-` (default: ``0.1``).
        lambda_: :math:`\lambda`, down-weights absent classes (default: ``0.5``).
        class_weights, custom_weights, power, beta: see :class:`CapsuleObjective`.
    """

    def __init__(
        self,
        *,
        m_plus: float = 0.9,
        m_minus: float = 0.1,
        lambda_: float = 0.5,
        class_weights: str = "none",
        custom_weights: Optional[Sequence[float]] = None,
        power: float = 1.0,
        beta: float = 0.999,
    ) -> None:
        super().__init__(class_weights=class_weights, custom_weights=custom_weights, power=power, beta=beta)
        if not 0.0 <= m_minus < m_plus <= 1.0:
            raise ValueError(f"model.objective: need 0 <= m_minus < m_plus <= 1, got {m_minus}, {m_plus}")
        self.m_plus = m_plus
        self.m_minus = m_minus
        self.lambda_ = lambda_

    def per_sample(self, lengths: Tensor, target: Tensor) -> Tensor:
        t = F.one_hot(target, lengths.size(-1)).to(lengths.dtype)
        present = t * F.relu(self.m_plus - lengths) ** 2
        absent = self.lambda_ * (1.0 - t) * F.relu(lengths - self.m_minus) ** 2
        return (present + absent).sum(dim=-1)
