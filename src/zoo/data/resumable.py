"""Shuffled training loaders that resume mid-epoch: same order, the consumed batches skipped.

A datamodule owns one ``torch.Generator`` for its training order, seeded from the run's seed, and
saves its state in ``state_dict`` (Lightning stores a datamodule's ``state_dict`` in every
checkpoint). :class:`ResumableRandomSampler` draws each epoch's permutation from that generator
and remembers the generator state it started the epoch with. :class:`ResumableDataLoader` counts
the batches it has handed out; Lightning saves its ``state_dict`` with the training loop's state
and, when a run restarts inside an epoch, calls ``load_state_dict`` before it iterates again: the
sampler then redraws the same permutation and skips the batches already consumed.

Exact only with ``num_workers=0``: worker processes keep RNG states of their own that no
checkpoint holds.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sized

import torch
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler

__all__ = ["TrainOrder", "ResumableRandomSampler", "ResumableDataLoader", "ResumableGraphDataLoader",
           "ResumableLoaderMixin", "generator_state", "load_generator_state"]


def generator_state(generator: torch.Generator) -> dict[str, Any]:
    """A generator's state as plain values (loads with ``torch.load(weights_only=True)``)."""
    return {"device": str(generator.device), "state": generator.get_state()}


def load_generator_state(generator: torch.Generator, state: dict[str, Any]) -> None:
    generator.set_state(state["state"].cpu() if isinstance(state["state"], Tensor) else state["state"])


class TrainOrder:
    """A datamodule's training-order generator.

    Each new training loader starts from ``seed`` (as a loader built with
    ``generator=torch.Generator().manual_seed(seed)`` would), except the first one after
    :meth:`load_state_dict`, which continues from the checkpoint's state.

    Args:
        seed: seed of the training order.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self._restored = False

    def loader_generator(self) -> torch.Generator:
        """The generator for a new training loader."""
        if not self._restored:
            self.generator.manual_seed(self.seed)
        self._restored = False
        return self.generator

    def state_dict(self) -> dict[str, Any]:
        return generator_state(self.generator)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_generator_state(self.generator, state)
        self._restored = True


class ResumableRandomSampler(RandomSampler):
    """A :class:`~torch.utils.data.RandomSampler` (no replacement) that can restart inside an epoch.

    Args:
        data_source: the dataset (only its length is used).
        generator: the generator each epoch's permutation is drawn from (owned by the datamodule).
    """

    def __init__(self, data_source: Sized, *, generator: torch.Generator) -> None:
        super().__init__(data_source, replacement=False, generator=generator)
        #: generator state at the start of the current (or last) epoch
        self.epoch_start_state: Optional[Tensor] = None
        self._resume: Optional[tuple[Tensor, int]] = None

    def resume(self, epoch_start_state: Tensor, skip: int) -> None:
        """The next epoch redraws the permutation from ``epoch_start_state`` and skips ``skip`` indices."""
        self._resume = (epoch_start_state, int(skip))

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        skip = 0
        if self._resume is not None:
            state, skip = self._resume
            self._resume = None
            self.generator.set_state(state)
        self.epoch_start_state = self.generator.get_state()
        yield from torch.randperm(n, generator=self.generator).tolist()[skip:]
        # RandomSampler draws a second (empty) slice once the epoch is exhausted; drawing it too keeps
        # the generator's stream, and so every epoch's order, identical to a plain shuffled loader's
        torch.randperm(n, generator=self.generator)


class _CountingIterator:
    def __init__(self, loader: "ResumableLoaderMixin", iterator: Iterator) -> None:
        self.loader = loader
        self.iterator = iterator

    def __iter__(self) -> "_CountingIterator":
        return self

    def __next__(self) -> Any:
        batch = next(self.iterator)
        self.loader.batches_yielded += 1
        return batch

    def __len__(self) -> int:
        return len(self.iterator)


class ResumableLoaderMixin:
    """Adds Lightning's stateful-loader interface (``state_dict``/``load_state_dict``) to a DataLoader
    whose sampler is a :class:`ResumableRandomSampler`."""

    batches_yielded: int = 0
    _resumed_batches: int = 0

    def __iter__(self) -> Iterator:
        # a resumed epoch counts on from the batches it skips
        self.batches_yielded, self._resumed_batches = self._resumed_batches, 0
        return _CountingIterator(self, super().__iter__())

    def state_dict(self) -> dict[str, Any]:
        sampler = self.sampler
        if not isinstance(sampler, ResumableRandomSampler) or sampler.epoch_start_state is None or not self.batches_yielded:
            return {}  # nothing consumed yet, or Lightning swapped in a DistributedSampler: the epoch restarts
        return {"epoch_start_state": sampler.epoch_start_state, "batches": int(self.batches_yielded),
                "batch_size": int(self.batch_size or 1)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state or not isinstance(self.sampler, ResumableRandomSampler):
            return
        if int(state["batch_size"]) != int(self.batch_size or 1):
            raise ValueError(
                f"resuming mid-epoch with batch_size={self.batch_size}, but the checkpoint's epoch used "
                f"batch_size={state['batch_size']}; resume with the same batch size"
            )
        self.sampler.resume(state["epoch_start_state"], int(state["batches"]) * int(state["batch_size"]))
        self._resumed_batches = int(state["batches"])


class ResumableDataLoader(ResumableLoaderMixin, DataLoader):
    """A shuffled :class:`~torch.utils.data.DataLoader` drawing its order from ``generator`` and
    resumable mid-epoch.

    Args:
        dataset: the training dataset.
        generator: the datamodule's training-order generator (also seeds loader workers).
        **kwargs: any other DataLoader argument except ``shuffle``/``sampler``.
    """

    def __init__(self, dataset: Any, *, generator: torch.Generator, **kwargs: Any) -> None:
        if "sampler" not in kwargs:  # Lightning re-creates loaders with their sampler (DDP)
            kwargs["sampler"] = ResumableRandomSampler(dataset, generator=generator)
        kwargs.pop("shuffle", None)
        super().__init__(dataset, generator=generator, **kwargs)


def _graph_loader_base() -> type:
    from torch_geometric.loader import DataLoader as GraphDataLoader

    return GraphDataLoader


class ResumableGraphDataLoader(ResumableLoaderMixin, _graph_loader_base()):
    """:class:`ResumableDataLoader` for PyG graphs (batches with ``torch_geometric``'s collater)."""

    def __init__(self, dataset: Any, *, generator: torch.Generator, **kwargs: Any) -> None:
        if "sampler" not in kwargs:
            kwargs["sampler"] = ResumableRandomSampler(dataset, generator=generator)
        kwargs.pop("shuffle", None)
        super().__init__(dataset, generator=generator, **kwargs)
