r"""TANGNN: neighbourhood aggregation plus top-m attention, per layer; stacked, optionally with LC.

"TANGNN: a Concise, Scalable and Effective Graph Neural Networks with Top-m Attention Mechanism
for Graph Representation Learning" (Jiawei E et al., 2024), https://arxiv.org/abs/2411.15458
Neighbourhood part: GraphSAGE, "Inductive Representation Learning on Large Graphs"
(Hamilton et al., 2017), https://arxiv.org/abs/1706.02216.

The net maps ``(x, edge_index)`` to one output row per vertex (class logits, or an embedding for
link prediction), or per graph with ``pool`` set; ``embed`` returns the vertex representations
(LC: all layers concatenated) that feed the head and the t-SNE plots.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool, global_mean_pool

from zoo.nets.neighbor_sampling import Neighbourhood, check_graph, neighbourhood
from zoo.nets.sparse_dropout import sparse_input_dropout
from zoo.nets.top_m_attention import TopMAttention

__all__ = ["TANGNNLayer", "TANGNN", "COMBINES", "POOLS", "glorot_"]

COMBINES = ("concat", "gate")
POOLS = ("mean", "add")


def glorot_(linear: nn.Linear) -> None:
    """Glorot-uniform weight, zero bias (as PyG's layers): keeps the signal's scale through the
    several linear maps of a layer, where ``nn.Linear``'s default shrinks it by ~3x per map and a
    2-layer net on Cora's row-normalised features then barely trains for dozens of epochs."""
    nn.init.xavier_uniform_(linear.weight)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


class TANGNNLayer(nn.Module):
    r"""One TANGNN layer: GraphSAGE mean aggregation over sampled neighbours and top-m attention,
    concatenated and mixed by a linear map (Eq. 7-9 of the paper).

    .. math::
        h_i^{\mathcal{N}} = W_{neigh}\,\frac{1}{|S(i)|}\sum_{j \in S(i)} \big(h_j + W_e e_{ji}\big)
            + W_{root}\, h_i, \qquad
        h_i' = W_{mix}\,\big[h_i^{\mathcal{N}} \,\Vert\, \mathrm{TopMAttention}(h)_i\big]

    :math:`S(i)` holds at most ``sample_size`` neighbours drawn uniformly without replacement in
    training (all neighbours in evaluation, so predictions are deterministic); the edge term is
    present only with ``edge_dim``. A vertex without neighbours aggregates zero. The graph's
    compressed rows are built once per ``edge_index`` and reused (see
    :func:`~zoo.nets.neighbor_sampling.neighbourhood`); a training step samples in
    :math:`O(|V|\,k^2)` and aggregates with one sparse product of :math:`O(|E'|\,F)`.

    With ``combine="gate"`` the two branches are added instead, the attention scaled per channel by
    a learnable gate :math:`\gamma` that starts at zero (the layer starts as its neighbourhood part
    alone and learns how much top-m attention to admit):

    .. math::
        h_i' = h_i^{\mathcal{N}} + \gamma \odot \mathrm{TopMAttention}(h)_i

    Args:
        in_channels (int): input feature size.
        out_channels (int): output feature size.
        top_m (int, optional): vertices selected by the attention (default: ``20``).
        heads (int, optional): attention heads (default: ``1``).
        sample_size (int, optional): neighbours sampled per vertex in training; ``None`` uses all
            (default: ``5``, as in the authors' code).
        attention_dropout (float, optional): dropout on attention weights (default: ``0.0``).
        num_candidates (int, optional): random candidate-set size for the top-m in training
            (default: ``None``: every vertex).
        edge_dim (int, optional): edge feature size; ``None`` ignores edge features (default: ``None``).
        root_weight (bool, optional): GraphSAGE's separate :math:`W_{root} h_i` term; with ``False``
            the vertex is averaged with its sampled neighbours instead (:math:`S(i) \cup \{i\}`,
            PyG ``SAGEConv(root_weight=False)`` plus a self loop) (default: ``True``).
        combine (str, optional): ``"concat"`` (the paper's concatenation and linear map) or
            ``"gate"`` (sum with a zero-initialised per-channel gate on the attention) (default: ``"concat"``).
        attention (bool, optional): build the top-m attention branch; ``False`` is the ablation that
            replaces its output by zeros (``concat``: :math:`W_{mix} [h^{\mathcal{N}} \Vert 0]`; ``gate``:
            :math:`h^{\mathcal{N}}` alone, without a gate parameter) (default: ``True``).

    Shapes:
        - **input:** :math:`(|V|, F_{in})`, edge indices :math:`(2, |E|)`, optional edge features
          :math:`(|E|, D)` and batch vector :math:`(|V|)`
        - **output:** :math:`(|V|, F_{out})`
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        top_m: int = 20,
        heads: int = 1,
        sample_size: Optional[int] = 5,
        attention_dropout: float = 0.0,
        num_candidates: Optional[int] = None,
        edge_dim: Optional[int] = None,
        root_weight: bool = True,
        combine: str = "concat",
        attention: bool = True,
    ) -> None:
        super().__init__()
        if combine not in COMBINES:
            raise ValueError(f"combine={combine!r}; expected one of {list(COMBINES)}")
        self.combine = combine
        if sample_size is not None and sample_size < 1:
            raise ValueError(f"sample_size={sample_size}; expected None (all neighbours) or an integer >= 1")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.sample_size = sample_size
        self.edge_dim = edge_dim
        self.root_weight = root_weight
        self.lin_neigh = nn.Linear(in_channels, out_channels)
        self.lin_root = nn.Linear(in_channels, out_channels, bias=False) if root_weight else None
        self.lin_edge = nn.Linear(edge_dim, in_channels) if edge_dim is not None else None
        self.attention = TopMAttention(
            in_channels=in_channels, out_channels=out_channels, top_m=top_m, heads=heads,
            dropout=attention_dropout, num_candidates=num_candidates,
        ) if attention else None
        self.lin_mix = nn.Linear(2 * out_channels, out_channels) if combine == "concat" else None
        # without the attention branch a gate would scale zeros: the ablated gated layer is h_N alone
        self.gate = nn.Parameter(torch.zeros(out_channels)) if combine == "gate" and attention else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.lin_neigh, self.lin_root, self.lin_edge, self.lin_mix):
            if lin is not None:
                glorot_(lin)
        if self.gate is not None:
            nn.init.zeros_(self.gate)
        if self.attention is not None:
            self.attention.reset_parameters()

    def neighbourhood(self, edge_index: Tensor, num_nodes: int) -> Neighbourhood:
        """At most ``sample_size`` in-neighbours per vertex in training; every edge in evaluation."""
        sample = self.sample_size if self.training else None
        return neighbourhood(edge_index, num_nodes, sample, self_loops=not self.root_weight)

    def aggregate(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor] = None) -> Tensor:
        """Mean over (sampled) in-neighbours, as a sparse product: memory O(|E| + |V| F), not O(|E| F)."""
        hood = self.neighbourhood(edge_index, x.size(0))
        out = hood.aggregate(x)
        if self.lin_edge is not None and edge_attr is not None:
            edge_id, target, weight = hood.edges(edge_index)
            edge_attr = edge_attr if edge_id is None else edge_attr[edge_id]
            if hood.self_loops:  # the self loop carries a zero edge feature
                edge_attr = torch.cat([edge_attr, edge_attr.new_zeros(x.size(0), edge_attr.size(1))])
            edge_term = self.lin_edge(edge_attr.to(x.dtype)) * weight.to(x.dtype).unsqueeze(-1)
            out = out.index_add(0, target, edge_term)
        return out

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor] = None,
                batch: Optional[Tensor] = None) -> Tensor:
        neigh = self.lin_neigh(self.aggregate(x, edge_index, edge_attr))
        if self.lin_root is not None:
            neigh = neigh + self.lin_root(x)
        if self.attention is None:  # ablation: the branch contributes zeros
            if self.combine == "gate":
                return neigh
            attended = neigh.new_zeros(neigh.shape)
        else:
            attended = self.attention(x, batch)
        if self.gate is not None:
            return neigh + self.gate * attended
        return self.lin_mix(torch.cat([neigh, attended], dim=-1))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"top_m={self.attention.top_m if self.attention is not None else None}, "
            f"sample_size={self.sample_size})"
        )


class TANGNN(nn.Module):
    r"""Stacked TANGNN layers with a linear head; ``lc=True`` is the paper's TANGNN-LC variant.

    .. math::
        h^{(l)} = \mathrm{ReLU}\big(\mathrm{TANGNNLayer}^{(l)}(\mathrm{dropout}(h^{(l-1)}))\big),
        \qquad
        z = \begin{cases} [h^{(1)} \Vert \cdots \Vert h^{(L)}] & \text{LC} \\ h^{(L)} & \text{else}
        \end{cases}, \qquad y = W_{out}\,\mathrm{dropout}(z)

    With ``pool`` the vertex representations are pooled per graph (``batch`` vector) and the head
    is a two-layer MLP (graph regression / classification).

    Args:
        in_channels (int): input feature size.
        out_channels (int): output size (classes, embedding size or regression targets).
        hidden_channels (int, optional): width of every layer (default: ``32``).
        num_layers (int, optional): number of TANGNN layers (default: ``2``).
        top_m (int, optional): m of the top-m attention (default: ``20``).
        heads (int, optional): attention heads (default: ``1``).
        sample_size (int, optional): neighbours sampled per vertex in training, ``None`` = all
            (default: ``5``).
        dropout (float, optional): dropout before every layer and the head (default: ``0.3``).
        attention_dropout (float, optional): dropout on attention weights (default: ``0.0``).
        num_candidates (int, optional): random top-m candidate set size in training (default: ``None``).
        lc (bool, optional): concatenate every layer's output before the head (default: ``False``).
        edge_dim (int, optional): edge feature size used in aggregation (default: ``None``).
        pool (str, optional): ``None``, ``"mean"`` or ``"add"`` graph pooling (default: ``None``).
        batch_norm (bool, optional): batch-normalise every layer's output (default: ``False``).
        root_weight (bool, optional): see :class:`TANGNNLayer` (default: ``True``).
        combine (str, optional): ``"concat"`` (the paper's) or ``"gate"``, see :class:`TANGNNLayer`
            (default: ``"concat"``).
        attention (bool, optional): ``False`` drops the top-m attention branch of every layer (ablation),
            see :class:`TANGNNLayer` (default: ``True``).

    Shapes:
        - **input:** :math:`(|V|, F_{in})`, :math:`(2, |E|)`, optional :math:`(|E|, D)`, :math:`(|V|)`
        - **output:** :math:`(|V|, F_{out})`, or :math:`(B, F_{out})` with ``pool``
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        hidden_channels: int = 32,
        num_layers: int = 2,
        top_m: int = 20,
        heads: int = 1,
        sample_size: Optional[int] = 5,
        dropout: float = 0.3,
        attention_dropout: float = 0.0,
        num_candidates: Optional[int] = None,
        lc: bool = False,
        edge_dim: Optional[int] = None,
        pool: Optional[str] = None,
        batch_norm: bool = False,
        root_weight: bool = True,
        combine: str = "concat",
        attention: bool = True,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers={num_layers}; expected an integer >= 1")
        if pool is not None and pool not in POOLS:
            raise ValueError(f"pool={pool!r}; expected None or one of {list(POOLS)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout}; expected a value in [0, 1)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.lc = lc
        self.pool = pool
        self.layers = nn.ModuleList(
            TANGNNLayer(
                in_channels=in_channels if i == 0 else hidden_channels, out_channels=hidden_channels,
                top_m=top_m, heads=heads, sample_size=sample_size, attention_dropout=attention_dropout,
                num_candidates=num_candidates, edge_dim=edge_dim, root_weight=root_weight, combine=combine,
                attention=attention,
            )
            for i in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden_channels) for _ in range(num_layers)) if batch_norm else None
        width = hidden_channels * num_layers if lc else hidden_channels
        self.embedding_channels = width
        if pool is None:
            self.head = nn.Sequential(nn.Linear(width, out_channels))
        else:
            self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()
        if self.norms is not None:
            for norm in self.norms:
                norm.reset_parameters()
        for module in self.head:
            if isinstance(module, nn.Linear):
                glorot_(module)

    def embed(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor] = None,
              batch: Optional[Tensor] = None) -> Tensor:
        """Vertex representations before the head (LC: every layer's output concatenated)."""
        check_graph(x, edge_index)
        h, outputs = x.float(), []
        for i, layer in enumerate(self.layers):
            # the input's dropout draws only for its non-zeros (same distribution as F.dropout)
            drop = sparse_input_dropout if i == 0 else F.dropout
            h = drop(h, p=self.dropout, training=self.training)
            h = layer(h, edge_index, edge_attr, batch)
            if self.norms is not None:
                h = self.norms[i](h)
            h = F.relu(h)
            outputs.append(h)
        return torch.cat(outputs, dim=-1) if self.lc else h

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor] = None,
                batch: Optional[Tensor] = None) -> Tensor:
        z = self.embed(x, edge_index, edge_attr, batch)
        if self.pool is not None:
            if batch is None:
                batch = torch.zeros(z.size(0), dtype=torch.long, device=z.device)
            z = (global_mean_pool if self.pool == "mean" else global_add_pool)(z, batch)
        return self.head(F.dropout(z, p=self.dropout, training=self.training))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"hidden={self.hidden_channels}, layers={self.num_layers}, lc={self.lc})"
        )
