r"""Top-m attention of TANGNN: every vertex attends over the m vertices a learnable vector ranks best.

"TANGNN: a Concise, Scalable and Effective Graph Neural Networks with Top-m Attention Mechanism
for Graph Representation Learning" (Jiawei E et al., 2024), https://arxiv.org/abs/2411.15458
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import to_dense_batch

__all__ = ["TopMAttention"]


class TopMAttention(nn.Module):
    r"""Multi-head attention of every vertex over the top-m vertices of its graph.

    A learnable auxiliary vector :math:`a` scores every vertex by cosine similarity; the ``top_m``
    best-scoring vertices :math:`\mathcal{T}` become keys and values, and every vertex attends over
    them with scaled dot-product attention (Eq. 4-6 of the paper):

    .. math::
        s_j = \frac{h_j^\top a}{\lVert h_j\rVert\,\lVert a\rVert}, \qquad
        \mathcal{T} = \operatorname{top-}m_j\, s_j

    .. math::
        \alpha_{ij}^{k} = \operatorname{softmax}_{j \in \mathcal{T}}
            \Big(\frac{(W_q^{k} h_i)^\top (W_k^{k} h_j)}{\sqrt{d}}\Big), \qquad
        o_i = W_o \big\Vert_{k=1}^{K} \sum_{j \in \mathcal{T}} \alpha_{ij}^{k}\,
            \sigma(s_j)\, W_v^{k} h_j

    Hard top-m selection alone gives :math:`a` no gradient; like top-k pooling
    (Gao & Ji, "Graph U-Nets", https://arxiv.org/abs/1905.05178) the selected values are gated by
    :math:`\sigma(s_j)`, so :math:`a` learns which vertices to pick. Time and memory are
    :math:`O(|V|\,m\,d)`: no :math:`|V| \times |V|` matrix is ever formed. (The authors' code tiles the
    m vectors and runs a full :math:`|V| \times |V|` attention; this layer does not.)

    With ``num_candidates`` set, training draws that many random vertices per forward pass and
    takes the top-m among them (the paper's sampling on large graphs); evaluation ranks all vertices.
    With a ``batch`` vector (many graphs in one batch) the top-m is taken per graph and vertices
    attend only within their graph. ``top_m`` larger than a graph's vertex count selects all of them.

    Args:
        in_channels (int): input feature size :math:`F_{in}`.
        out_channels (int): output size; must be divisible by ``heads``.
        top_m (int, optional): number of selected key/value vertices m (default: ``20``).
        heads (int, optional): attention heads K (default: ``1``).
        dropout (float, optional): dropout on the attention weights (default: ``0.0``).
        num_candidates (int, optional): size of the random candidate set in training; ``None``
            ranks every vertex (default: ``None``).

    Shapes:
        - **input:** node features :math:`(|V|, F_{in})`, optional batch vector :math:`(|V|)`
        - **output:** :math:`(|V|, F_{out})`
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        top_m: int = 20,
        heads: int = 1,
        dropout: float = 0.0,
        num_candidates: Optional[int] = None,
    ) -> None:
        super().__init__()
        if top_m < 1:
            raise ValueError(f"top_m={top_m}; expected an integer >= 1")
        if heads < 1 or out_channels % heads != 0:
            raise ValueError(
                f"heads={heads}; expected a positive divisor of out_channels={out_channels}"
            )
        if num_candidates is not None and num_candidates < top_m:
            raise ValueError(
                f"num_candidates={num_candidates}; expected None or an integer >= top_m={top_m}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout}; expected a value in [0, 1)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.top_m = top_m
        self.heads = heads
        self.head_dim = out_channels // heads
        self.dropout = dropout
        self.num_candidates = num_candidates
        self.a = nn.Parameter(torch.empty(in_channels))
        self.lin_q = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_k = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_v = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_o = nn.Linear(out_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.a, std=1.0 / math.sqrt(self.in_channels))
        for lin in (self.lin_q, self.lin_k, self.lin_v, self.lin_o):
            nn.init.xavier_uniform_(lin.weight)  # Glorot, as PyG's attention layers
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    # -- scoring and selection --------------------------------------------------------------------
    def scores(self, x: Tensor) -> Tensor:
        r"""Cosine score :math:`s_j` of every vertex, shape :math:`(|V|)`."""
        # x @ a over the norms: one matrix-vector product, no (|V|, F) broadcast temporaries
        return (x @ self.a) / (x.norm(dim=-1) * self.a.norm()).clamp_min(1e-8)

    def select(self, x: Tensor, batch: Optional[Tensor] = None, generator: Optional[torch.Generator] = None
               ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Indices of the top-m vertices.

        :returns: ``(index, graph, slot, score)``: the selected vertices, the graph each belongs
            to, its rank within its graph, and its score; each of shape ``(selected,)``.
        """
        num_nodes = x.size(0)
        if batch is None:
            candidates = None
            if self.training and self.num_candidates is not None and num_nodes > self.num_candidates:
                candidates = torch.randperm(num_nodes, generator=generator, device=x.device)[: self.num_candidates]
            score = self.scores(x if candidates is None else x[candidates])
            score, index = score.topk(min(self.top_m, score.size(0)))
            if candidates is not None:
                index = candidates[index]
            zeros = torch.zeros_like(index)
            return index, zeros, torch.arange(index.numel(), device=x.device), score
        # per graph: order by score, then (stably) by graph, and keep the first m of each graph
        score = self.scores(x)
        order = score.argsort(descending=True)
        order = order[batch[order].argsort(stable=True)]
        counts = torch.bincount(batch, minlength=int(batch.max()) + 1)
        start = torch.cumsum(counts, 0) - counts
        rank = torch.arange(num_nodes, device=x.device) - start[batch[order]]
        keep = rank < self.top_m
        index = order[keep]
        return index, batch[index], rank[keep], score[index]

    # -- attention --------------------------------------------------------------------------------
    def forward(self, x: Tensor, batch: Optional[Tensor] = None, generator: Optional[torch.Generator] = None
                ) -> Tensor:
        num_nodes = x.size(0)
        if num_nodes == 0:
            return x.new_zeros(0, self.out_channels)
        query = self.lin_q(x)
        p = self.dropout if self.training else 0.0
        index, graph, slot, score = self.select(x, batch, generator)
        selected = x[index]
        key = self.lin_k(selected)
        value = self.lin_v(selected) * torch.sigmoid(score).unsqueeze(-1)
        return self.lin_o(self._attend_graphs(query, key, value, graph, slot, batch, self.heads, p))

    def _attend_graphs(self, query: Tensor, key: Tensor, value: Tensor, graph: Tensor, slot: Tensor,
                       batch: Optional[Tensor], heads: int, p: float) -> Tensor:
        """Every vertex's ``query`` row over the selected ``key``/``value`` rows of its own graph,
        ``heads`` heads over the channels; returns ``(|V|, channels)`` before ``W_o``."""
        num_nodes, channels = query.shape
        d = channels // heads
        if batch is None and heads == 1:  # one graph, one head: (|V|, d) queries over (m, d) keys
            return self._attend(query, key, value, None, p)
        if batch is None:
            # one graph: queries (1, K, |V|, d) over m keys (1, K, m, d)
            q = query.view(1, num_nodes, heads, d).transpose(1, 2)
            k = key.view(1, -1, heads, d).transpose(1, 2)
            v = value.view(1, -1, heads, d).transpose(1, 2)
            out = self._attend(q, k, v, None, p)
            return out.transpose(1, 2).reshape(num_nodes, channels)
        # many graphs: pad to (B, n_max) queries and (B, m) keys, mask absent keys
        num_graphs = int(batch.max()) + 1
        m = int(slot.max()) + 1
        k_dense = key.new_zeros(num_graphs, m, channels)
        v_dense = value.new_zeros(num_graphs, m, channels)
        k_dense[graph, slot] = key
        v_dense[graph, slot] = value
        present = torch.zeros(num_graphs, m, dtype=torch.bool, device=query.device)
        present[graph, slot] = True
        present[:, 0] = True  # a graph without vertices attends to a zero key (its rows are dropped)
        q_dense, q_mask = to_dense_batch(query, batch, batch_size=num_graphs)
        n_max = q_dense.size(1)
        q = q_dense.view(num_graphs, n_max, heads, d).transpose(1, 2)
        k = k_dense.view(num_graphs, m, heads, d).transpose(1, 2)
        v = v_dense.view(num_graphs, m, heads, d).transpose(1, 2)
        out = self._attend(q, k, v, present[:, None, None, :], p)
        return out.transpose(1, 2).reshape(num_graphs, n_max, channels)[q_mask]

    @staticmethod
    def _attend(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor], p: float) -> Tensor:
        """Softmax attention of ``(B, K, n, d)`` (or ``(n, d)``) queries over ``(B, K, m, d)`` (or
        ``(m, d)``) keys: an ``n x m`` matrix.

        Written out (not ``scaled_dot_product_attention``): with m of a few dozen keys the explicit
        product is several times faster on CPU than the fused kernel's backward.
        """
        logits = q @ k.transpose(-1, -2) / math.sqrt(q.size(-1))
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
        weights = F.dropout(logits.softmax(dim=-1), p=p, training=p > 0)
        return weights @ v

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, top_m={self.top_m}, "
            f"heads={self.heads})"
        )
