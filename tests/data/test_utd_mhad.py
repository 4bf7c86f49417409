"""UTD-MHAD datamodule on the real files: counts, splits, preprocessing, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from tests.conftest import SHARED_DATA
from zoo.data.inertial_augment import InertialAugment
from zoo.data.paired_sequences import PairedArrayDataModule, resample_sequence
from zoo.data.skeleton_augment import SkeletonAugment
from zoo.data.utd_mhad import UTDMHADDataModule, read_utd_mhad

DATA_ROOT = Path(os.environ.get("ZOO_DATA_DIR", SHARED_DATA)) / "har" / "utd_mhad"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "utd_mhad"
pytestmark = pytest.mark.skipif(not (DATA_ROOT / "Skeleton").is_dir(), reason="UTD-MHAD not available")


def _dm(**kwargs) -> UTDMHADDataModule:
    return UTDMHADDataModule(root=str(DATA_ROOT), cache_dir=str(CACHE), **kwargs)


def test_counts_and_subject_split():
    dm = _dm()
    dm.setup()
    assert dm.num_pairs == 861
    assert dm.num_classes == 27
    assert dm.split_sizes == {"train": 323, "val": 108, "test": 430}
    assert set(dm.data_train.subjects.tolist()) == {1, 3, 5}
    assert set(dm.data_val.subjects.tolist()) == {7}
    assert set(dm.data_test.subjects.tolist()) == {2, 4, 6, 8}
    assert (dm.num_joints, dm.num_inertial_channels) == (20, 6)
    batch = next(iter(dm.val_dataloader()))
    assert batch["skeleton"].shape == (64, 50, 20, 3) and batch["inertial"].shape == (64, 50, 6)
    assert torch.isfinite(batch["skeleton"]).all() and torch.isfinite(batch["inertial"]).all()


def test_cross_subject_split_holds_out_seeded_validation():
    sizes = [_dm(split="cross_subject", seed=s).split_sizes for s in (0, 0, 1)]
    assert sizes[0]["train"] + sizes[0]["val"] == 323 + 108 and sizes[0]["test"] == 430
    a, b, c = (_dm(split="cross_subject", seed=s) for s in (0, 0, 1))
    assert np.array_equal(a._split_indices()["val"], b._split_indices()["val"])
    assert not np.array_equal(a._split_indices()["val"], c._split_indices()["val"])


def test_preprocessing_centres_scales_and_normalises():
    dm = _dm()
    dm.setup()
    skel = dm.data_train.arrays["skeleton"]
    assert skel[:, :, 1].abs().max() < 1e-5  # joint 2 at the origin in every frame
    head = skel[:, :, 0].norm(dim=-1).mean(dim=1)  # mean joint 1-2 distance per recording ~ 1
    assert torch.allclose(head, torch.ones_like(head), atol=0.15)
    imu = dm.data_train.arrays["inertial"].reshape(-1, 6)
    assert torch.allclose(imu.mean(0), torch.zeros(6), atol=1e-4)
    assert torch.allclose(imu.std(0), torch.ones(6), atol=1e-3)
    assert dm.data_test.arrays["inertial"].reshape(-1, 6).mean(0).abs().max() > 1e-3  # test stats not used


def test_first_frame_centring_keeps_the_body_trajectory():
    per_frame, first = _dm(), _dm(skeleton_centre="first")
    per_frame.setup()
    first.setup()
    a, b = per_frame.data_train.arrays["skeleton"], first.data_train.arrays["skeleton"]
    assert b[:, 0, 1].abs().max() < 1e-5  # joint 2 of the first frame at the origin
    assert b[:, :, 1].abs().amax(dim=(1, 2)).max() > 0.1  # ... but it moves afterwards
    # the two differ only by a per-frame translation, with the same scale
    assert torch.allclose(a, b - b[:, :, 1:2], atol=1e-4)
    with pytest.raises(ValueError, match=r"data\.skeleton_centre='hip'"):
        _dm(skeleton_centre="hip")


def test_limited_k_keeps_k_per_class():
    dm = _dm(limited_k=2, seed=3)
    dm.setup()
    counts = torch.bincount(dm.data_train.labels, minlength=27)
    assert counts.tolist() == [2] * 27
    assert dm.split_sizes["val"] == 108 and dm.split_sizes["test"] == 430
    with pytest.raises(ValueError, match=r"data\.limited_k=0"):
        _dm(limited_k=0)


def test_drop_last_drops_the_remainder_batch_but_keeps_a_small_split():
    sizes = {}
    for drop, k in ((False, None), (True, None), (True, 1)):
        dm = _dm(drop_last=drop, limited_k=k)
        dm.setup()
        sizes[(drop, k)] = [len(b["label"]) for b in dm.train_dataloader()]
    assert sizes[(False, None)] == [64] * 5 + [3]
    assert sizes[(True, None)] == [64] * 5
    assert sizes[(True, 1)] == [27]  # 27 < 64: kept whole
    dm = _dm(drop_last=True)
    dm.setup()
    assert sum(len(b["label"]) for b in dm.test_dataloader()) == 430  # evaluation never drops


def test_bad_options_name_the_key():
    with pytest.raises(ValueError, match=r"data\.split='half'.*subject"):
        _dm(split="half")
    with pytest.raises(ValueError, match=r"data\.on_unpaired='ignore'"):
        _dm(on_unpaired="ignore")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        UTDMHADDataModule(root="/nowhere", cache_dir=str(CACHE)).prepare_data()


def test_augmentations_are_seeded():
    dm = _dm()
    dm.setup()
    x, y = dm.data_train.arrays["skeleton"][0], dm.data_train.arrays["inertial"][0]
    skel, imu = SkeletonAugment(p=1.0), InertialAugment(p_jitter=1, p_scale=1, p_permute=1, p_channel_shuffle=1)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a1, a2 = skel(x, g1), skel(x, g2)
    assert torch.equal(a1, a2) and a1.shape == x.shape and not torch.allclose(a1, x)
    assert not torch.equal(skel(x, g1), a1)  # the next draw differs
    g1, g2 = torch.Generator().manual_seed(6), torch.Generator().manual_seed(6)
    b1, b2 = imu(y, g1), imu(y, g2)
    assert torch.equal(b1, b2) and b1.shape == y.shape
    with pytest.raises(ValueError, match=r"\(L, J, 3\)"):
        skel(y, g1)


# -- bad raw files, in a temporary copy of a few recordings --------------------------------------
KEYS = ["a1_s1_t1", "a2_s1_t1", "a1_s2_t1", "a2_s2_t1"]


def _small_copy(tmp_path: Path) -> Path:
    root = tmp_path / "utd"
    for kind, folder in (("skeleton", "Skeleton"), ("inertial", "Inertial")):
        (root / folder).mkdir(parents=True)
        for key in KEYS:
            os.symlink(DATA_ROOT / folder / f"{key}_{kind}.mat", root / folder / f"{key}_{kind}.mat")
    return root


def test_unpaired_file_raises_or_is_skipped(tmp_path):
    root = _small_copy(tmp_path)
    os.remove(root / "Inertial" / "a2_s1_t1_inertial.mat")
    with pytest.raises(FileNotFoundError, match="a2_s1_t1_skeleton.mat.*a2_s1_t1_inertial.mat"):
        read_utd_mhad(str(root))
    pairs = read_utd_mhad(str(root), on_unpaired="skip")
    assert pairs.keys == ["a1_s1_t1", "a1_s2_t1", "a2_s2_t1"]


def _replace(root: Path, name: str, variable: str, value: np.ndarray) -> None:
    path = root / ("Skeleton" if "skeleton" in name else "Inertial") / name
    os.remove(path)
    scipy.io.savemat(path, {variable: value})


def test_wrong_shape_names_file(tmp_path):
    root = _small_copy(tmp_path)
    _replace(root, "a1_s2_t1_skeleton.mat", "d_skel", np.zeros((25, 3, 40)))
    with pytest.raises(ValueError, match=r"a1_s2_t1_skeleton\.mat.*\(25, 3, 40\)"):
        read_utd_mhad(str(root))
    root = _small_copy(tmp_path / "b")
    _replace(root, "a2_s2_t1_inertial.mat", "d_iner", np.zeros((100, 5)))
    with pytest.raises(ValueError, match=r"a2_s2_t1_inertial\.mat.*\(100, 5\)"):
        read_utd_mhad(str(root))


def test_nan_values_name_file(tmp_path):
    root = _small_copy(tmp_path)
    imu = scipy.io.loadmat(DATA_ROOT / "Inertial" / "a1_s1_t1_inertial.mat")["d_iner"]
    imu[10, 2] = np.nan
    _replace(root, "a1_s1_t1_inertial.mat", "d_iner", imu)
    with pytest.raises(ValueError, match=r"a1_s1_t1_inertial\.mat: 1 NaN"):
        read_utd_mhad(str(root))


def test_short_sequences_are_upsampled_and_one_frame_is_rejected(tmp_path):
    x = np.arange(3.0)[:, None] * np.ones((3, 6))
    out = resample_sequence(x, 50)
    assert out.shape == (50, 6) and out[0, 0] == 0 and out[-1, 0] == 2 and np.all(np.diff(out[:, 0]) > 0)
    root = _small_copy(tmp_path)
    skel = scipy.io.loadmat(DATA_ROOT / "Skeleton" / "a1_s1_t1_skeleton.mat")["d_skel"]
    _replace(root, "a1_s1_t1_skeleton.mat", "d_skel", skel[:, :, :4])  # 4 frames < 50
    dm = UTDMHADDataModule(root=str(root), cache_dir=str(tmp_path / "cache"), split="cross_subject")
    with pytest.raises(ValueError, match="subjects.*7"):  # only subjects 1, 2 in this copy
        dm.setup()
    arrays = dm._load()
    assert arrays["x_skeleton"].shape == (4, 50, 20, 3)
    _replace(root, "a1_s1_t1_skeleton.mat", "d_skel", skel[:, :, :1])
    dm = UTDMHADDataModule(root=str(root), cache_dir=str(tmp_path / "cache2"))
    with pytest.raises(ValueError, match=r"a1_s1_t1 \(skeleton\): 1 frame"):
        dm.prepare_data()


def test_generic_paired_array_reader(tmp_path):
    rng = np.random.default_rng(0)
    n = 24
    lengths = rng.integers(20, 40, size=n)
    a = rng.normal(size=(int(lengths.sum()), 4))  # variable-length recordings, concatenated in time
    b = rng.normal(size=(n, 30, 2))
    path = tmp_path / "pairs.npz"
    np.savez(path, acc=a, acc_lengths=lengths, emg=b, labels=np.arange(n) % 3, subjects=np.arange(n) % 4)
    dm = PairedArrayDataModule(path=str(path), cache_dir=str(tmp_path / "cache"), modalities=["acc", "emg"],
                               sequence_length=16, train_subjects=[0, 1], val_subjects=[2], test_subjects=[3],
                               normalize=["acc"], batch_size=4)
    dm.setup()
    assert dm.num_classes == 3 and dm.split_sizes == {"train": 12, "val": 6, "test": 6}
    batch = next(iter(dm.train_dataloader()))
    assert batch["acc"].shape == (4, 16, 4) and batch["emg"].shape == (4, 16, 2)
    with pytest.raises(ValueError, match=r"data\.modalities"):
        PairedArrayDataModule(path=str(path), cache_dir=str(tmp_path), modalities=["acc", "acc"],
                              train_subjects=[0], test_subjects=[1])
    np.savez(tmp_path / "bad.npz", acc=a, acc_lengths=lengths, labels=np.zeros(n), subjects=np.zeros(n))
    bad = PairedArrayDataModule(path=str(tmp_path / "bad.npz"), cache_dir=str(tmp_path / "c2"),
                                modalities=["acc", "emg"], train_subjects=[0], test_subjects=[1])
    with pytest.raises(ValueError, match="emg"):
        bad.prepare_data()
