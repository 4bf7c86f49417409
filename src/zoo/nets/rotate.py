"""RotatE: "RotatE: Knowledge Graph Embedding by Relational Rotation in Complex Space"."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from zoo.nets.kge_model import KGEModel, gather_rows, query_distance

__all__ = ["RotatE"]


class RotatE(KGEModel):
    r"""RotatE, from "RotatE: Knowledge Graph Embedding by Relational Rotation in Complex Space"
    (Sun et al., ICLR 2019, https://arxiv.org/abs/1902.10197).

    .. math::
        f(h, r, t) = -\lVert \mathbf{e}_h \circ \mathbf{r}_r - \mathbf{e}_t \rVert, \qquad
        r_{r,i} = e^{\mathrm{i}\,\theta_{r,i}}

    with :math:`\mathbf{e} \in \mathbb{C}^d` stored as ``(..., d, 2)`` and each relation a vector of
    phases :math:`\theta_r` (``relation_embedding``), so :math:`|r_{r,i}| = 1` by construction.
    ``p_norm=1`` sums the moduli :math:`\sum_i |e_{h,i} r_{r,i} - e_{t,i}|` (the paper's and LEMON's
    code); ``p_norm=2`` takes the Euclidean norm of the complex vector (PyKEEN's default), which has a
    matrix-product form for scoring every entity. The margin :math:`\gamma` lives in the loss.

    Args:
        num_entities, num_relations, embedding_dim, chunk_size, sparse: see :class:`KGEModel`
            (``embedding_dim`` is the complex dimension :math:`d`).
        p_norm: 1 (paper) or 2 (PyKEEN) (default: ``1``).
    """

    def __init__(self, *, num_entities: int, num_relations: int, embedding_dim: int, p_norm: int = 1,
                 chunk_size: int = 1024,
                 sparse: bool = False) -> None:
        super().__init__(num_entities=num_entities, num_relations=num_relations, embedding_dim=embedding_dim,
                         chunk_size=chunk_size, sparse=sparse)
        if p_norm not in (1, 2):
            raise ValueError(f"model.net.p_norm={p_norm}; expected one of [1, 2]")
        self.p_norm = p_norm
        self.entity_embedding = nn.Parameter(torch.empty(num_entities, embedding_dim, 2))
        self.relation_embedding = nn.Parameter(torch.empty(num_relations, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.entity_embedding.view(self.num_entities, -1))
        nn.init.uniform_(self.relation_embedding, -math.pi, math.pi)

    def relation(self, index: Tensor) -> Tensor:
        # cos/sin of the (small) relation table, then the lookup: cheaper than per looked-up row
        phase = self.relation_embedding
        return torch.stack([torch.cos(phase), torch.sin(phase)], dim=-1)[index]

    @staticmethod
    def rotate(h: Tensor, r: Tensor) -> Tensor:
        """The complex product :math:`h \\circ r` of ``(..., d, 2)`` tensors."""
        return torch.stack([h[..., 0] * r[..., 0] - h[..., 1] * r[..., 1],
                            h[..., 0] * r[..., 1] + h[..., 1] * r[..., 0]], dim=-1)

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return -self._norm(self.rotate(h, r) - t)

    def _norm(self, diff: Tensor) -> Tensor:
        """The p-norm of complex vectors ``(..., d, 2)`` -> ``(...)``."""
        if self.p_norm == 2:
            return diff.square().sum(dim=(-1, -2)).clamp_min(1e-12).sqrt()
        return diff.square().sum(dim=-1).add(1e-12).sqrt().sum(dim=-1)

    def score_slcwa(self, positive: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor]:
        r"""Training scores with the rotation done once per positive, not once per negative.

        Since :math:`|r_i| = 1`, a corrupted head scores
        :math:`\lVert h' \circ r - t \rVert = \lVert h' - t \circ \bar r \rVert` (moduli are kept
        element-wise, so this holds for both norms): each positive gives two queries, :math:`q = h \circ r`
        for its tail corruptions and :math:`q = t \circ \bar r` for its head corruptions. Heads, tails
        and candidates are looked up in one gather, so the entity table's gradient is built once per
        step (a sparse one with ``sparse=True``). With ``p_norm=2`` the negatives' distances come from
        :func:`~zoo.nets.kge_model.query_distance` (fewer passes over the ``(B, N, 2d)`` tensor).
        """
        batch, num = negatives.shape[:2]
        query_row, candidate = self.corrupted_side(positive, negatives)
        index = torch.cat([positive[:, 0], positive[:, 2], candidate.reshape(-1)])
        if self.sparse:
            emb = gather_rows(self.entity_embedding, index, sparse=True)
        else:
            emb = nn.functional.embedding(index, self.entity_embedding.view(self.num_entities, -1))
        # split, not slices: its backward concatenates instead of zero-filling the whole gather per slice
        h, t, cand = emb.view(-1, self.embedding_dim, 2).split([batch, batch, batch * num])
        rel = self.relation(positive[:, 1])
        tail_query = self.rotate(h, rel)
        head_query = self.rotate(t, rel * rel.new_tensor([1.0, -1.0]))
        positive_scores = -self._norm(tail_query - t)
        queries = torch.cat([tail_query, head_query])
        if self.p_norm == 2:
            flat = queries.view(2 * batch, -1)
            return positive_scores, -query_distance(cand.reshape(batch, num, -1), flat, query_row)
        cand = cand.view(batch, num, self.embedding_dim, 2)
        return positive_scores, -self._norm(cand - queries[query_row])

    def _l2_all(self, query: Tensor) -> Tensor:
        # ||q - e||^2 = |q|^2 + |e|^2 - 2 <q, e> over the real view; |q|=|e_h| since |r|=1
        q = query.flatten(1)
        e = self.entity_embedding.flatten(1)
        sq = q.square().sum(1, keepdim=True) + e.square().sum(1).unsqueeze(0) - 2.0 * q @ e.T
        return -sq.clamp_min(1e-12).sqrt()

    def _l1_all(self, query: Tensor) -> Tensor:
        # sum_i |q_i - e_i| in entity chunks (at most chunk_size entities, ~2^25 floats per chunk)
        rows = min(self.chunk_size, max(1, 2 ** 25 // max(1, query.numel())))
        out = []
        for start in range(0, self.num_entities, rows):
            diff = query.unsqueeze(1) - self.entity_embedding[start:start + rows].unsqueeze(0)
            out.append(-diff.square().sum(-1).add(1e-12).sqrt().sum(-1))
        return torch.cat(out, dim=1)

    def score_tails(self, h: Tensor, r: Tensor) -> Tensor:
        if self.p_norm == 2:
            return self._l2_all(self.rotate(self.entity(h), self.relation(r)))
        return self._l1_all(self.rotate(self.entity(h), self.relation(r)))

    def score_heads(self, r: Tensor, t: Tensor) -> Tensor:
        if self.p_norm == 2:
            # ||e o r - t|| = ||e - t o conj(r)|| since |r| = 1
            rel = self.relation(r)
            conj = torch.stack([rel[..., 0], -rel[..., 1]], dim=-1)
            return self._l2_all(self.rotate(self.entity(t), conj))
        rel = self.relation(r)
        return self._l1_all(self.rotate(self.entity(t), torch.stack([rel[..., 0], -rel[..., 1]], dim=-1)))
