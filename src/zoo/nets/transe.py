"""TransE: "Translating Embeddings for Modeling Multi-relational Data" (Bordes et al., NeurIPS 2013)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.nets.kge_model import KGEModel, query_distance

__all__ = ["TransE"]


class TransE(KGEModel):
    r"""TransE, from "Translating Embeddings for Modeling Multi-relational Data"
    (Bordes et al., 2013, https://papers.nips.cc/paper/5071; cf. arXiv 1902.10197 Table 1).

    .. math::
        f(h, r, t) = -\lVert \mathbf{e}_h + \mathbf{r}_r - \mathbf{e}_t \rVert_p

    Args:
        num_entities, num_relations, embedding_dim, chunk_size, sparse: see :class:`KGEModel`.
        p_norm: the norm :math:`p` (1 or 2) (default: ``1``).
        normalize_entities: project entity embeddings onto the unit sphere after each optimiser step,
            as the paper and PyKEEN do (default: ``True``).
    """

    def __init__(self, *, num_entities: int, num_relations: int, embedding_dim: int, p_norm: int = 1,
                 normalize_entities: bool = True, chunk_size: int = 4096,
                 sparse: bool = False) -> None:
        super().__init__(num_entities=num_entities, num_relations=num_relations, embedding_dim=embedding_dim,
                         chunk_size=chunk_size, sparse=sparse)
        if p_norm not in (1, 2):
            raise ValueError(f"model.net.p_norm={p_norm}; expected one of [1, 2]")
        self.p_norm = p_norm
        self.normalize_entities = normalize_entities
        self.entity_embedding = nn.Parameter(torch.empty(num_entities, embedding_dim))
        self.relation_embedding = nn.Parameter(torch.empty(num_relations, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 6.0 / self.embedding_dim ** 0.5
        nn.init.uniform_(self.entity_embedding, -bound, bound)
        nn.init.uniform_(self.relation_embedding, -bound, bound)
        with torch.no_grad():
            self.relation_embedding.copy_(nn.functional.normalize(self.relation_embedding, dim=-1))
        self.post_update_()

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return -torch.linalg.vector_norm(h + r - t, ord=self.p_norm, dim=-1)

    def score_slcwa(self, positive: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor]:
        r"""Training scores with one query per positive: a corrupted tail scores
        :math:`\lVert t' - (h + r) \rVert` and a corrupted head :math:`\lVert h' - (t - r) \rVert`."""
        batch = len(positive)
        query_row, candidate = self.corrupted_side(positive, negatives)
        h, t = self.entity(positive[:, 0]), self.entity(positive[:, 2])
        rel = self.relation(positive[:, 1])
        queries = torch.cat([h + rel, t - rel])
        norm = lambda x: torch.linalg.vector_norm(x, ord=self.p_norm, dim=-1)  # noqa: E731
        if self.p_norm == 2:
            return -norm(queries[:batch] - t), -query_distance(self.entity(candidate), queries, query_row)
        return -norm(queries[:batch] - t), -norm(self.entity(candidate) - queries[query_row])

    def score_tails(self, h: Tensor, r: Tensor) -> Tensor:
        return -torch.cdist(self.entity(h) + self.relation(r), self.entity_embedding, p=self.p_norm)

    def score_heads(self, r: Tensor, t: Tensor) -> Tensor:
        return -torch.cdist(self.entity(t) - self.relation(r), self.entity_embedding, p=self.p_norm)

    @torch.no_grad()
    def post_update_(self) -> None:
        if self.normalize_entities:
            self.entity_embedding.copy_(nn.functional.normalize(self.entity_embedding, dim=-1))
