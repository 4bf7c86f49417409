"""Margin loss and capsule cross-entropy, with and without cost-sensitive class weights."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.objectives.capsule_cross_entropy import CapsuleCrossEntropy
from zoo.objectives.margin_loss import MarginLoss


def test_margin_loss_hand_value():
    lengths = torch.tensor([[0.8, 0.3, 0.05]])
    target = torch.tensor([0])
    # (0.9 - 0.8)^2 + 0.5 * (0.3 - 0.1)^2 + 0
    assert float(MarginLoss()(lengths, target)) == pytest.approx(0.01 + 0.02)
    assert float(MarginLoss()(torch.tensor([[0.95, 0.05]]), torch.tensor([0]))) == 0.0


def test_cross_entropy_hand_value():
    lengths = torch.tensor([[0.6, 0.2, 0.2]])
    assert float(CapsuleCrossEntropy()(lengths, torch.tensor([1]))) == pytest.approx(-math.log(0.2))


@pytest.mark.parametrize("objective", [MarginLoss, CapsuleCrossEntropy])
def test_inverse_class_weights(objective):
    loss = objective(class_weights="inverse")
    counts = torch.tensor([[90.0, 10.0], [50.0, 50.0]])
    weights = loss.weights_from_counts(counts)
    torch.testing.assert_close(weights, torch.tensor([[100 / 180, 100 / 20], [1.0, 1.0]]))
    assert objective().weights_from_counts(counts) is None
    lengths = torch.tensor([[0.2, 0.7], [0.7, 0.2], [0.6, 0.5]])
    target = torch.tensor([0, 1, 0])
    per_sample = loss.per_sample(lengths, target)
    w = weights[0][target]
    torch.testing.assert_close(loss(lengths, target, weights[0]), (w * per_sample).sum() / w.sum())
    # the rare class' error counts more than without weights
    assert float(loss(lengths, target, weights[0])) != pytest.approx(float(loss(lengths, target)))


def test_custom_weights_checked():
    loss = MarginLoss(class_weights="custom", custom_weights=[1.0, 3.0])
    torch.testing.assert_close(loss.weights_from_counts(torch.ones(2, 2)), torch.tensor([[1.0, 3.0], [1.0, 3.0]]))
    with pytest.raises(ValueError, match="3 classes"):
        loss.weights_from_counts(torch.ones(3))
    with pytest.raises(ValueError, match="custom_weights"):
        MarginLoss(class_weights="custom")
    with pytest.raises(ValueError, match=r"class_weights='balanced'.*inverse"):
        CapsuleCrossEntropy(class_weights="balanced")


@pytest.mark.parametrize("objective", [MarginLoss, CapsuleCrossEntropy])
def test_inverse_weight_power(objective):
    counts = torch.tensor([[90.0, 10.0]])
    full = objective(class_weights="inverse").weights_from_counts(counts)
    root = objective(class_weights="inverse", power=0.5).weights_from_counts(counts)
    torch.testing.assert_close(root, full.sqrt())
    torch.testing.assert_close(root, torch.tensor([[(100 / 180) ** 0.5, 5.0 ** 0.5]]))
    torch.testing.assert_close(objective(class_weights="inverse", power=0.0).weights_from_counts(counts),
                               torch.ones(1, 2))
    assert "power=0.5" in repr(objective(class_weights="inverse", power=0.5))
    with pytest.raises(ValueError, match=r"model.objective.power=-1"):
        objective(class_weights="inverse", power=-1)


@pytest.mark.parametrize("objective", [MarginLoss, CapsuleCrossEntropy])
def test_effective_number_weights(objective):
    counts = torch.tensor([[90.0, 10.0], [50.0, 50.0]])
    loss = objective(class_weights="effective", beta=0.9)
    weights = loss.weights_from_counts(counts)
    # Cui et al. 2019: w_c proportional to (1 - beta) / (1 - beta^N_c), normalised to sum to C
    raw = torch.tensor([0.1 / (1 - 0.9 ** 90), 0.1 / (1 - 0.9 ** 10)])
    torch.testing.assert_close(weights, torch.stack([2 * raw / raw.sum(), torch.ones(2)]))
    assert 1.0 < float(weights[0, 1] / weights[0, 0]) < 9.0  # milder than the inverse ratio 90 / 10
    torch.testing.assert_close(objective(class_weights="effective", beta=0.0).weights_from_counts(counts),
                               torch.ones(2, 2))
    # beta -> 1 approaches the inverse frequencies (same ratio)
    near = objective(class_weights="effective", beta=1 - 1e-9).weights_from_counts(counts)
    assert float(near[0, 1] / near[0, 0]) == pytest.approx(9.0, rel=1e-4)
    lengths = torch.tensor([[0.2, 0.7], [0.7, 0.2], [0.6, 0.5]])
    target = torch.tensor([0, 1, 0])
    w = weights[0][target]
    expected = (w * loss.per_sample(lengths, target)).sum() / w.sum()
    torch.testing.assert_close(loss(lengths, target, weights[0]), expected)
    assert "beta=0.9" in repr(loss)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=rf"model.objective.beta={bad}"):
            objective(class_weights="effective", beta=bad)
