"""GINE graph regression net: a same-script ZINC baseline for TANGNN at its parameter budget.

* GIN: "How Powerful are Graph Neural Networks?" (Xu et al., 2019), https://arxiv.org/abs/1810.00826
* GINE (GIN with edge features): "Strategies for Pre-training Graph Neural Networks"
  (Hu et al., 2020), https://arxiv.org/abs/1905.12265; PyG :class:`~torch_geometric.nn.GINEConv`.

The net reads the same batch as :class:`~zoo.nets.tangnn.TANGNN` with ``pool`` set
(``net(x, edge_index, edge_attr, batch) -> (B, 1)``), so ``model/net=gine`` drops into
:class:`~zoo.tasks.graph_regression.GraphRegressionTask` unchanged.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GINEConv, global_add_pool, global_mean_pool

__all__ = ["GINE"]

_POOLS = {"add": global_add_pool, "mean": global_mean_pool}


class GINE(nn.Module):
    r"""GINE layers with residual connections, batch norm, sum pooling and an MLP head.

    .. math::
        h^{(0)}_v = W_{in} x_v, \qquad
        h^{(l+1)}_v = h^{(l)}_v + \mathrm{dropout}\Big(\mathrm{ReLU}\big(\mathrm{BN}\big(
            \mathrm{MLP}^{(l)}\big((1 + \epsilon^{(l)}) h^{(l)}_v
            + \textstyle\sum_{u \in N(v)} \mathrm{ReLU}(h^{(l)}_u + W^{(l)}_e e_{uv})\big)\big)\big)\Big)

    then :math:`y_g = \mathrm{MLP}_{out}(\sum_{v \in g} h^{(L)}_v)`.

    Args:
        in_channels (int): node feature size (one-hot atom types on ZINC).
        out_channels (int): targets per graph (default: ``1``).
        hidden_channels (int): width of every layer (default: ``128``).
        num_layers (int): GINE layers (default: ``4``).
        edge_dim (int): edge feature size (bond types on ZINC); required.
        dropout (float): dropout after each layer (default: ``0.0``).
        pool (str): ``add`` (default) or ``mean``.
        train_eps (bool): learn each layer's :math:`\epsilon` (default: ``True``).

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})`, edge indices :math:`(2, |E|)`, edge
          features :math:`(|E|, F_e)`, graph index per node :math:`(|V|,)`
        - **output:** :math:`(B, C_{out})`
    """

    def __init__(self, *, in_channels: int, edge_dim: int, out_channels: int = 1, hidden_channels: int = 128,
                 num_layers: int = 4, dropout: float = 0.0, pool: str = "add", train_eps: bool = True) -> None:
        super().__init__()
        for key, value in (("in_channels", in_channels), ("edge_dim", edge_dim), ("out_channels", out_channels),
                           ("hidden_channels", hidden_channels), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model.net.{key}={value!r}; expected an integer >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model.net.dropout={dropout!r}; expected a value in [0, 1)")
        if pool not in _POOLS:
            raise ValueError(f"model.net.pool={pool!r}; expected one of {sorted(_POOLS)}")
        self.in_channels = in_channels
        self.edge_dim = edge_dim
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.pool = pool
        self.node_encoder = nn.Linear(in_channels, hidden_channels, bias=False)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            mlp = nn.Sequential(nn.Linear(hidden_channels, hidden_channels), nn.BatchNorm1d(hidden_channels),
                                nn.ReLU(), nn.Linear(hidden_channels, hidden_channels))
            self.convs.append(GINEConv(mlp, train_eps=train_eps, edge_dim=edge_dim))
            self.norms.append(nn.BatchNorm1d(hidden_channels))
        self.head = nn.Sequential(nn.Linear(hidden_channels, hidden_channels // 2), nn.ReLU(),
                                  nn.Linear(hidden_channels // 2, out_channels))

    def embed(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        """Pooled graph representations :math:`(B, hidden)`."""
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"GINE: node features have shape {tuple(x.shape)}; expected (N, {self.in_channels})")
        if edge_attr is None or edge_attr.dim() != 2 or edge_attr.size(1) != self.edge_dim:
            shape = None if edge_attr is None else tuple(edge_attr.shape)
            raise ValueError(f"GINE: edge features have shape {shape}; expected (E, {self.edge_dim})")
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        h = self.node_encoder(x)
        for conv, norm in zip(self.convs, self.norms):
            h = h + F.dropout(F.relu(norm(conv(h, edge_index, edge_attr))), p=self.dropout, training=self.training)
        return _POOLS[self.pool](h, batch)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        return self.head(self.embed(x, edge_index, edge_attr, batch))
