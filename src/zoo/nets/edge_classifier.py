"""Edge classifier: end-point embeddings from a graph encoder plus the edge's own features.

Used for TANGNN's citation sentiment prediction ("TANGNN", https://arxiv.org/abs/2411.15458,
Sec. 5.4): a citing sentence is an edge between the citing and the cited paper.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EdgeClassifier"]


class EdgeClassifier(nn.Module):
    r"""Classify edges from :math:`[z_u \Vert z_v \Vert e_{uv}]`, or from :math:`e_{uv}` alone.

    .. math::
        z = \mathrm{encoder}(X, A), \qquad
        y_{uv} = W_2\,\mathrm{ReLU}\big(W_1\,\mathrm{dropout}([z_u \Vert z_v \Vert e_{uv}])\big)

    Without an encoder the model is multinomial logistic regression on the edge features,
    :math:`y_{uv} = W e_{uv} + b` (the text-only baseline).

    Args:
        encoder (nn.Module, optional): ``encoder(x, edge_index) -> (|V|, d)`` with an
            ``out_channels`` attribute; ``None`` for the logistic-regression baseline.
        edge_channels (int): edge feature size.
        num_classes (int): number of edge classes.
        hidden_channels (int, optional): MLP width (default: ``64``).
        dropout (float, optional): dropout on the MLP input (default: ``0.3``).

    Shapes:
        - **input:** :math:`(|V|, F)`, :math:`(2, |E|)`, labelled pairs :math:`(2, S)`, edge features
          :math:`(S, D)`
        - **output:** logits :math:`(S, C)`
    """

    def __init__(self, *, encoder: Optional[nn.Module], edge_channels: int, num_classes: int,
                 hidden_channels: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        self.encoder = encoder
        self.edge_channels = edge_channels
        self.num_classes = num_classes
        self.hidden_channels = hidden_channels
        self.dropout = dropout
        if encoder is None:
            self.head = nn.Sequential(nn.Linear(edge_channels, num_classes))
        else:
            width = 2 * int(encoder.out_channels) + edge_channels
            self.head = nn.Sequential(
                nn.Linear(width, hidden_channels), nn.ReLU(), nn.Linear(hidden_channels, num_classes)
            )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.encoder is not None and hasattr(self.encoder, "reset_parameters"):
            self.encoder.reset_parameters()
        for module in self.head:
            if isinstance(module, nn.Linear):
                module.reset_parameters()

    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Vertex embeddings (the input features for the baseline)."""
        return x if self.encoder is None else self.encoder(x, edge_index)

    def forward(self, x: Tensor, edge_index: Tensor, pairs: Tensor, edge_attr: Tensor) -> Tensor:
        if self.encoder is None:
            return self.head(edge_attr)
        z = self.encoder(x, edge_index)
        h = torch.cat([z[pairs[0]], z[pairs[1]], edge_attr], dim=-1)
        return self.head(F.dropout(h, p=self.dropout, training=self.training))

    def __repr__(self) -> str:
        inner = "logistic regression" if self.encoder is None else repr(self.encoder)
        return f"{self.__class__.__name__}({inner}, classes={self.num_classes})"
