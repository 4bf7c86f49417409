"""DistMult: "Embedding Entities and Relations for Learning and Inference in Knowledge Bases"."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.nets.kge_model import KGEModel

__all__ = ["DistMult"]


class DistMult(KGEModel):
    r"""DistMult, from "Embedding Entities and Relations for Learning and Inference in Knowledge
    Bases" (Yang et al., ICLR 2015, https://arxiv.org/abs/1412.6575).

    .. math::
        f(h, r, t) = \langle \mathbf{e}_h, \mathbf{r}_r, \mathbf{e}_t \rangle = \sum_i e_{h,i}\, r_{r,i}\, e_{t,i}

    Symmetric in ``h`` and ``t``. Scoring every entity is one matrix product.

    Args:
        num_entities, num_relations, embedding_dim, chunk_size, sparse: see :class:`KGEModel`.
    """

    def __init__(self, *, num_entities: int, num_relations: int, embedding_dim: int, chunk_size: int = 4096,
                 sparse: bool = False) -> None:
        super().__init__(num_entities=num_entities, num_relations=num_relations, embedding_dim=embedding_dim,
                         chunk_size=chunk_size, sparse=sparse)
        self.entity_embedding = nn.Parameter(torch.empty(num_entities, embedding_dim))
        self.relation_embedding = nn.Parameter(torch.empty(num_relations, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.entity_embedding)
        nn.init.xavier_uniform_(self.relation_embedding)

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (h * r * t).sum(dim=-1)

    def score_tails(self, h: Tensor, r: Tensor) -> Tensor:
        return (self.entity(h) * self.relation(r)) @ self.entity_embedding.T

    def score_heads(self, r: Tensor, t: Tensor) -> Tensor:
        return (self.entity(t) * self.relation(r)) @ self.entity_embedding.T
