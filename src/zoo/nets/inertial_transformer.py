"""1-D CNN + Transformer encoder for inertial (IMU) sequences, the IMU encoder of CMC-CMKM.

"Contrastive Learning with Cross-Modal Knowledge Mining for Multimodal Human Activity
Recognition" (Brinzea et al., 2022), https://arxiv.org/abs/2207.07106; Transformer from
"Attention Is All You Need" (Vaswani et al., 2017), https://arxiv.org/abs/1706.03762.

.. math::
    h = \\mathrm{ReLU}(\\mathrm{conv}_k(\\ldots\\mathrm{ReLU}(\\mathrm{conv}_k(x)))) + p,\\qquad
    z = \\frac{1}{L}\\sum_{t=1}^{L} \\mathrm{TransformerEncoder}(h)_t
    \\quad\\text{or}\\quad z = \\mathrm{flatten}(\\mathrm{TransformerEncoder}(h))

with learned or sinusoidal positional embeddings :math:`p`; convolution widths 32/64/128, kernel 5,
2 heads, 2 layers by default. CMC-CMKM flattens the whole ``(L, 128)`` output (``pooling="flatten"``,
``sinusoidal`` positions, post-norm layers with a 2048-wide MLP, no final norm).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["InertialTransformer"]


class InertialTransformer(nn.Module):
    """CNN front end + Transformer encoder over ``(B, L, C)`` IMU sequences, mean-pooled or flattened.

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
        pooling (str, optional): ``"mean"`` over time (``out_features = conv_channels[-1]``) or
            ``"flatten"`` (CMC-CMKM: ``out_features = sequence_length * conv_channels[-1]``)
            (default: ``"mean"``).
        sequence_length (int, optional): input length, required by ``pooling="flatten"``
            (default: ``None``).
        positional (str, optional): ``"learned"`` embeddings or fixed ``"sinusoidal"`` ones
            (default: ``"learned"``).
        norm_first (bool, optional): pre-norm Transformer layers; ``False`` is PyTorch's default
            post-norm, as CMC-CMKM (default: ``True``).
        final_norm (bool, optional): layer norm of the output (default: ``True``).
        conv_dropout (bool, optional): dropout after each convolution (CMC-CMKM has none there)
            (default: ``True``).

    Shapes:
        - **input:** :math:`(B, L, C)`
        - **output:** :math:`(B, \\text{out\\_features})`
    """

    POOLINGS = ("mean", "flatten")
    POSITIONALS = ("learned", "sinusoidal")

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
        pooling: str = "mean",
        sequence_length: Optional[int] = None,
        positional: str = "learned",
        norm_first: bool = True,
        final_norm: bool = True,
        conv_dropout: bool = True,
    ) -> None:
        super().__init__()
        if pooling not in self.POOLINGS:
            raise ValueError(f"InertialTransformer pooling={pooling!r}; expected one of {list(self.POOLINGS)}")
        if positional not in self.POSITIONALS:
            raise ValueError(f"InertialTransformer positional={positional!r}; expected one of {list(self.POSITIONALS)}")
        if pooling == "flatten" and (sequence_length is None or not 0 < sequence_length <= max_length):
            raise ValueError(
                f"InertialTransformer pooling='flatten' needs sequence_length in 1..max_length={max_length}, "
                f"got {sequence_length}"
            )
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
        self.pooling = pooling
        self.sequence_length = sequence_length
        self.positional = positional
        self.norm_first = norm_first
        self.final_norm = final_norm
        self.conv_dropout = conv_dropout
        width = conv_channels[-1]
        self.out_features = width * sequence_length if pooling == "flatten" else width
        widths = (in_channels,) + conv_channels
        self.convs = nn.ModuleList(
            nn.Conv1d(widths[i], widths[i + 1], kernel_size, padding=kernel_size // 2) for i in range(len(conv_channels))
        )
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(c) if batch_norm else nn.Identity() for c in conv_channels
        )
        if positional == "learned":
            self.position = nn.Parameter(torch.zeros(1, max_length, width))
        else:
            # Vaswani et al.: PE(t, 2i) = sin(t / 10000^(2i/d)), PE(t, 2i+1) = cos(...)
            t = torch.arange(max_length, dtype=torch.float32).unsqueeze(1)
            freq = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
            table = torch.zeros(1, max_length, width)
            table[0, :, 0::2] = torch.sin(t * freq)
            table[0, :, 1::2] = torch.cos(t * freq)[:, : width // 2]
            self.register_buffer("position", table, persistent=False)
        layer = nn.TransformerEncoderLayer(
            width, num_heads, feedforward, dropout=dropout, batch_first=True, norm_first=norm_first
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width) if final_norm else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()
        for norm in self.norms:
            if isinstance(norm, nn.BatchNorm1d):
                norm.reset_parameters()
        if isinstance(self.position, nn.Parameter):
            nn.init.normal_(self.position, std=0.02)
        for layer in self.transformer.layers:
            for module in layer.modules():
                if isinstance(module, (nn.Linear, nn.LayerNorm)):
                    module.reset_parameters()
            layer.self_attn._reset_parameters()
        if isinstance(self.norm, nn.LayerNorm):
            self.norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[2] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects (B, L, {self.in_channels}), got {tuple(x.shape)}")
        if self.pooling == "flatten" and x.shape[1] != self.sequence_length:
            raise ValueError(
                f"{type(self).__name__}(pooling='flatten') expects sequence_length={self.sequence_length}, "
                f"got {x.shape[1]}"
            )
        if x.shape[1] > self.max_length:
            raise ValueError(f"{type(self).__name__}: sequence length {x.shape[1]} > max_length={self.max_length}")
        h = x.transpose(1, 2)
        for conv, norm in zip(self.convs, self.norms):
            h = F.relu(norm(conv(h)))
            if self.conv_dropout:
                h = F.dropout(h, p=self.dropout, training=self.training)
        h = h.transpose(1, 2) + self.position[:, : h.shape[2]]
        if self.positional == "sinusoidal":  # PyTorch's word-language-model PositionalEncoding (CMC-CMKM)
            h = F.dropout(h, p=self.dropout, training=self.training)
        h = self.transformer(h)
        if self.pooling == "flatten":
            return self.norm(h).flatten(1)
        return self.norm(h.mean(dim=1))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_features}, layers={self.num_layers}, "
                f"pooling={self.pooling})")
