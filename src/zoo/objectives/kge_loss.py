"""The interface of KGE training losses: positive scores against their negatives' scores."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional

import torch
from torch import Tensor, nn

__all__ = ["KGELoss"]


class KGELoss(nn.Module, ABC):
    """Base of the sLCWA losses (PyKEEN's ``process_slcwa_scores``): :meth:`forward` checks shapes
    and applies the mask of filtered negatives; subclasses implement :meth:`loss`.

    Shapes:
        positive ``(B,)``, negative ``(B, N)``, mask ``(B, N)`` bool (``False`` = ignore) -> scalar.
    """

    def forward(self, positive: Tensor, negative: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if negative.dim() != 2 or positive.shape != negative.shape[:1]:
            raise ValueError(f"scores: positive {tuple(positive.shape)} and negative {tuple(negative.shape)}; "
                             "expected (B,) and (B, N)")
        if mask is None:
            mask = torch.ones_like(negative, dtype=torch.bool)
        return self.loss(positive, negative, mask)

    @abstractmethod
    def loss(self, positive: Tensor, negative: Tensor, mask: Tensor) -> Tensor:
        """The mean loss of the batch."""
