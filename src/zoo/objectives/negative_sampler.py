"""The negative-sampler interface (PyKEEN's ``NegativeSampler.corrupt_batch`` convention)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional

import torch
from torch import Tensor, nn

__all__ = ["NegativeSampler", "TripleSet"]


class TripleSet(nn.Module):
    """Membership test for id triples, vectorised on the device.

    Each triple is encoded as :math:`k = (h |R| + r) |E| + t` and looked up with ``searchsorted`` in
    the sorted keys of the known triples.
    """

    def __init__(self, triples: Tensor, num_entities: int, num_relations: int) -> None:
        super().__init__()
        self.num_entities = int(num_entities)
        self.num_relations = int(num_relations)
        self.register_buffer("keys", torch.unique(self.encode(triples.long())), persistent=False)

    def encode(self, triples: Tensor) -> Tensor:
        h, r, t = triples[..., 0], triples[..., 1], triples[..., 2]
        return (h * self.num_relations + r) * self.num_entities + t

    def forward(self, triples: Tensor) -> Tensor:
        """Boolean ``(...)``: whether each triple ``(..., 3)`` is known."""
        keys = self.encode(triples)
        pos = torch.searchsorted(self.keys, keys.reshape(-1)).clamp_max(len(self.keys) - 1)
        return (self.keys[pos] == keys.reshape(-1)).view(keys.shape)


class NegativeSampler(nn.Module, ABC):
    """Base of every negative sampler: :meth:`sample` calls the one abstract :meth:`corrupt_batch`,
    then filters known true triples.

    A sampler is built from config with its hyperparameters, then :meth:`fit` hands it the training
    graph (the task does this in ``setup``). State is kept in non-persistent buffers, so it moves to
    the task's device and is rebuilt, not checkpointed. Randomness comes from a generator seeded with
    ``seed + rank``.

    Args:
        num_negatives: negatives per positive triple.
        filtered: mark negatives that are known training triples in the returned mask (default: ``True``).
        seed: seed of the sampler's generator (default: ``0``).
    """

    def __init__(self, *, num_negatives: int, filtered: bool = True, seed: int = 0) -> None:
        super().__init__()
        if num_negatives < 1:
            raise ValueError(f"model.sampler.num_negatives={num_negatives}; expected >= 1")
        self.num_negatives = int(num_negatives)
        self.filtered = filtered
        self.seed = int(seed)
        self.num_entities = 0
        self.num_relations = 0
        self.true_triples: Optional[TripleSet] = None
        self._generator: Optional[torch.Generator] = None
        self._rank = 0

    #: whether :meth:`fit` needs ``entity_embeddings`` (the task then reads the datamodule's)
    needs_entity_embeddings = False

    def fit(self, triples: Tensor, *, num_entities: int, num_relations: int,
            entity_embeddings: Optional[Tensor] = None, rank: int = 0) -> "NegativeSampler":
        """Take the training triples ``(n, 3)``; subclasses add their statistics in :meth:`_fit`.

        :param entity_embeddings: ``(num_entities, dim)`` vectors, NaN rows where an entity has none;
            used by samplers with :attr:`needs_entity_embeddings` (LEMON).
        """
        self.num_entities = int(num_entities)
        self.num_relations = int(num_relations)
        device = self._device()
        self.true_triples = TripleSet(triples, num_entities, num_relations).to(device)
        self._rank = rank
        self._generator = None
        self._fit(triples.long(), entity_embeddings=entity_embeddings)
        return self

    def _fit(self, triples: Tensor, *, entity_embeddings: Optional[Tensor]) -> None:
        """Per-sampler statistics (default: none)."""

    def _device(self) -> torch.device:
        for buf in self.buffers():
            return buf.device
        return torch.device("cpu")

    def generator(self, device: torch.device) -> torch.Generator:
        """The sampler's generator on ``device``, seeded with ``seed + rank`` on first use."""
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.seed + self._rank)
        return self._generator

    def generator_state_dict(self) -> dict:
        """``{"device", "state"}`` of the generator (``state`` ``None`` before the first draw), to save
        with a checkpoint and restore with :meth:`load_generator_state_dict`."""
        if self._generator is None:
            return {"device": None, "state": None}
        return {"device": str(self._generator.device), "state": self._generator.get_state()}

    def load_generator_state_dict(self, state: dict) -> None:
        """Continue the random stream saved by :meth:`generator_state_dict`."""
        if state.get("state") is None:
            self._generator = None
            return
        self._generator = torch.Generator(device=state["device"])
        self._generator.set_state(state["state"])

    def _check_fitted(self) -> None:
        if self.true_triples is None:
            raise RuntimeError(f"{type(self).__name__}.fit(train_triples, ...) must be called before sampling")

    def _random_entities(self, shape: tuple[int, ...], device: torch.device, exclude: Optional[Tensor] = None) -> Tensor:
        """Uniform entity ids; with ``exclude`` (broadcast to ``shape``) never that entity."""
        g = self.generator(device)
        if exclude is None:
            return torch.randint(self.num_entities, shape, device=device, generator=g)
        drawn = torch.randint(self.num_entities - 1, shape, device=device, generator=g)
        return drawn + (drawn >= exclude).long()

    @abstractmethod
    def corrupt_batch(self, positive_batch: Tensor) -> Tensor:
        """Negatives for each positive.

        :param positive_batch: shape ``(batch, 3)``.
        :returns: shape ``(batch, num_negatives, 3)``, each a copy of its positive with the head or
            the tail replaced.
        """

    @torch.no_grad()
    def sample(self, positive_batch: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """``(negatives, mask)``: negatives ``(batch, num_negatives, 3)``; ``mask`` ``(batch,
        num_negatives)`` is ``False`` where the negative is a known training triple (``None`` when
        not ``filtered``)."""
        self._check_fitted()
        negatives = self.corrupt_batch(positive_batch[:, :3].long())
        if not self.filtered:
            return negatives, None
        return negatives, ~self.true_triples(negatives)

    def extra_repr(self) -> str:
        return f"num_negatives={self.num_negatives}, filtered={self.filtered}"
