"""ComplEx: "Complex Embeddings for Simple Link Prediction" (Trouillon et al., ICML 2016)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.nets.kge_model import KGEModel

__all__ = ["ComplEx"]


class ComplEx(KGEModel):
    r"""ComplEx, from "Complex Embeddings for Simple Link Prediction"
    (Trouillon et al., 2016, https://arxiv.org/abs/1606.06357).

    .. math::
        f(h, r, t) = \operatorname{Re}\Big(\sum_i e_{h,i}\, r_{r,i}\, \overline{e_{t,i}}\Big)

    with :math:`\mathbf{e}, \mathbf{r} \in \mathbb{C}^d` stored as ``(..., d, 2)`` (real, imaginary).
    Scoring every entity is one matrix product of real-valued halves.

    Args:
        num_entities, num_relations, embedding_dim, chunk_size, sparse: see :class:`KGEModel`
            (``embedding_dim`` is the complex dimension :math:`d`).
    """

    def __init__(self, *, num_entities: int, num_relations: int, embedding_dim: int, chunk_size: int = 4096,
                 sparse: bool = False) -> None:
        super().__init__(num_entities=num_entities, num_relations=num_relations, embedding_dim=embedding_dim,
                         chunk_size=chunk_size, sparse=sparse)
        self.entity_embedding = nn.Parameter(torch.empty(num_entities, embedding_dim, 2))
        self.relation_embedding = nn.Parameter(torch.empty(num_relations, embedding_dim, 2))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.entity_embedding.view(self.num_entities, -1))
        nn.init.xavier_uniform_(self.relation_embedding.view(self.num_relations, -1))

    def interaction(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        hr_re = h[..., 0] * r[..., 0] - h[..., 1] * r[..., 1]
        hr_im = h[..., 0] * r[..., 1] + h[..., 1] * r[..., 0]
        return (hr_re * t[..., 0] + hr_im * t[..., 1]).sum(dim=-1)

    def score_tails(self, h: Tensor, r: Tensor) -> Tensor:
        eh, er = self.entity(h), self.relation(r)
        hr = torch.stack([eh[..., 0] * er[..., 0] - eh[..., 1] * er[..., 1],
                          eh[..., 0] * er[..., 1] + eh[..., 1] * er[..., 0]], dim=-1)
        return hr.flatten(1) @ self.entity_embedding.flatten(1).T

    def score_heads(self, r: Tensor, t: Tensor) -> Tensor:
        # Re(<e, r, conj(t)>) = <e, conj(r) * t> as real vectors
        et, er = self.entity(t), self.relation(r)
        rt = torch.stack([er[..., 0] * et[..., 0] + er[..., 1] * et[..., 1],
                          er[..., 0] * et[..., 1] - er[..., 1] * et[..., 0]], dim=-1)
        return rt.flatten(1) @ self.entity_embedding.flatten(1).T
