"""Seeded IMU-sequence augmentations (Um et al., 2017, https://arxiv.org/abs/1706.00527; as in CMC-CMKM).

Each transform acts on one ``(L, C)`` sequence with its own probability: jitter
:math:`x + \\epsilon,\\ \\epsilon \\sim \\mathcal{N}(0, \\sigma^2)`; channel scaling
:math:`x\\,\\mathrm{diag}(s),\\ s_c \\sim \\mathcal{N}(1, \\sigma_s^2)`; permutation of up to
``max_segments`` time segments; channel shuffle (a random permutation of the channels).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["InertialAugment"]


class InertialAugment:
    """Random IMU augmentations for ``(L, C)`` sequences, drawn from a ``torch.Generator``.

    Args:
        p_jitter: probability of jitter (default: ``0.5``).
        p_scale: probability of channel scaling (default: ``0.5``).
        p_permute: probability of segment permutation (default: ``0.5``).
        p_channel_shuffle: probability of shuffling the channels (default: ``0.1``).
        jitter_sigma: noise std, in standardised units (default: ``0.1``).
        scale_sigma: std of the per-channel factors (default: ``0.1``).
        max_segments: the sequence is cut into 2..max_segments pieces before permuting (default: ``4``).
    """

    def __init__(
        self,
        *,
        p_jitter: float = 0.5,
        p_scale: float = 0.5,
        p_permute: float = 0.5,
        p_channel_shuffle: float = 0.1,
        jitter_sigma: float = 0.1,
        scale_sigma: float = 0.1,
        max_segments: int = 4,
    ) -> None:
        for name, p in (("p_jitter", p_jitter), ("p_scale", p_scale), ("p_permute", p_permute),
                        ("p_channel_shuffle", p_channel_shuffle)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"InertialAugment {name}={p!r}; expected a probability in [0, 1]")
        if max_segments < 2:
            raise ValueError(f"InertialAugment max_segments={max_segments!r}; expected an integer >= 2")
        self.p_jitter = p_jitter
        self.p_scale = p_scale
        self.p_permute = p_permute
        self.p_channel_shuffle = p_channel_shuffle
        self.jitter_sigma = jitter_sigma
        self.scale_sigma = scale_sigma
        self.max_segments = max_segments

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"InertialAugment expects (L, C) sequences, got shape {tuple(x.shape)}")
        draw = torch.rand((4,), generator=generator)
        if draw[0] < self.p_permute:
            pieces = int(torch.randint(2, self.max_segments + 1, (1,), generator=generator))
            cuts = torch.randperm(x.shape[0] - 1, generator=generator)[: pieces - 1].add(1).sort().values
            segments = torch.tensor_split(x, cuts.tolist())
            order = torch.randperm(len(segments), generator=generator).tolist()
            x = torch.cat([segments[i] for i in order])
        if draw[1] < self.p_scale:
            x = x * (1 + self.scale_sigma * torch.randn((x.shape[1],), generator=generator))
        if draw[2] < self.p_jitter:
            x = x + self.jitter_sigma * torch.randn(x.shape, generator=generator)
        if draw[3] < self.p_channel_shuffle:
            x = x[:, torch.randperm(x.shape[1], generator=generator)]
        return x

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p_jitter={self.p_jitter}, p_permute={self.p_permute})"
