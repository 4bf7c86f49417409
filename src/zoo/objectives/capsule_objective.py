"""The shared base of the capsule objectives: cost-sensitive class weights around one loss term.

Cost-sensitive learning for class imbalance as in the weighted capsule ensemble
(https://arxiv.org/abs/2306.17068): each sample's loss is scaled by its class weight.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = ["CapsuleObjective", "CLASS_WEIGHT_MODES"]

CLASS_WEIGHT_MODES = ("none", "inverse", "effective", "custom")


class CapsuleObjective(nn.Module, ABC):
    r"""A per-sample loss on class-capsule lengths, averaged with optional class weights.

    .. math::
        \mathcal{L} = \frac{\sum_n w_{y_n}\,\ell(\mathbf{a}_n, y_n)}{\sum_n w_{y_n}}, \qquad
        w_c = \begin{cases} 1 & \texttt{none} \\
                            \left(\dfrac{N}{C\,\max(N_c, 1)}\right)^{\gamma} & \texttt{inverse} \\
                            C\,\dfrac{(1-\beta)/(1-\beta^{N_c})}{\sum_j (1-\beta)/(1-\beta^{N_j})} & \texttt{effective} \\
                            \texttt{custom\_weights}[c] & \texttt{custom} \end{cases}

    where :math:`\mathbf{a}_n \in [0,1)^C` are the capsule lengths, :math:`N_c` the training
    count of class :math:`c` (``inverse``: the rarer the class, the larger its weight; a balanced
    set gets all ones; :math:`\gamma` = ``power`` tempers them: 1 is plain inverse frequency, 0.5
    the square root, 0 no weighting). ``effective`` is the inverse *effective number of samples*
    :math:`E_c = (1-\beta^{N_c})/(1-\beta)` of "Class-Balanced Loss Based on Effective Number of
    Samples" (Cui et al., 2019, https://arxiv.org/abs/1901.05555), normalised to sum to :math:`C`:
    :math:`\beta = 0` gives all ones, :math:`\beta \to 1` the ratios of plain inverse frequency; in
    between the weight of a class saturates once it has more than about :math:`1/(1-\beta)` samples,
    so the large classes get (nearly) equal weights and only the small ones are up-weighted.
    Dividing by :math:`\sum_n w_{y_n}` keeps the loss on the same scale as the unweighted mean, so
    the learning rate needs no retuning. Subclasses implement only :meth:`per_sample`.

    Args:
        class_weights: ``none``, ``inverse``, ``effective`` or ``custom`` (default: ``none``).
        custom_weights: one positive weight per class, for ``custom``.
        power: exponent :math:`\gamma \ge 0` of the ``inverse`` weights (default: ``1.0``).
        beta: :math:`\beta \in [0, 1)` of the ``effective`` weights (default: ``0.999``).
    """

    def __init__(
        self,
        *,
        class_weights: str = "none",
        custom_weights: Optional[Sequence[float]] = None,
        power: float = 1.0,
        beta: float = 0.999,
    ) -> None:
        super().__init__()
        if power is None or power < 0:
            raise ValueError(f"model.objective.power={power}; expected a number >= 0")
        if beta is None or not 0.0 <= beta < 1.0:
            raise ValueError(f"model.objective.beta={beta}; expected a number in [0, 1)")
        if class_weights not in CLASS_WEIGHT_MODES:
            raise ValueError(
                f"model.objective.class_weights={class_weights!r}; expected one of {list(CLASS_WEIGHT_MODES)}"
            )
        if class_weights == "custom":
            if custom_weights is None or any(float(w) <= 0 for w in custom_weights):
                raise ValueError(
                    "model.objective.class_weights='custom' needs model.objective.custom_weights: one "
                    f"positive weight per class, got {custom_weights!r}"
                )
        self.class_weights = class_weights
        self.power = float(power)
        self.beta = float(beta)
        self.custom_weights = [float(w) for w in custom_weights] if custom_weights is not None else None

    def weights_from_counts(self, counts: Tensor) -> Optional[Tensor]:
        """Class weights ``(..., C)`` from training counts ``(..., C)`` (``None`` for ``none``).

        :raises ValueError: ``custom_weights`` has the wrong number of entries.
        """
        num_classes = counts.size(-1)
        if self.class_weights == "none":
            return None
        if self.class_weights == "custom":
            if len(self.custom_weights) != num_classes:
                raise ValueError(
                    f"model.objective.custom_weights={self.custom_weights} has {len(self.custom_weights)} "
                    f"entries; the data has {num_classes} classes"
                )
            return torch.tensor(self.custom_weights, dtype=torch.float32).expand_as(counts).clone()
        if self.class_weights == "effective":
            counts = counts.double()
            inverse_effective = (1.0 - self.beta) / (1.0 - torch.pow(self.beta, counts.clamp_min(1.0)))
            return (num_classes * inverse_effective / inverse_effective.sum(dim=-1, keepdim=True)).float()
        total = counts.sum(dim=-1, keepdim=True)
        return (total / (num_classes * counts.clamp_min(1.0))).pow(self.power).float()

    @abstractmethod
    def per_sample(self, lengths: Tensor, target: Tensor) -> Tensor:
        """The unweighted loss of each sample: lengths ``(B, C)``, target ``(B,)`` -> ``(B,)``."""

    def forward(self, lengths: Tensor, target: Tensor, class_weight: Optional[Tensor] = None) -> Tensor:
        losses = self.per_sample(lengths, target)
        if class_weight is None:
            return losses.mean()
        w = class_weight.to(losses.dtype)[target]
        return (w * losses).sum() / w.sum().clamp_min(1e-12)

    def extra_repr(self) -> str:
        extra = {"inverse": f", power={self.power}", "effective": f", beta={self.beta}"}.get(self.class_weights, "")
        return f"class_weights={self.class_weights}{extra}"
