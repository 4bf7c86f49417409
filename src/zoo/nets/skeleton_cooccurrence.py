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

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SkeletonCooccurrenceCNN"]


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class _PointStream(nn.Module):
    def __init__(self, in_channels: int, num_joints: int, hidden: int, batch_norm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 2 * hidden, kernel_size=1)
        self.bn1 = _norm(2 * hidden, batch_norm)
        self.conv2 = nn.Conv2d(2 * hidden, hidden, kernel_size=(3, 1), padding=(1, 0))
        self.bn2 = _norm(hidden, batch_norm)
        self.conv3 = nn.Conv2d(num_joints, hidden, kernel_size=3, padding=1)
        self.bn3 = _norm(hidden, batch_norm)
        self.conv4 = nn.Conv2d(hidden, 2 * hidden, kernel_size=3, padding=1)
        self.bn4 = _norm(2 * hidden, batch_norm)

    def forward(self, x: Tensor) -> Tensor:  # x: (B, 3, L, J)
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))             # (B, hidden, L, J)
        h = h.permute(0, 3, 2, 1).contiguous()  # joints become channels: (B, J, L, hidden)
        h = F.max_pool2d(F.relu(self.bn3(self.conv3(h))), 2)
        return F.max_pool2d(F.relu(self.bn4(self.conv4(h))), 2)


class SkeletonCooccurrenceCNN(nn.Module):
    """HCN-style co-occurrence CNN over ``(B, L, J, 3)`` skeleton sequences.

    Args:
        num_joints (int): joints per frame (20 for the Kinect v1 skeleton).
        in_channels (int, optional): coordinates per joint (default: ``3``).
        hidden_channels (int, optional): width of the point-level layers (default: ``32``).
        out_features (int, optional): size of the returned feature (default: ``256``).
        use_motion (bool, optional): add the frame-difference stream (default: ``True``).
        dropout (float, optional): dropout before the last layer (default: ``0.3``).
        batch_norm (bool, optional): batch norm after every convolution, as in CMC-CMKM's
            encoder; without it the small-batch contrastive objective barely moves in the first
            epochs (default: ``True``).

    Shapes:
        - **input:** :math:`(B, L, J, 3)`
        - **output:** :math:`(B, \\text{out\\_features})`
    """

    def __init__(
        self,
        *,
        num_joints: int,
        in_channels: int = 3,
        hidden_channels: int = 32,
        out_features: int = 256,
        use_motion: bool = True,
        dropout: float = 0.3,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_features = out_features
        self.use_motion = use_motion
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.point = _PointStream(in_channels, num_joints, hidden_channels, batch_norm)
        self.motion = _PointStream(in_channels, num_joints, hidden_channels, batch_norm) if use_motion else None
        streams = 2 if use_motion else 1
        width = 2 * hidden_channels * streams
        self.conv5 = nn.Conv2d(width, width, kernel_size=3, padding=1)
        self.bn5 = _norm(width, batch_norm)
        self.conv6 = nn.Conv2d(width, out_features, kernel_size=3, padding=1)
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
            h = torch.cat([h, self.motion(motion)], dim=1)
        h = F.max_pool2d(F.relu(self.bn5(self.conv5(h))), 2)
        h = F.dropout(h, p=self.dropout, training=self.training)
        h = F.relu(self.bn6(self.conv6(h)))
        return h.amax(dim=(2, 3))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(joints={self.num_joints}, out={self.out_features}, motion={self.use_motion})"
