"""Baseline node classifiers built from PyG convolutions: GCN and GAT.

* GCN: "Semi-Supervised Classification with Graph Convolutional Networks" (Kipf & Welling, 2017),
  https://arxiv.org/abs/1609.02907
* GAT: "Graph Attention Networks" (Velickovic et al., 2018), https://arxiv.org/abs/1710.10903

Both take ``(x, edge_index)`` and return class logits, the interface every node-classification
net in the zoo shares; ``embed`` returns the last hidden representation (for t-SNE plots). Dropout
on the input draws only for its non-zero entries (:func:`~zoo.nets.sparse_dropout.sparse_input_dropout`,
the same distribution as ``F.dropout``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv

from zoo.nets.sparse_dropout import sparse_input_dropout

__all__ = ["GCN", "GAT"]


class GCN(nn.Module):
    r"""Two-layer graph convolutional network.

    .. math::
        Z = \hat{A}\,\mathrm{dropout}(\mathrm{ReLU}(\hat{A}\,\mathrm{dropout}(X) W^{(0)})) W^{(1)},
        \qquad \hat{A} = \tilde{D}^{-1/2}(A + I)\tilde{D}^{-1/2}

    Args:
        in_channels (int): input feature size.
        out_channels (int): number of classes.
        hidden_channels (int, optional): hidden size (default: ``16``).
        dropout (float, optional): dropout on the input and hidden features (default: ``0.5``).

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})`, edge indices :math:`(2, |E|)`
        - **output:** logits :math:`(|V|, C)`
    """

    def __init__(
        self, *, in_channels: int, out_channels: int, hidden_channels: int = 16, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels
        self.dropout = dropout
        self.conv1 = GCNConv(in_channels, hidden_channels, cached=False)
        self.conv2 = GCNConv(hidden_channels, out_channels, cached=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = sparse_input_dropout(x, p=self.dropout, training=self.training)
        return F.relu(self.conv1(x, edge_index))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = self.embed(x, edge_index)
        h = F.dropout(h, p=self.dropout, training=self.training)
        return self.conv2(h, edge_index)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, hidden={self.hidden_channels})"


class GAT(nn.Module):
    r"""Two-layer graph attention network.

    .. math::
        h_i' = \big\Vert_{k=1}^{K} \mathrm{ELU}\Big(\sum_{j \in \mathcal{N}(i) \cup \{i\}}
        \alpha_{ij}^{k} W^{k} x_j\Big), \qquad
        \alpha_{ij}^{k} = \mathrm{softmax}_j\big(\mathrm{LeakyReLU}(a^{k\top}[W^k x_i \Vert W^k x_j])\big)

    The output layer averages ``out_heads`` heads.

    Args:
        in_channels (int): input feature size.
        out_channels (int): number of classes.
        hidden_channels (int, optional): features per head in the hidden layer (default: ``8``).
        heads (int, optional): hidden-layer heads, concatenated (default: ``8``).
        out_heads (int, optional): output-layer heads, averaged (default: ``1``).
        dropout (float, optional): dropout on features and attention coefficients (default: ``0.6``).

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})`, edge indices :math:`(2, |E|)`
        - **output:** logits :math:`(|V|, C)`
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        hidden_channels: int = 8,
        heads: int = 8,
        out_heads: int = 1,
        dropout: float = 0.6,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels
        self.heads = heads
        self.out_heads = out_heads
        self.dropout = dropout
        self.conv1 = GATConv(in_channels, hidden_channels, heads=heads, dropout=dropout)
        self.conv2 = GATConv(
            hidden_channels * heads, out_channels, heads=out_heads, concat=False, dropout=dropout
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = sparse_input_dropout(x, p=self.dropout, training=self.training)
        return F.elu(self.conv1(x, edge_index))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = self.embed(x, edge_index)
        h = F.dropout(h, p=self.dropout, training=self.training)
        return self.conv2(h, edge_index)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"hidden={self.hidden_channels}, heads={self.heads})"
        )
