"""The margin bias b acts on the new-class logits inside the cross-entropy only."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.objectives.focal_distillation import FocalDistillation
from zoo.objectives.margin_preserving_loss import MarginPreservingLoss


def _batch():
    torch.manual_seed(1)
    logits = torch.randn(6, 4)
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    return logits, target, torch.randn(6, 2), torch.randn(6, 4)


def test_margin_bias_only_on_new_classes_in_cross_entropy():
    logits, target, old, ref = _batch()
    loss = MarginPreservingLoss(num_old_classes=2, margin_bias=4.0, old_weight=0.0, reference_weight=0.0)
    bias = torch.tensor([0.0, 0.0, 4.0, 4.0])
    total, parts = loss(logits, target)
    assert float(total) == pytest.approx(float(F.cross_entropy(logits + bias, target)), rel=1e-6)
    assert float(total) != pytest.approx(float(F.cross_entropy(logits, target)), rel=1e-3)
    assert torch.equal(loss.biased_logits(logits)[:, :2], logits[:, :2])


def test_distillation_sees_unbiased_logits():
    logits, target, old, ref = _batch()
    fd = FocalDistillation(alpha=1.0, beta=5.0, temperature=5.0)
    loss = MarginPreservingLoss(num_old_classes=2, margin_bias=4.0, distillation=fd)
    total, parts = loss(logits, target, old, ref)
    assert float(parts["fd_old"]) == pytest.approx(float(fd(logits[:, :2], old, target)), rel=1e-6)
    assert float(parts["fd_ref"]) == pytest.approx(float(fd(logits, ref, target)), rel=1e-6)
    assert float(total) == pytest.approx(float(parts["ce"] + parts["fd_old"] + parts["fd_ref"]), rel=1e-6)


def test_presets_and_missing_teachers():
    logits, target, old, ref = _batch()
    none = MarginPreservingLoss(num_old_classes=2, margin_bias=0.0, old_weight=0.0, reference_weight=0.0)
    total, parts = none(logits, target)
    assert set(parts) == {"ce"} and float(total) == pytest.approx(float(F.cross_entropy(logits, target)))
    with pytest.raises(ValueError, match="old model's logits"):
        MarginPreservingLoss(num_old_classes=2)(logits, target)
    with pytest.raises(ValueError, match="reference model's logits"):
        MarginPreservingLoss(num_old_classes=2)(logits, target, old)
    with pytest.raises(ValueError, match="num_old_classes"):
        MarginPreservingLoss(num_old_classes=0)
