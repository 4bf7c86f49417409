"""The shared shape of knowledge-graph embedding models: embeddings plus one scoring function.

A model scores triples ``(h, r, t)``; higher means more plausible. Every model has the same
signature, so a config picks the scoring function (``model/net=transe|distmult|complex|rotate``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

__all__ = ["KGEModel", "gather_rows", "query_distance"]


class _GatherRows(torch.autograd.Function):
    """``table[index]`` whose gradient is a sparse COO tensor over the table's rows."""

    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor) -> Tensor:
        ctx.save_for_backward(index)
        ctx.table_shape = table.shape
        flat = table.view(table.size(0), -1).index_select(0, index.reshape(-1))
        return flat.view(*index.shape, *table.shape[1:])

    @staticmethod
    def backward(ctx, grad: Tensor):
        (index,) = ctx.saved_tensors
        # uncoalesced (a row may repeat): the optimiser sums duplicates once, when it coalesces
        values = grad.reshape(index.numel(), *ctx.table_shape[1:])
        sparse = torch.sparse_coo_tensor(index.reshape(1, -1), values, ctx.table_shape, check_invariants=False)
        return sparse, None


class _QueryDistance(torch.autograd.Function):
    """``||candidate - queries[row]||_2`` over the last dimension, with a hand-written backward."""

    @staticmethod
    def forward(ctx, candidate: Tensor, queries: Tensor, row: Tensor) -> Tensor:
        diff = queries.index_select(0, row.reshape(-1)).view_as(candidate)
        diff.sub_(candidate).neg_()
        dist = torch.linalg.vector_norm(diff, dim=-1).clamp_min_(1e-6)
        ctx.save_for_backward(diff, dist, row)
        ctx.num_queries = queries.size(0)
        return dist

    @staticmethod
    def backward(ctx, grad: Tensor):
        diff, dist, row = ctx.saved_tensors
        grad_candidate = diff * (grad / dist).unsqueeze(-1)
        flat = grad_candidate.view(-1, diff.size(-1))
        grad_queries = flat.new_zeros(ctx.num_queries, diff.size(-1)).index_add_(0, row.reshape(-1), flat, alpha=-1.0)
        return grad_candidate, grad_queries, None


def query_distance(candidate: Tensor, queries: Tensor, row: Tensor) -> Tensor:
    r"""Euclidean distances :math:`\lVert c_{bn} - q_{\mathrm{row}_{bn}} \rVert_2` of candidates
    ``(B, N, D)`` to their query rows ``queries[row]`` (``queries`` ``(Q, D)``, ``row`` ``(B, N)``):
    ``(B, N)``, at least ``1e-6``.

    The same value and gradient as ``(candidate - queries[row]).norm(dim=-1)``, in fewer passes over
    the ``(B, N, D)`` tensor: one gathered difference is kept for the backward, and the queries'
    gradient is one ``index_add_`` (no zero-filled ``(B, N, D)`` gradient of the gather).
    """
    return _QueryDistance.apply(candidate, queries, row)


def gather_rows(table: Tensor, index: Tensor, sparse: bool = False) -> Tensor:
    """Rows ``table[index]``: ``index.shape + table.shape[1:]``; with ``sparse`` the table's gradient
    is a sparse COO tensor holding only the gathered rows (for :class:`~zoo.objectives.lazy_adam.LazyAdam`)
    instead of a dense tensor of the whole table."""
    if sparse and torch.is_grad_enabled() and table.requires_grad:
        return _GatherRows.apply(table, index)
    return table[index]


