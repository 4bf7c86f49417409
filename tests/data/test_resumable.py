"""The resumable training loader: plain shuffled orders, and a mid-epoch restart that skips exactly
the consumed batches of the same permutation."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

from zoo.data.resumable import ResumableDataLoader, TrainOrder

DATA = TensorDataset(torch.arange(23))


def _epochs(loader, n: int, limit: int | None = None) -> list[list[list[int]]]:
    out = []
    for _ in range(n):
        batches = []
        for i, (x,) in enumerate(loader):
            if limit is not None and i == limit:
                break
            batches.append(x.tolist())
        out.append(batches)
    return out


def test_same_orders_as_a_plain_shuffled_loader():
    for limit in (None, 2):  # whole epochs, and epochs cut short (limit_train_batches)
        plain = DataLoader(DATA, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(7))
        order = TrainOrder(7)
        resumable = ResumableDataLoader(DATA, batch_size=5, generator=order.loader_generator())
        assert _epochs(resumable, 3, limit) == _epochs(plain, 3, limit)


def test_each_new_loader_starts_from_the_seed_unless_restored():
    order = TrainOrder(3)
    first = _epochs(ResumableDataLoader(DATA, batch_size=4, generator=order.loader_generator()), 2)
    assert _epochs(ResumableDataLoader(DATA, batch_size=4, generator=order.loader_generator()), 2) == first


def test_mid_epoch_restart_skips_the_consumed_batches():
    order = TrainOrder(11)
    loader = ResumableDataLoader(DATA, batch_size=4, generator=order.loader_generator())
    reference = _epochs(loader, 3)

    order = TrainOrder(11)
    loader = ResumableDataLoader(DATA, batch_size=4, generator=order.loader_generator())
    _epochs(loader, 1)
    it = iter(loader)
    consumed = [next(it)[0].tolist() for _ in range(2)]  # epoch 1: two batches, then the "kill"
    datamodule_state, loader_state = order.state_dict(), loader.state_dict()
    assert loader_state["batches"] == 2

    order = TrainOrder(11)  # the resumed process
    order.load_state_dict(datamodule_state)
    loader = ResumableDataLoader(DATA, batch_size=4, generator=order.loader_generator())
    loader.load_state_dict(loader_state)
    rest = [x.tolist() for (x,) in loader]
    assert consumed + rest == reference[1]
    assert loader.state_dict()["batches"] == len(reference[1])  # counts on from the skipped batches
    assert _epochs(loader, 1) == [reference[2]]
