"""Hard-negative cross-modal loss vs. InfoNCE: reduction, monotonicity, label-aware exclusion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.objectives.cross_modal_infonce import CrossModalInfoNCE
from zoo.objectives.hard_negative_contrastive import HardNegativeContrastiveLoss


def _pair(seed: int = 0, n: int = 12, d: int = 16):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g)
    b = a + 0.5 * torch.randn(n, d, generator=g)
    labels = torch.arange(n) % 4
    return a, b, labels


def _reference_infonce(a, b, t):
    """Textbook symmetric InfoNCE: cross-entropy over the similarity matrix, both directions."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / t
    target = torch.arange(len(a))
    return F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_equals_infonce_at_beta0_tau0(t):
    a, b, labels = _pair()
    hard = HardNegativeContrastiveLoss(temperature=t, beta=0.0, tau_plus=0.0)
    ref = _reference_infonce(a, b, t)
    assert hard(a, b) == pytest.approx(float(ref), rel=1e-5)
    assert CrossModalInfoNCE(temperature=t)(a, b) == pytest.approx(float(ref), rel=1e-5)
    # label-aware forms agree too
    hard_l = HardNegativeContrastiveLoss(temperature=t, beta=0.0, tau_plus=0.0, use_labels=True)
    info_l = CrossModalInfoNCE(temperature=t, use_labels=True)
    assert hard_l(a, b, labels) == pytest.approx(float(info_l(a, b, labels)), rel=1e-5)


def test_beta_upweights_hard_negatives():
    a, b, _ = _pair(1)
    base = HardNegativeContrastiveLoss(beta=0.0, tau_plus=0.0)(a, b)
    losses = [HardNegativeContrastiveLoss(beta=beta, tau_plus=0.0)(a, b) for beta in (0.5, 1.0, 2.0)]
    assert base < losses[0] < losses[1] < losses[2]


@pytest.mark.parametrize("loss", [
    CrossModalInfoNCE(temperature=0.5), HardNegativeContrastiveLoss(temperature=0.5),
    HardNegativeContrastiveLoss(temperature=0.5, tau_plus=0.0, beta=2.0),
])
def test_loss_decreases_as_negatives_move_away(loss):
    """Anchor u and positive v fixed; the negatives rotate from near v to opposite u."""
    u = torch.tensor([[1.0, 0.0, 0.0]])
    v = torch.tensor([[1.0, 0.1, 0.0]])
    values = []
    for angle in torch.linspace(0.3, 3.0, 6):
        neg = torch.stack([torch.cos(angle), torch.sin(angle) * torch.tensor(0.6), torch.sin(angle) * 0.8])
        values.append(float(_first_anchor(loss, u, v, neg)))
    # non-increasing (the debiased estimator bottoms out at its clamp N e^{-1/t}), and strictly lower at the end
    assert all(x >= y - 1e-7 for x, y in zip(values, values[1:])), values
    assert values[0] > 10 * values[-1] and values[0] > values[1] > values[2], values


def _first_anchor(loss, u, v, neg):
    """Loss of anchor u against v (positive) and two copies of a negative, one direction."""
    z = F.normalize(torch.cat([u, neg[None], neg[None]]), dim=-1)
    w = F.normalize(torch.cat([v, neg[None], neg[None]]), dim=-1)
    sim = z @ w.T
    mask = ~torch.eye(3, dtype=torch.bool)
    return loss.anchor_loss(sim.diagonal(), sim, mask)[0]


def test_label_aware_exclusion_removes_same_class_terms():
    a, b, labels = _pair(2)
    loss = HardNegativeContrastiveLoss(beta=1.0, tau_plus=0.0, use_labels=True)
    before = loss(a, b, labels)
    sim = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
    mask = labels[:, None] != labels[None, :]
    pos = sim.diagonal()
    per_anchor = loss.anchor_loss(pos, sim, mask)
    # same result if the same-class similarities are replaced by anything
    sim_changed = torch.where(mask | torch.eye(len(a), dtype=torch.bool), sim, torch.full_like(sim, 0.99))
    assert torch.allclose(loss.anchor_loss(pos, sim_changed, mask), per_anchor)
    # and the unlabelled loss does see them
    unlabelled = HardNegativeContrastiveLoss(beta=1.0, tau_plus=0.0)
    full = ~torch.eye(len(a), dtype=torch.bool)
    assert not torch.allclose(unlabelled.anchor_loss(pos, sim_changed, full), unlabelled.anchor_loss(pos, sim, full))
    assert torch.isfinite(before)
    # explicit count: label-aware loss equals InfoNCE over the other-class negatives only
    t = loss.temperature
    manual = []
    for i in range(len(a)):
        negs = sim[i][mask[i]] / t
        w = torch.softmax(loss.beta * negs, dim=0)
        r = len(negs) * (w * negs.exp()).sum()
        manual.append(-torch.log(torch.exp(pos[i] / t) / (torch.exp(pos[i] / t) + r)))
    assert torch.allclose(per_anchor, torch.stack(manual), rtol=1e-4, atol=1e-6)


def test_single_class_batch_has_no_negatives_and_finite_gradients():
    a, b, _ = _pair(3, n=6)
    a.requires_grad_(True)
    loss = HardNegativeContrastiveLoss(use_labels=True)(a, b, torch.zeros(6, dtype=torch.long))
    loss.backward()
    assert float(loss) == 0.0 and torch.isfinite(a.grad).all()


def test_debiasing_matches_hcl_formula():
    a, b, _ = _pair(4)
    t, beta, tau = 0.5, 1.0, 0.1
    loss = HardNegativeContrastiveLoss(temperature=t, beta=beta, tau_plus=tau)
    sim = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
    n = len(a)
    mask = ~torch.eye(n, dtype=torch.bool)
    pos = sim.diagonal().exp() ** (1 / t)
    neg = (sim / t).exp()[mask].view(n, n - 1)
    imp = (beta * neg.log()).exp()
    reweight = (imp * neg).sum(-1) / imp.mean(-1)
    ng = ((-tau * (n - 1) * pos + reweight) / (1 - tau)).clamp(min=(n - 1) * torch.e ** (-1 / t))
    expected = (-torch.log(pos / (pos + ng)))
    assert torch.allclose(loss.anchor_loss(sim.diagonal(), sim, mask), expected, rtol=1e-5)


def test_bad_hyperparameters_name_the_key():
    with pytest.raises(ValueError, match=r"loss\.beta=-1"):
        HardNegativeContrastiveLoss(beta=-1)
    with pytest.raises(ValueError, match=r"loss\.tau_plus=1\.0"):
        HardNegativeContrastiveLoss(tau_plus=1.0)
    with pytest.raises(ValueError, match=r"loss\.temperature=0"):
        CrossModalInfoNCE(temperature=0)
    with pytest.raises(ValueError, match="use_labels"):
        CrossModalInfoNCE(use_labels=True)(torch.randn(4, 3), torch.randn(4, 3))
