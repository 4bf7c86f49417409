"""HAR encoders and projection head: shapes, every parameter gets a gradient, finite output, repr."""

from __future__ import annotations

import pytest
import torch

from zoo.nets.inertial_transformer import InertialTransformer
from zoo.nets.projection_head import ProjectionHead
from zoo.nets.skeleton_cooccurrence import SkeletonCooccurrenceCNN

CASES = [
    (lambda: SkeletonCooccurrenceCNN(num_joints=20, hidden_channels=8, out_features=32), (3, 50, 20, 3), 32),
    (lambda: SkeletonCooccurrenceCNN(num_joints=20, hidden_channels=8, out_features=16, use_motion=False), (2, 24, 20, 3), 16),
    (lambda: SkeletonCooccurrenceCNN(num_joints=20, hidden_channels=8, out_features=16, batch_norm=False), (2, 24, 20, 3), 16),
    (lambda: InertialTransformer(in_channels=6, conv_channels=(8, 16), num_heads=2, feedforward=32), (3, 50, 6), 16),
    (lambda: InertialTransformer(in_channels=6, conv_channels=(8, 16), batch_norm=False), (3, 50, 6), 16),
    (lambda: ProjectionHead(in_features=16, hidden_features=32, out_features=8), (4, 16), 8),
]


@pytest.mark.parametrize("make,shape,out", CASES)
def test_shape_gradient_and_finite(make, shape, out):
    torch.manual_seed(0)
    net = make()
    y = net(torch.randn(*shape))
    assert y.shape == (shape[0], out) and torch.isfinite(y).all()
    assert getattr(net, "out_features") == out
    y.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
    assert type(net).__name__ in repr(net)


def test_reset_parameters_reinitialises():
    net = InertialTransformer(in_channels=6, conv_channels=(8, 16))
    before = net.convs[0].weight.clone()
    net.reset_parameters()
    assert not torch.equal(before, net.convs[0].weight)


def test_wrong_input_shape_is_named():
    with pytest.raises(ValueError, match=r"\(B, L, 20, 3\)"):
        SkeletonCooccurrenceCNN(num_joints=20)(torch.randn(2, 50, 6))
    with pytest.raises(ValueError, match=r"\(B, L, 6\)"):
        InertialTransformer(in_channels=6)(torch.randn(2, 50, 20, 3))
    with pytest.raises(ValueError, match="num_heads"):
        InertialTransformer(in_channels=6, conv_channels=(8, 15), num_heads=2)


def test_batch_norm_option_adds_and_removes_norm_layers():
    def count(net):
        return sum(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in net.modules())

    assert count(SkeletonCooccurrenceCNN(num_joints=20, hidden_channels=8, out_features=16)) == 10  # 2 x 4 + 2
    assert count(SkeletonCooccurrenceCNN(num_joints=20, hidden_channels=8, out_features=16, batch_norm=False)) == 0
    assert count(InertialTransformer(in_channels=6, conv_channels=(8, 16))) == 2
    assert count(InertialTransformer(in_channels=6, conv_channels=(8, 16), batch_norm=False)) == 0
