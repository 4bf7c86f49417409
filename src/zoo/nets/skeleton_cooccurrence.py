"""Co-occurrence CNN skeleton encoder (HCN).

"Co-occurrence Feature Learning from Skeleton Data for Action Recognition and Detection with
Hierarchical Aggregation" (Li et al., IJCAI 2018), https://arxiv.org/abs/1804.06055; the skeleton
encoder of CMC-CMKM (https://arxiv.org/abs/2207.07106).

Point-level features are learned per joint by convolutions over (time, joint); the tensor is then
transposed so the joints become channels, and the following convolutions aggregate all joints
at once (global co-occurrence):

.. math::
    h = \\mathrm{conv}_{1\\times1}(x),\\quad h = \\mathrm{conv}_{3\\times1}(h),\\quad
    h' = \\mathrm{transpose}_{C \\leftrightarrow J}(h),\\quad
    z = \\mathrm{pool}\\big(\\mathrm{conv}_{3\\times3}(\\ldots \\mathrm{conv}_{3\\times3}(h'))\\big)

With ``use_motion`` a second stream reads the frame differences :math:`x_{t+1} - x_t` and is
concatenated before the co-occurrence layers, as in HCN.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SkeletonCooccurrenceCNN"]


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class _PointStream(nn.Module):
    """conv1 (1x1) -> conv2 (3x1) over (time, joint); joints become channels; conv3, conv4 (3x3) + pooling."""

    def __init__(
        self, in_channels: int, num_joints: int, widths: Sequence[int], batch_norm: bool, padding: bool, relu: bool
    ) -> None:
        super().__init__()
        c1, c2, c3, c4 = widths
        self.relu = relu
        self.conv1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.bn1 = _norm(c1, batch_norm)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=(3, 1), padding=(1, 0) if padding else 0)
        self.bn2 = _norm(c2, batch_norm)
        self.conv3 = nn.Conv2d(num_joints, c3, kernel_size=3, padding=1 if padding else 0)
        self.bn3 = _norm(c3, batch_norm)
        self.conv4 = nn.Conv2d(c3, c4, kernel_size=3, padding=1 if padding else 0)
        self.bn4 = _norm(c4, batch_norm)

    def forward(self, x: Tensor) -> Tensor:  # x: (B, 3, L, J)
        act = F.relu if self.relu else (lambda t: t)
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))             # (B, c2, L, J)
        h = h.permute(0, 3, 2, 1).contiguous()  # joints become channels: (B, J, L, c2)
        h = F.max_pool2d(act(self.bn3(self.conv3(h))), 2)
        return F.max_pool2d(act(self.bn4(self.conv4(h))), 2)


class SkeletonCooccurrenceCNN(nn.Module):
    """HCN-style co-occurrence CNN over ``(B, L, J, 3)`` skeleton sequences.

    Args:
        num_joints (int): joints per frame (20 for the Kinect v1 skeleton).
        in_channels (int, optional): coordinates per joint (default: ``3``).
        hidden_channels (int, optional): width of the point-level layers when ``widths`` is not
            given: conv1..conv4 are ``2h, h, h, 2h`` (default: ``32``).
        out_features (int, optional): size of the returned feature (width of conv6) (default: ``256``).
        widths (Sequence[int], optional): the widths of conv1..conv5 (conv6 is ``out_features``);
            CMC-CMKM's encoder is ``[64, 32, 32, 64, 128]`` with ``out_features=256``
            (default: ``None``: derived from ``hidden_channels``, conv5 as wide as its input).
        use_motion (bool, optional): add the frame-difference stream (default: ``True``).
        dropout (float, optional): dropout before the last layer (default: ``0.3``).
        batch_norm (bool, optional): batch norm after every convolution, as in CMC-CMKM's
            encoder; without it the small-batch contrastive objective barely moves in the first
            epochs (default: ``True``).
        padding (bool, optional): zero-pad the convolutions (``"same"`` size); ``False`` gives
            CMC-CMKM's unpadded convolutions, whose last map is 1 x 1 for 50 frames x 20 joints
            (default: ``True``).
        fusion (str, optional): how the point and motion streams are joined before conv5:
            ``"channel"`` (concatenated channels) or ``"map"`` (concatenated along the
            point-feature axis of the map, as CMC-CMKM; conv5 then reads ``widths[3]`` channels)
            (default: ``"channel"``).
        cooccurrence_relu (bool, optional): ReLU after conv3 and conv4; HCN and CMC-CMKM have none
            there (default: ``True``).

    The output is the global max over the last map (a flatten when it is 1 x 1).

    Shapes:
        - **input:** :math:`(B, L, J, 3)`
        - **output:** :math:`(B, \\text{out\\_features})`
    """

    FUSIONS = ("channel", "map")

    def __init__(
        self,
        *,
        num_joints: int,
        in_channels: int = 3,
        hidden_channels: int = 32,
        out_features: int = 256,
        widths: Optional[Sequence[int]] = None,
        use_motion: bool = True,
        dropout: float = 0.3,
        batch_norm: bool = True,
        padding: bool = True,
        fusion: str = "channel",
        cooccurrence_relu: bool = True,
    ) -> None:
        super().__init__()
        if fusion not in self.FUSIONS:
            raise ValueError(f"SkeletonCooccurrenceCNN fusion={fusion!r}; expected one of {list(self.FUSIONS)}")
        streams = 2 if use_motion else 1
        if widths is None:
            h = hidden_channels
            c4 = 2 * h
            widths = (2 * h, h, h, c4, c4 * streams if fusion == "channel" else c4)
        widths = tuple(int(w) for w in widths)
        if len(widths) != 5 or min(widths) < 1:
            raise ValueError(f"SkeletonCooccurrenceCNN widths={list(widths)}; expected 5 positive widths (conv1..conv5)")
        self.num_joints = num_joints
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_features = out_features
        self.widths = widths
        self.use_motion = use_motion
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.padding = padding
        self.fusion = fusion
        self.cooccurrence_relu = cooccurrence_relu
        args = (in_channels, num_joints, widths[:4], batch_norm, padding, cooccurrence_relu)
        self.point = _PointStream(*args)
        self.motion = _PointStream(*args) if use_motion else None
        width = widths[3] * streams if fusion == "channel" else widths[3]
        pad = 1 if padding else 0
        self.conv5 = nn.Conv2d(width, widths[4], kernel_size=3, padding=pad)
        self.bn5 = _norm(widths[4], batch_norm)
        self.conv6 = nn.Conv2d(widths[4], out_features, kernel_size=3, padding=pad)
        self.bn6 = _norm(out_features, batch_norm)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[2] != self.num_joints or x.shape[3] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects (B, L, {self.num_joints}, {self.in_channels}), got {tuple(x.shape)}"
            )
        x = x.permute(0, 3, 1, 2)  # (B, 3, L, J)
        h = self.point(x)
        if self.motion is not None:
            motion = x[:, :, 1:] - x[:, :, :-1]
            motion = F.interpolate(motion, size=x.shape[2:], mode="bilinear", align_corners=False)
            # map fusion: (B, c4, L', F') maps side by side along the point-feature axis F'
            h = torch.cat([h, self.motion(motion)], dim=1 if self.fusion == "channel" else 3)
        h = F.relu(self.bn5(self.conv5(h)))
        if min(h.shape[2:]) >= 2:
            h = F.max_pool2d(h, 2)
        h = F.dropout(h, p=self.dropout, training=self.training)
        h = F.relu(self.bn6(self.conv6(h)))
        return h.amax(dim=(2, 3))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(joints={self.num_joints}, widths={list(self.widths)}, "
                f"out={self.out_features}, motion={self.use_motion}, fusion={self.fusion})")
