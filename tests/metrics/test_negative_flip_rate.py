"""NegativeFlipRate against a hand-computed example."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.metrics.negative_flip_rate import NegativeFlipRate


def _example():
    # 8 samples; classes 0-1 old (K=2), 2-3 new
    target = torch.tensor([0, 0, 1, 1, 0, 1, 2, 3])
    old = torch.tensor([0, 0, 1, 0, 1, 1, 0, 1])   # old model (knows classes 0, 1)
    new = torch.tensor([0, 2, 1, 1, 1, 0, 2, 3])   # new model
    return new, old, target


def test_nfr_hand_computed():
    new, old, target = _example()
    # old-class samples: indices 0..5 (6 samples)
    # old right: 0, 1, 2, 5; new right: 0, 2, 3 -> negative flips: 1 (old right, new 2), 5 -> 2 / 6
    metric = NegativeFlipRate(num_old_classes=2)
    metric.update(new, old, target)
    assert float(metric.compute()) == pytest.approx(2 / 6)
    # RNFR: err_old = 2/6, err_new = 3/6 -> (2/6) / ((4/6) * (3/6)) = 1.0
    rel = NegativeFlipRate(num_old_classes=2, relative=True)
    rel.update(new, old, target)
    assert float(rel.compute()) == pytest.approx((2 / 6) / ((4 / 6) * (3 / 6)))


def test_nfr_all_samples_and_batches_accumulate():
    new, old, target = _example()
    metric = NegativeFlipRate()  # every sample counts: flips at 1 and 5 -> 2 / 8
    metric.update(new[:3], old[:3], target[:3])
    metric.update(new[3:], old[3:], target[3:])
    assert float(metric.compute()) == pytest.approx(2 / 8)


def test_nfr_takes_logits_of_different_widths():
    new, old, target = _example()
    new_logits = torch.nn.functional.one_hot(new, 4).float() * 3.0
    old_logits = torch.nn.functional.one_hot(old, 2).float()
    metric = NegativeFlipRate(num_old_classes=2)
    metric.update(new_logits, old_logits, target)
    assert float(metric.compute()) == pytest.approx(2 / 6)


def test_rnfr_nan_when_new_model_is_perfect():
    target = torch.tensor([0, 1, 0])
    rel = NegativeFlipRate(num_old_classes=2, relative=True)
    rel.update(target, torch.tensor([0, 0, 0]), target)
    assert math.isnan(float(rel.compute()))


def test_bad_shapes_and_values():
    with pytest.raises(ValueError, match="num_old_classes"):
        NegativeFlipRate(num_old_classes=0)
    metric = NegativeFlipRate()
    with pytest.raises(ValueError, match="same number of samples"):
        metric.update(torch.tensor([0, 1]), torch.tensor([0]), torch.tensor([0, 1]))
