"""Seeded skeleton-sequence augmentations (CMC-CMKM, https://arxiv.org/abs/2207.07106, Sec. 3.3).

Each transform acts on one ``(L, J, 3)`` sequence and is applied with its own probability:
jitter :math:`x + \\epsilon,\\ \\epsilon \\sim \\mathcal{N}(0, \\sigma^2)`; per-axis scaling
:math:`x \\,\\mathrm{diag}(s),\\ s_k \\sim U(1-a, 1+a)`; rotation :math:`x R_z R_y R_x` with angles
:math:`\\sim U(-\\theta, \\theta)`; shear :math:`x (I + S)` with off-diagonal :math:`S_{kl} \\sim U(-h, h)`;
crop-resize: a random window of :math:`\\ge c L` frames linearly resized back to :math:`L`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SkeletonAugment"]


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def crop_resize(x: Tensor, min_fraction: float, generator: torch.Generator) -> Tensor:
    """Random temporal crop of at least ``min_fraction`` of the frames, resized to the input length."""
    length = x.shape[0]
    size = int(round(float(_uniform((1,), min_fraction, 1.0, generator)) * length))
    size = max(2, min(length, size))
    start = int(torch.randint(0, length - size + 1, (1,), generator=generator))
    window = x[start:start + size].reshape(size, -1).T.unsqueeze(0)  # (1, C, size)
    out = F.interpolate(window, size=length, mode="linear", align_corners=True)
    return out.squeeze(0).T.reshape(x.shape)


class SkeletonAugment:
    """Random skeleton augmentations for ``(L, J, 3)`` sequences, drawn from a ``torch.Generator``.

    Args:
        p: probability of applying each transform (default: ``0.5``).
        jitter_sigma: std of the Gaussian noise (default: ``0.05``, in joint 1-2 distance units).
        scale: per-axis factors drawn from ``U(1 - scale, 1 + scale)`` (default: ``0.2``).
        rotation_deg: rotation angles about each axis from ``U(-rotation_deg, rotation_deg)`` (default: ``15``).
        shear: off-diagonal shear entries from ``U(-shear, shear)`` (default: ``0.2``).
        crop_min: shortest crop, as a fraction of the frames (default: ``0.8``).
    """

    def __init__(
        self,
        *,
        p: float = 0.5,
        jitter_sigma: float = 0.05,
        scale: float = 0.2,
        rotation_deg: float = 15.0,
        shear: float = 0.2,
        crop_min: float = 0.8,
    ) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"SkeletonAugment p={p!r}; expected a probability in [0, 1]")
        if not 0.0 < crop_min <= 1.0:
            raise ValueError(f"SkeletonAugment crop_min={crop_min!r}; expected a value in (0, 1]")
        self.p = p
        self.jitter_sigma = jitter_sigma
        self.scale = scale
        self.rotation_deg = rotation_deg
        self.shear = shear
        self.crop_min = crop_min

    def _apply(self, generator: torch.Generator) -> bool:
        return bool(torch.rand((1,), generator=generator) < self.p)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != 3:
            raise ValueError(f"SkeletonAugment expects (L, J, 3) sequences, got shape {tuple(x.shape)}")
        if self._apply(generator):
            x = crop_resize(x, self.crop_min, generator)
        if self._apply(generator):
            x = x * _uniform((3,), 1 - self.scale, 1 + self.scale, generator)
        if self._apply(generator):
            angles = _uniform((3,), -self.rotation_deg, self.rotation_deg, generator) * math.pi / 180
            x = x @ _rotation(angles)
        if self._apply(generator):
            shear = _uniform((3, 3), -self.shear, self.shear, generator)
            x = x @ (torch.eye(3) + shear * (1 - torch.eye(3)))
        if self._apply(generator):
            x = x + self.jitter_sigma * torch.randn(x.shape, generator=generator)
        return x

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


def _rotation(angles: Tensor) -> Tensor:
    ax, ay, az = (float(a) for a in angles)
    rx = torch.tensor([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = torch.tensor([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = torch.tensor([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return (rz @ ry @ rx).float()
