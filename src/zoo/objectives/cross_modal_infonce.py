"""Cross-modal InfoNCE, the CMC baseline.

"Contrastive Multiview Coding" (Tian et al., 2020), https://arxiv.org/abs/1906.05849; InfoNCE from
"Representation Learning with Contrastive Predictive Coding" (van den Oord et al., 2018),
https://arxiv.org/abs/1807.03748. Per anchor :math:`i` and direction:

.. math::
    \\ell_i = -\\log \\frac{e^{s_{ii}/t}}{e^{s_{ii}/t} + \\sum_{j \\in \\mathcal{N}_i} e^{s_{ij}/t}}
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.objectives.cross_modal_contrastive import CrossModalContrastiveLoss

__all__ = ["CrossModalInfoNCE"]


class CrossModalInfoNCE(CrossModalContrastiveLoss):
    """Symmetric InfoNCE between two modalities (see :class:`CrossModalContrastiveLoss`).

    Args:
        temperature: :math:`t` (default: ``0.1``).
        use_labels: drop same-class negatives when labels are given (default: ``False``).
    """

    def anchor_loss(self, pos: Tensor, sim: Tensor, neg_mask: Tensor) -> Tensor:
        logits = (sim / self.temperature).masked_fill(~neg_mask, float("-inf"))
        logits = torch.cat([(pos / self.temperature)[:, None], logits], dim=1)
        return torch.logsumexp(logits, dim=1) - pos / self.temperature
