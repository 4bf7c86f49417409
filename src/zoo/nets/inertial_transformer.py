"""1-D CNN + Transformer encoder for inertial (IMU) sequences, the IMU encoder of CMC-CMKM.

"Contrastive Learning with Cross-Modal Knowledge Mining for Multimodal Human Activity
Recognition" (Brinzea et al., 2022), https://arxiv.org/abs/2207.07106; Transformer from
"Attention Is All You Need" (Vaswani et al., 2017), https://arxiv.org/abs/1706.03762.

.. math::
    h = \\mathrm{ReLU}(\\mathrm{conv}_k(\\ldots\\mathrm{ReLU}(\\mathrm{conv}_k(x)))) + p,\\qquad
    z = \\frac{1}{L}\\sum_{t=1}^{L} \\mathrm{TransformerEncoder}(h)_t

with learned positional embeddings :math:`p`; convolution widths 32/64/128, kernel 5, 2 heads,
2 layers by default.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["InertialTransformer"]


class InertialTransformer(nn.Module):
    """CNN front end + Transformer encoder over ``(B, L, C)`` IMU sequences, mean-pooled.

    Args:
        in_channels (int): IMU channels (6 for accelerometer + gyroscope).
        conv_channels (Sequence[int], optional): widths of the 1-D convolutions (default: ``(32, 64, 128)``).
        kernel_size (int, optional): convolution kernel (default: ``5``).
        num_heads (int, optional): attention heads (default: ``2``).
        num_layers (int, optional): Transformer layers (default: ``2``).
        feedforward (int, optional): Transformer MLP width (default: ``256``).
        max_length (int, optional): longest sequence the positional table covers (default: ``512``).
        dropout (float, optional): dropout in the convolutions and Transformer (default: ``0.1``).
        batch_norm (bool, optional): batch norm after every convolution, as in CMC-CMKM
            (default: ``True``).

    Shapes:
        - **input:** :math:`(B, L, C)`
        - **output:** :math:`(B, \\text{conv\\_channels}[-1])` (``out_features``)
    """

    def __init__(
        self,
        *,
        in_channels: int,
        conv_channels: Sequence[int] = (32, 64, 128),
        kernel_size: int = 5,
        num_heads: int = 2,
        num_layers: int = 2,
        feedforward: int = 256,
        max_length: int = 512,
        dropout: float = 0.1,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        conv_channels = tuple(int(c) for c in conv_channels)
        if not conv_channels or conv_channels[-1] % num_heads != 0:
            raise ValueError(
                f"InertialTransformer conv_channels={list(conv_channels)} must be non-empty and the last "
                f"width divisible by num_heads={num_heads}"
            )
        self.in_channels = in_channels
        self.conv_channels = conv_channels
        self.kernel_size = kernel_size
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.feedforward = feedforward
        self.max_length = max_length
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.out_features = conv_channels[-1]
        widths = (in_channels,) + conv_channels
        self.convs = nn.ModuleList(
            nn.Conv1d(widths[i], widths[i + 1], kernel_size, padding=kernel_size // 2) for i in range(len(conv_channels))
        )
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(c) if batch_norm else nn.Identity() for c in conv_channels
        )
        self.position = nn.Parameter(torch.zeros(1, max_length, self.out_features))
        layer = nn.TransformerEncoderLayer(
            self.out_features, num_heads, feedforward, dropout=dropout, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(self.out_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()
        for norm in self.norms:
            if isinstance(norm, nn.BatchNorm1d):
                norm.reset_parameters()
        nn.init.normal_(self.position, std=0.02)
        for layer in self.transformer.layers:
            for module in layer.modules():
                if isinstance(module, (nn.Linear, nn.LayerNorm)):
                    module.reset_parameters()
            layer.self_attn._reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[2] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects (B, L, {self.in_channels}), got {tuple(x.shape)}")
        if x.shape[1] > self.max_length:
            raise ValueError(f"{type(self).__name__}: sequence length {x.shape[1]} > max_length={self.max_length}")
        h = x.transpose(1, 2)
        for conv, norm in zip(self.convs, self.norms):
            h = F.dropout(F.relu(norm(conv(h))), p=self.dropout, training=self.training)
        h = h.transpose(1, 2) + self.position[:, : h.shape[2]]
        h = self.transformer(h)
        return self.norm(h.mean(dim=1))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_features}, layers={self.num_layers})"