class KGEModel(nn.Module, ABC):
    """Entity and relation embeddings with a scoring function :meth:`interaction`.

    Subclasses set the parameter shapes in ``__init__`` (before calling :meth:`reset_parameters`)
    and implement :meth:`interaction` on embeddings; :meth:`forward` looks the embeddings up and
    broadcasts index tensors of any compatible shapes. :meth:`score_tails` / :meth:`score_heads`
    score against every entity, in entity chunks so memory stays bounded; subclasses with a
    matrix-product form override them.

    Args:
        num_entities: number of entities :math:`|E|`.
        num_relations: number of relations :math:`|R|`.
        embedding_dim: embedding dimension :math:`d` (complex dimension for complex models).
        chunk_size: entities scored at once by the generic all-entity scorer (default: ``4096``).
        sparse: training gives the entity table a sparse gradient holding only the rows a batch
            touches, for a row-wise optimiser (:class:`~zoo.objectives.lazy_adam.LazyAdam`); a dense
            optimiser such as ``torch.optim.Adam`` rejects it (default: ``False``).

    Shapes:
        forward: index tensors broadcastable to ``S`` -> scores ``S``.
        score_tails: ``h, r: (B,)`` -> ``(B, |E|)``; score_heads: ``r, t: (B,)`` -> ``(B, |E|)``.
    """

    def __init__(self, *, num_entities: int, num_relations: int, embedding_dim: int, chunk_size: int = 4096,
                 sparse: bool = False) -> None:
        super().__init__()
        for key, value in (("num_entities", num_entities), ("num_relations", num_relations),
                           ("embedding_dim", embedding_dim), ("chunk_size", chunk_size)):
            if int(value) < 1:
                raise ValueError(f"model.net.{key}={value}; expected a positive integer")
        self.num_entities = int(num_entities)
        self.num_relations = int(num_relations)
        self.embedding_dim = int(embedding_dim)
        self.chunk_size = int(chunk_size)
        self.sparse = bool(sparse)

    @abstractmethod
    def reset_parameters(self) -> None:
        """Re-initialise every parameter."""

    def entity(self, index: Tensor) -> Tensor:
        return gather_rows(self.entity_embedding, index, self.sparse)

    def relation(self, index: Tensor) -> Tensor:
        return self.relation_embedding[index]

    @abstractmethod
    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores from embeddings ``(..., *feature)`` broadcast against each other -> ``(...)``."""

    def forward(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return self.interaction(self.entity(h), self.relation(r), self.entity(t))

    def _score_all(self, fixed: Tensor, r: Tensor, side: str) -> Tensor:
        e_fixed = self.entity(fixed).unsqueeze(1)
        e_rel = self.relation(r).unsqueeze(1)
        out = []
        for start in range(0, self.num_entities, self.chunk_size):
            e_all = self.entity_embedding[start:start + self.chunk_size].unsqueeze(0)
            out.append(self.interaction(e_fixed, e_rel, e_all) if side == "tail" else self.interaction(e_all, e_rel, e_fixed))
        return torch.cat(out, dim=1)

    def score_tails(self, h: Tensor, r: Tensor) -> Tensor:
        """Scores of ``(h, r, e)`` for every entity ``e``: ``(B, |E|)``."""
        return self._score_all(h, r, "tail")

    def score_heads(self, r: Tensor, t: Tensor) -> Tensor:
        """Scores of ``(e, r, t)`` for every entity ``e``: ``(B, |E|)``."""
        return self._score_all(t, r, "head")

    def score_slcwa(self, positive: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor]:
        """Scores of a training batch: positives ``(B, 3)`` -> ``(B,)`` and their corruptions
        ``(B, N, 3)`` (each keeps its positive's relation) -> ``(B, N)``.

        The default scores every triple with :meth:`forward`; models whose score is a distance
        between a query built from the kept side and the candidate entity override it to build the
        query once per positive instead of once per negative (see :meth:`RotatE.score_slcwa`).
        """
        return (self(positive[:, 0], positive[:, 1], positive[:, 2]),
                self(negatives[..., 0], positive[:, 1:2], negatives[..., 2]))

    @staticmethod
    def corrupted_side(positive: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor]:
        """``(query_row, candidate)``, both ``(B, N)``: for each negative of positive ``b``, the row of
        its query in ``cat([tail_queries, head_queries])`` (``b`` if it replaced the tail, ``B + b`` if
        it replaced the head), and the entity it put there."""
        batch = positive.size(0)
        head_side = negatives[..., 0] != positive[:, :1]
        query_row = torch.arange(batch, device=positive.device).unsqueeze(1) + batch * head_side.long()
        return query_row, torch.where(head_side, negatives[..., 0], negatives[..., 2])

    def post_update_(self) -> None:
        """Apply constraints after an optimiser step (default: none)."""

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_entities={self.num_entities}, num_relations={self.num_relations}, "
                f"embedding_dim={self.embedding_dim})")
