"""Uniform negative sampling ("Translating Embeddings for Modeling Multi-relational Data", Bordes et al., 2013)."""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.objectives.negative_sampler import NegativeSampler

__all__ = ["UniformNegativeSampler"]


class UniformNegativeSampler(NegativeSampler):
    r"""Corrupt the head or the tail (each with probability 1/2) with an entity drawn uniformly
    from the other :math:`|E| - 1` entities (PyKEEN's ``BasicNegativeSampler``; Bordes et al., 2013,
    https://papers.nips.cc/paper/5071).

    Args:
        num_negatives, filtered, seed: see :class:`NegativeSampler`.
    """

    def corrupt_batch(self, positive_batch: Tensor) -> Tensor:
        device = positive_batch.device
        negatives = positive_batch.unsqueeze(1).repeat(1, self.num_negatives, 1)
        g = self.generator(device)
        # column 0 (head) or 2 (tail) per negative
        column = 2 * torch.randint(2, negatives.shape[:2], device=device, generator=g)
        original = negatives.gather(2, column.unsqueeze(-1)).squeeze(-1)
        replacement = self._random_entities(tuple(negatives.shape[:2]), device, exclude=original)
        negatives.scatter_(2, column.unsqueeze(-1), replacement.unsqueeze(-1))
        return negatives
