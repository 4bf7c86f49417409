"""Bernoulli negative sampling ("Knowledge Graph Embedding by Translating on Hyperplanes", Wang et al., 2014)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from zoo.objectives.negative_sampler import NegativeSampler

__all__ = ["BernoulliNegativeSampler", "bernoulli_head_probability"]


def bernoulli_head_probability(triples: Tensor, num_relations: int) -> Tensor:
    r"""Per relation, :math:`p_r = \mathrm{tph}_r / (\mathrm{tph}_r + \mathrm{hpt}_r)`: ``(num_relations,)``.

    :math:`\mathrm{tph}_r` is the mean number of tails per (head, relation) pair and
    :math:`\mathrm{hpt}_r` the mean number of heads per (relation, tail) pair; a relation absent from
    ``triples`` gets 1/2.
    """
    triples = triples.long()
    r = triples[:, 1]
    count = torch.bincount(r, minlength=num_relations).double()
    # distinct (h, r) and (r, t) pairs per relation
    hr = torch.unique(triples[:, :2], dim=0)
    rt = torch.unique(triples[:, 1:], dim=0)
    n_heads = torch.bincount(hr[:, 1], minlength=num_relations).double()
    n_tails = torch.bincount(rt[:, 0], minlength=num_relations).double()
    tph = count / n_heads.clamp_min(1)
    hpt = count / n_tails.clamp_min(1)
    prob = tph / (tph + hpt).clamp_min(1e-12)
    prob[count == 0] = 0.5
    return prob.float()


class BernoulliNegativeSampler(NegativeSampler):
    r"""Corrupt the head with probability :math:`p_r = \frac{\mathrm{tph}_r}{\mathrm{tph}_r + \mathrm{hpt}_r}`
    and the tail otherwise (Wang et al., 2014, "Knowledge Graph Embedding by Translating on Hyperplanes",
    AAAI; PyKEEN's ``BernoulliNegativeSampler``), so one-to-many relations corrupt the "one" side,
    which yields fewer false negatives. The new entity is uniform over the other :math:`|E| - 1`.

    Args:
        num_negatives, filtered, seed: see :class:`NegativeSampler`.
    """

    def __init__(self, *, num_negatives: int, filtered: bool = True, seed: int = 0) -> None:
        super().__init__(num_negatives=num_negatives, filtered=filtered, seed=seed)
        self.register_buffer("head_probability", torch.empty(0), persistent=False)

    def _fit(self, triples: Tensor, *, entity_embeddings: Optional[Tensor]) -> None:
        self.head_probability = bernoulli_head_probability(triples, self.num_relations).to(self._device_of_true())

    def _device_of_true(self) -> torch.device:
        return self.true_triples.keys.device

    def corrupt_batch(self, positive_batch: Tensor) -> Tensor:
        device = positive_batch.device
        negatives = positive_batch.unsqueeze(1).repeat(1, self.num_negatives, 1)
        g = self.generator(device)
        p_head = self.head_probability[positive_batch[:, 1]].unsqueeze(1).expand(negatives.shape[:2])
        head = torch.rand(negatives.shape[:2], device=device, generator=g) < p_head
        column = torch.where(head, 0, 2)
        original = negatives.gather(2, column.unsqueeze(-1)).squeeze(-1)
        replacement = self._random_entities(tuple(negatives.shape[:2]), device, exclude=original)
        negatives.scatter_(2, column.unsqueeze(-1), replacement.unsqueeze(-1))
        return negatives
