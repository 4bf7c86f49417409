"""Cross-modal contrastive loss with hard-negative sampling (and optional debiasing).

"Contrastive Learning with Hard Negative Samples" (HCL, Robinson et al., ICLR 2021),
https://arxiv.org/abs/2010.04592, applied across modalities by "Multimodal Contrastive Learning
with Hard Negative Sampling for Human Activity Recognition" (Choi et al., 2023),
https://arxiv.org/abs/2309.01262. Negatives are reweighted by their similarity with concentration
:math:`\\beta`,

.. math::
    w_{ij} = \\frac{e^{\\beta s_{ij}/t}}{\\sum_{k \\in \\mathcal{N}_i} e^{\\beta s_{ik}/t}},\\qquad
    R_i = N_i \\sum_{j \\in \\mathcal{N}_i} w_{ij}\\, e^{s_{ij}/t},

(the importance weights of HCL's code, which scale :math:`\\beta` by the temperature), and
the unlabelled form debiases with the positive-class prior :math:`\\tau^+` (Chuang et al., 2020,
https://arxiv.org/abs/2007.00224):

.. math::
    G_i = \\max\\Big(\\frac{R_i - \\tau^+ N_i e^{s_{ii}/t}}{1 - \\tau^+},\\; N_i e^{-1/t}\\Big),\\qquad
    \\ell_i = -\\log \\frac{e^{s_{ii}/t}}{e^{s_{ii}/t} + G_i}.

With labels (``use_labels``) same-class samples leave :math:`\\mathcal{N}_i` and ``tau_plus``
should be 0. At :math:`\\beta = 0,\\ \\tau^+ = 0` the loss is exactly InfoNCE. Both directions are
summed (see :class:`~zoo.objectives.cross_modal_contrastive.CrossModalContrastiveLoss`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.objectives.cross_modal_contrastive import CrossModalContrastiveLoss

__all__ = ["HardNegativeContrastiveLoss"]


class HardNegativeContrastiveLoss(CrossModalContrastiveLoss):
    """HCL-style hard-negative cross-modal loss.

    Args:
        temperature: :math:`t` (default: ``0.1``).
        beta: concentration :math:`\\beta \\ge 0` on hard negatives; ``0`` weights them uniformly
            (default: ``1.0``).
        tau_plus: class prior :math:`\\tau^+ \\in [0, 1)` of the debiased estimator; ``0`` turns
            debiasing off (default: ``0.1``).
        use_labels: exclude same-class negatives when labels are given (default: ``False``).
    """

    def __init__(
        self, *, temperature: float = 0.1, beta: float = 1.0, tau_plus: float = 0.1, use_labels: bool = False
    ) -> None:
        super().__init__(temperature=temperature, use_labels=use_labels)
        if beta < 0:
            raise ValueError(f"loss.beta={beta!r}; expected a value >= 0")
        if not 0.0 <= tau_plus < 1.0:
            raise ValueError(f"loss.tau_plus={tau_plus!r}; expected a value in [0, 1)")
        self.beta = beta
        self.tau_plus = tau_plus

    def anchor_loss(self, pos: Tensor, sim: Tensor, neg_mask: Tensor) -> Tensor:
        t = self.temperature
        count = neg_mask.sum(dim=1).to(sim.dtype)
        # rows without negatives (label-aware, single-class batch) get a finite dummy row, then G_i = 0
        has = count > 0
        mask = neg_mask | ~has[:, None]
        scaled = sim / t
        # log R_i = log N_i + logsumexp_j((1 + beta) s_ij / t) - logsumexp_j(beta s_ij / t)  (stable form)
        log_weighted = torch.logsumexp(((1 + self.beta) * scaled).masked_fill(~mask, float("-inf")), dim=1) \
            - torch.logsumexp((self.beta * scaled).masked_fill(~mask, float("-inf")), dim=1)
        log_r = torch.log(count.clamp_min(1)) + log_weighted
        pos_t = pos / t
        if self.tau_plus > 0:
            g = (log_r.exp() - self.tau_plus * count * pos_t.exp()) / (1 - self.tau_plus)
            g = torch.maximum(g, count * math.exp(-1 / t))
            log_g = torch.log(g.clamp_min(torch.finfo(sim.dtype).tiny))
        else:
            log_g = log_r
        log_g = torch.where(has, log_g, torch.full_like(log_g, float("-inf")))
        return torch.logaddexp(pos_t, log_g) - pos_t
