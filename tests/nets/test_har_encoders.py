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
    # CMC-CMKM layouts: unpadded co-occurrence CNN joined along the map; flattened IMU Transformer
    (lambda: SkeletonCooccurrenceCNN(num_joints=20, widths=[8, 32, 8, 8, 16], out_features=32, padding=False,
                                     fusion="map", cooccurrence_relu=False, dropout=0.0), (3, 50, 20, 3), 32),
    (lambda: InertialTransformer(in_channels=6, conv_channels=(8, 16), kernel_size=3, pooling="flatten",
                                 sequence_length=50, positional="sinusoidal", norm_first=False, final_norm=False,
                                 conv_dropout=False), (3, 50, 6), 800),
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


def test_cmc_cmkm_skeleton_layout_reduces_to_one_position():
    """CMC-CMKM's unpadded layout: 50 frames x 20 joints end as a 1 x 1 map after conv6's pooling;
    ``widths`` sets every convolution (conv5 reads one stream's width under map fusion)."""
    net = SkeletonCooccurrenceCNN(num_joints=20, widths=[64, 32, 32, 64, 128], out_features=256, padding=False,
                                  fusion="map", cooccurrence_relu=False, dropout=0.0)
    widths = [net.point.conv1.out_channels, net.point.conv2.out_channels, net.point.conv3.out_channels,
              net.point.conv4.out_channels, net.conv5.out_channels, net.conv6.out_channels]
    assert widths == [64, 32, 32, 64, 128, 256] and net.conv5.in_channels == 64
    assert net.point.conv3.in_channels == 20 and net.point.conv2.padding == (0, 0)
    assert SkeletonCooccurrenceCNN(num_joints=20, hidden_channels=8, out_features=16).conv5.in_channels == 32
    with pytest.raises(ValueError, match="fusion='bogus'"):
        SkeletonCooccurrenceCNN(num_joints=20, fusion="bogus")
    with pytest.raises(ValueError, match="widths"):
        SkeletonCooccurrenceCNN(num_joints=20, widths=[8, 8])


def test_flatten_pooling_keeps_every_time_step():
    torch.manual_seed(0)
    net = InertialTransformer(in_channels=6, conv_channels=(8, 16), pooling="flatten", sequence_length=20).eval()
    x = torch.randn(2, 20, 6)
    y = net(x)
    assert y.shape == (2, 20 * 16) == (2, net.out_features)
    # unlike the mean, the flattened output depends on the order of the time steps
    mean = InertialTransformer(in_channels=6, conv_channels=(8, 16)).eval()
    assert not torch.allclose(y, net(x.flip(1)), atol=1e-5)
    assert mean(x).shape == (2, 16)
    with pytest.raises(ValueError, match="sequence_length=20"):
        net(torch.randn(2, 30, 6))
    with pytest.raises(ValueError, match="needs sequence_length"):
        InertialTransformer(in_channels=6, pooling="flatten")
    with pytest.raises(ValueError, match="pooling='max'"):
        InertialTransformer(in_channels=6, pooling="max")
    with pytest.raises(ValueError, match="positional='rope'"):
        InertialTransformer(in_channels=6, positional="rope")


def test_sinusoidal_positions_are_fixed_and_not_saved():
    net = InertialTransformer(in_channels=6, conv_channels=(8, 16), positional="sinusoidal", max_length=64)
    assert "position" not in net.state_dict() and "position" not in dict(net.named_parameters())
    table = net.position[0]
    assert torch.allclose(table[:, 0], torch.sin(torch.arange(64.0)))  # frequency 1 in column 0
    assert torch.allclose(table[:, 1], torch.cos(torch.arange(64.0)))
    post = InertialTransformer(in_channels=6, conv_channels=(8, 16), norm_first=False, final_norm=False)
    assert not post.transformer.layers[0].norm_first and isinstance(post.norm, torch.nn.Identity)
