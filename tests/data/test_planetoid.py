"""PlanetoidDataModule's random split with ``exclude_public_test`` / ``num_val`` on the real Cora files."""

from __future__ import annotations

import os

import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import ROOT, SHARED_DATA, compose_train
from zoo.data.planetoid import PlanetoidDataModule

CACHE = os.environ.get("ZOO_CACHE_DIR", str(ROOT / ".cache")) + "/planetoid"


def cora(**kwargs) -> PlanetoidDataModule:
    return PlanetoidDataModule(root=str(SHARED_DATA / "planetoid"), cache_dir=CACHE, download=False, **kwargs)


@pytest.fixture(scope="module")
def public():
    return cora().data


def test_resplit_outside_public_test(public):
    data = cora(split="random", exclude_public_test=True, num_val=None, seed=3).data
    assert torch.bincount(data.y[data.train_mask], minlength=7).tolist() == [20] * 7
    # every node outside the public test mask is either training or validation, never both
    assert not (data.train_mask & data.val_mask).any()
    assert torch.equal(data.train_mask | data.val_mask, ~public.test_mask)
    assert int(data.val_mask.sum()) == 2708 - 1000 - 140
    assert not ((data.train_mask | data.val_mask) & public.test_mask).any()
    assert torch.equal(data.test_mask, public.test_mask)
    # a different draw than the public 140/500 split
    assert not torch.equal(data.train_mask, public.train_mask)


def test_resplit_fixed_num_val(public):
    data = cora(split="random", exclude_public_test=True, num_val=300, seed=0).data
    assert int(data.train_mask.sum()) == 140 and int(data.val_mask.sum()) == 300
    assert not ((data.train_mask | data.val_mask) & public.test_mask).any()


def test_resplit_is_seeded():
    a = cora(split="random", exclude_public_test=True, num_val=None, seed=7).data
    b = cora(split="random", exclude_public_test=True, num_val=None, seed=7).data
    c = cora(split="random", exclude_public_test=True, num_val=None, seed=8).data
    assert torch.equal(a.train_mask, b.train_mask) and torch.equal(a.val_mask, b.val_mask)
    assert not torch.equal(a.train_mask, c.train_mask)


def test_plain_random_split_unchanged():
    """Without the new options the random split is still 20 per class / 500 / 1000 from all nodes."""
    data = cora(split="random", seed=0).data
    sizes = [int(m.sum()) for m in (data.train_mask, data.val_mask, data.test_mask)]
    assert sizes == [140, 500, 1000]
    assert not (data.train_mask & data.val_mask).any() and not (data.val_mask & data.test_mask).any()


@pytest.mark.parametrize(
    "kwargs, key",
    [
        (dict(split="public", exclude_public_test=True), "exclude_public_test"),
        (dict(split="full", num_val=100), "num_val"),
        (dict(split="random", num_val=None), "num_val=null"),
        (dict(split="random", num_val=0), "num_val"),
        (dict(split="random", num_val=1.5), "num_val"),
        (dict(split="random", num_train_per_class=0), "num_train_per_class"),
    ],
)
def test_bad_split_options_raise(kwargs, key):
    with pytest.raises(ValueError, match=key):
        cora(**kwargs)


def test_too_many_nodes_requested_raise():
    with pytest.raises(ValueError, match="num_val=1600"):
        _ = cora(split="random", exclude_public_test=True, num_val=1600).data
    with pytest.raises(ValueError, match="num_train_per_class=500"):
        _ = cora(split="random", exclude_public_test=True, num_val=None, num_train_per_class=500).data


def test_options_from_config(tmp_path):
    cfg = compose_train(tmp_path, ["experiment=tangnn_cora", "data.split=random", "data.exclude_public_test=true",
                                   "data.num_val=null", "data.seed=1"])
    dm = instantiate(cfg.data)
    assert dm.exclude_public_test and dm.num_val is None and int(dm.data.val_mask.sum()) == 1568
