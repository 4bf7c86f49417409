"""Shapes and gradients of the model-update nets (small CNN, CIFAR ResNet, timm by name)."""

from __future__ import annotations

import pytest
import torch

from zoo.nets.cifar_resnet import CifarResNet
from zoo.nets.small_cnn import SmallCNN
from zoo.nets.timm_net import TimmNet

NETS = {
    "small_cnn": (lambda: SmallCNN(in_channels=1, num_classes=7, channels=(4, 8), hidden=16), (3, 1, 28, 28)),
    "resnet20": (lambda: CifarResNet(num_classes=7, blocks=(1, 1, 1), widths=(8, 16, 32)), (3, 3, 32, 32)),
    "timm": (lambda: TimmNet(model_name="resnet10t", num_classes=7), (3, 3, 32, 32)),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_forward_backward(name):
    build, shape = NETS[name]
    torch.manual_seed(0)
    net = build()
    out = net(torch.randn(*shape))
    assert out.shape == (3, 7) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    assert type(net).__name__ in repr(net)


def test_bad_arguments():
    with pytest.raises(ValueError, match="not a timm model"):
        TimmNet(model_name="resnet_does_not_exist", num_classes=3)
    with pytest.raises(ValueError, match="equal length"):
        CifarResNet(num_classes=3, blocks=(1, 1), widths=(8,))


def test_small_cnn_without_batch_norm_is_batch_independent():
    torch.manual_seed(0)
    net = SmallCNN(in_channels=1, num_classes=7, channels=(4, 8), hidden=16, batch_norm=False, dropout=0.0).train()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert all(conv.bias is not None for conv in net.modules() if isinstance(conv, torch.nn.Conv2d))
    x = torch.randn(6, 1, 28, 28)
    # in training mode each sample's logits do not depend on the rest of the batch
    torch.testing.assert_close(net(x)[:3], net(x[:3]))
    with_bn = SmallCNN(in_channels=1, num_classes=7, channels=(4, 8), hidden=16, dropout=0.0).train()
    assert not torch.allclose(with_bn(x)[:3], with_bn(x[:3]))
