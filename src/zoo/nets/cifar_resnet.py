"""ResNets for 32x32 images: a 3x3 stem without max-pooling, as in the CIFAR experiments of
"Deep Residual Learning for Image Recognition" (He et al., 2016), https://arxiv.org/abs/1512.03385.

=========  ==============  =====================  ========
variant    blocks          widths                 params
=========  ==============  =====================  ========
ResNet-20  (3, 3, 3)       (16, 32, 64)           0.27 M
ResNet-56  (9, 9, 9)       (16, 32, 64)           0.85 M
ResNet-18  (2, 2, 2, 2)    (64, 128, 256, 512)    11.2 M
=========  ==============  =====================  ========

ResNet-18 with this stem is the net of the MPT/PCT CIFAR experiments (arXiv 2511.08322).
"""

from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CifarResNet", "BasicBlock"]


class BasicBlock(nn.Module):
    r"""``y = ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x))``; the shortcut is a strided
    1x1 conv + BN when the shape changes, else the identity."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    r"""3x3 conv stem -> stages of :class:`BasicBlock` (stride 2 from the second stage) ->
    global average pool -> linear classifier.

    Args:
        in_channels: image channels (default: ``3``).
        num_classes: output logits.
        blocks: blocks per stage (default: ``(2, 2, 2, 2)``: ResNet-18).
        widths: channels per stage, same length as ``blocks`` (default: ``(64, 128, 256, 512)``).

    Shapes:
        ``(N, in_channels, H, W) -> (N, num_classes)``.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        blocks: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        blocks, widths = [int(b) for b in blocks], [int(w) for w in widths]
        if len(blocks) != len(widths) or not blocks:
            raise ValueError(f"blocks={blocks!r} and widths={widths!r} must be non-empty and of equal length")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.blocks = tuple(blocks)
        self.widths = tuple(widths)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        )
        stages, in_planes = [], widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            layers = []
            for j in range(n):
                layers.append(BasicBlock(in_planes, w, stride=2 if (i > 0 and j == 0) else 1))
                in_planes = w
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.num_features = in_planes
        self.fc = nn.Linear(in_planes, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.Linear)):
                module.reset_parameters()

    def forward_features(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.forward_features(x))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(blocks={self.blocks}, widths={self.widths}, num_classes={self.num_classes})"
