"""The shared part of cross-modal contrastive objectives (CMC, hard-negative CMC).

"Contrastive Multiview Coding" (Tian et al., 2020), https://arxiv.org/abs/1906.05849: embeddings
:math:`u_i = f(x^a_i)`, :math:`v_i = g(x^b_i)` of the two modalities of recording :math:`i` are a
positive pair; the other recordings of the (global) batch are negatives. With cosine similarities
:math:`s_{ij} = \\hat u_i^\\top \\hat v_j` the loss sums both directions,

.. math::
    \\mathcal{L} = \\frac{1}{B}\\sum_i \\ell(s_{ii}, \\{s_{ij}\\}_{j \\in \\mathcal{N}_i})
        + \\frac{1}{B}\\sum_i \\ell(s^\\top_{ii}, \\{s^\\top_{ij}\\}_{j \\in \\mathcal{N}_i}),

where the negative set :math:`\\mathcal{N}_i` is every other recording, or with ``use_labels``
every recording of another class (label-aware exclusion of false negatives). Subclasses
implement only :meth:`anchor_loss`. Under DDP, anchors stay local and candidates are gathered
from all processes (:mod:`zoo.objectives.distributed_gather`).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.objectives.distributed_gather import gather_no_grad, gather_with_grad, world_info

__all__ = ["CrossModalContrastiveLoss"]


class CrossModalContrastiveLoss(nn.Module):
    """Base of symmetric cross-modal contrastive losses.

    Args:
        temperature: :math:`t` in :math:`\\exp(s/t)` (default: ``0.1``).
        use_labels: exclude same-class recordings from the negatives when labels are passed
            (default: ``False``).
    """

    def __init__(self, *, temperature: float = 0.1, use_labels: bool = False) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"loss.temperature={temperature!r}; expected a positive number")
        self.temperature = temperature
        self.use_labels = use_labels

    def anchor_loss(self, pos: Tensor, sim: Tensor, neg_mask: Tensor) -> Tensor:
        """Per-anchor loss.

        :param pos: ``(B,)`` positive similarities :math:`s_{ii}`.
        :param sim: ``(B, N)`` similarities to every candidate of the global batch.
        :param neg_mask: ``(B, N)`` bool, ``True`` where the candidate is a negative of the anchor.
        :returns: ``(B,)`` losses.
        """
        raise NotImplementedError

    def forward(self, z_a: Tensor, z_b: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """Symmetric loss of the paired embeddings ``z_a`` ``(B, D)`` and ``z_b`` ``(B, D)``.

        :param labels: ``(B,)`` class ids; used only when ``use_labels`` is set.
        """
        if z_a.shape != z_b.shape or z_a.dim() != 2:
            raise ValueError(f"paired embeddings must both be (B, D); got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
        if self.use_labels and labels is None:
            raise ValueError("loss.use_labels=true but no labels were passed")
        z_a, z_b = F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)
        all_a, all_b = gather_with_grad(z_a), gather_with_grad(z_b)
        rank, _ = world_info()
        batch = z_a.shape[0]
        own = torch.arange(batch, device=z_a.device) + rank * batch  # positives' global columns
        neg_mask = torch.ones(batch, all_a.shape[0], dtype=torch.bool, device=z_a.device)
        neg_mask[torch.arange(batch, device=z_a.device), own] = False
        if self.use_labels:
            all_labels = gather_no_grad(labels)
            neg_mask &= labels[:, None] != all_labels[None, :]
        loss = 0.0
        for anchors, candidates in ((z_a, all_b), (z_b, all_a)):
            sim = anchors @ candidates.T
            pos = sim[torch.arange(batch, device=sim.device), own]
            loss = loss + self.anchor_loss(pos, sim, neg_mask).mean()
        return loss
