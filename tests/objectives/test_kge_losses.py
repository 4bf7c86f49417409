"""KGE losses against their formulas and PyKEEN's implementations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.objectives.margin_ranking_loss import MarginRankingLoss
from zoo.objectives.self_adversarial_loss import SelfAdversarialLoss
from zoo.objectives.softplus_loss import SoftplusLoss

POS = torch.tensor([-1.0, 0.5, -3.0])
NEG = torch.tensor([[-2.0, -0.5, 1.0, -4.0], [0.0, 0.2, -1.0, -2.0], [-3.5, -2.5, -6.0, -1.0]])


def test_against_pykeen():
    from pykeen import losses

    torch.testing.assert_close(MarginRankingLoss(margin=1.0)(POS, NEG),
                               losses.MarginRankingLoss(margin=1.0).process_slcwa_scores(POS.unsqueeze(1), NEG))
    torch.testing.assert_close(SoftplusLoss()(POS, NEG),
                               losses.SoftplusLoss().process_slcwa_scores(POS.unsqueeze(1), NEG))
    torch.testing.assert_close(
        SelfAdversarialLoss(margin=6.0, adversarial_temperature=0.5)(POS, NEG),
        losses.NSSALoss(margin=6.0, adversarial_temperature=0.5).process_slcwa_scores(POS.unsqueeze(1), NEG))


def test_mask_removes_negatives():
    mask = torch.ones_like(NEG, dtype=torch.bool)
    mask[:, 2] = False
    kept = NEG[:, [0, 1, 3]]
    for loss in (MarginRankingLoss(margin=1.0), SelfAdversarialLoss()):
        torch.testing.assert_close(loss(POS, NEG, mask), loss(POS, kept))
    # softplus: a mean over positives and kept negatives
    expected = torch.cat([F.softplus(-POS), F.softplus(kept).reshape(-1)]).mean()
    torch.testing.assert_close(SoftplusLoss()(POS, NEG, mask), expected)


def test_self_adversarial_non_adversarial_and_gradients():
    neg = NEG.clone().requires_grad_(True)
    loss = SelfAdversarialLoss(margin=2.0, adversarial=False)(POS, neg)
    expected = 0.5 * (-F.logsigmoid(2.0 + POS).mean() - F.logsigmoid(-NEG - 2.0).mean(1).mean())
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.isfinite(neg.grad).all()
    # an all-filtered row contributes no negative term (no NaN)
    mask = torch.ones_like(NEG, dtype=torch.bool)
    mask[0] = False
    assert torch.isfinite(SelfAdversarialLoss()(POS, NEG, mask))


def test_bad_shapes():
    with pytest.raises(ValueError, match="expected"):
        SoftplusLoss()(POS, NEG[:2])
