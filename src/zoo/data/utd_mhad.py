"""UTD-MHAD skeleton (Kinect) + inertial (wrist IMU) pairs for multimodal HAR.

"UTD-MHAD: A Multimodal Dataset for Human Action Recognition Utilizing a Depth Camera and a
Wearable Inertial Sensor" (Chen, Jafari, Kehtarnavaz, ICIP 2015). Protocol of CMC-CMKM
(Brinzea et al., 2022, https://arxiv.org/abs/2207.07106) and the hard-negative paper
(https://arxiv.org/abs/2309.01262): train subjects 1, 3, 5; validation 7; test 2, 4, 6, 8.
``split=cross_subject`` is the dataset's original protocol: odd subjects train (a seeded 10%
held out for validation), even subjects test.

Files: ``Skeleton/a<action>_s<subject>_t<trial>_skeleton.mat`` (``d_skel``, 20 joints x 3 x T)
and ``Inertial/a<action>_s<subject>_t<trial>_inertial.mat`` (``d_iner``, T x 6: accelerometer in
g, gyroscope in deg/s), read with :func:`scipy.io.loadmat`. The skeleton is centred on joint 2
(shoulder centre) of the first frame (``skeleton_centre=first``, as CMC-CMKM's ``RecenterJoints``:
the body's own motion, e.g. going down in a squat, is kept) or of every frame
(``skeleton_centre=frame``), and scaled by its mean joint 1-2 (head to shoulder centre) distance;
both modalities are then linearly resampled to ``sequence_length`` frames
(shorter sequences are up-sampled) and the IMU channels are standardised with training-split
statistics.

========  =======  =========  ===========================  =========================
Pairs     Classes  Subjects   subject split (train/val/test)  per-frame shapes
========  =======  =========  ===========================  =========================
861       27       8          323 / 108 / 430               skeleton (20, 3), IMU (6,)
========  =======  =========  ===========================  =========================

(27 actions x 8 subjects x 4 trials, minus a8_s1_t4, a23_s6_t4, a27_s8_t4.)
"""

from __future__ import annotations

import logging
import os
import re
from typing import Optional, Sequence

import numpy as np
import scipy.io

from zoo.data.cache import content_key
from zoo.data.paired_sequences import PairedSequenceDataModule, PairedSequences, Transform

__all__ = ["UTDMHADDataModule", "UTD_MHAD_SPLITS", "read_utd_mhad"]

log = logging.getLogger(__name__)

#: split name -> (train, val, test) subjects; an empty val means a seeded hold-out of train
UTD_MHAD_SPLITS = {
    "subject": ((1, 3, 5), (7,), (2, 4, 6, 8)),
    "cross_subject": ((1, 3, 5, 7), (), (2, 4, 6, 8)),
}
UNPAIRED_POLICIES = ("error", "skip")
CENTRES = ("first", "frame")
_NAME = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_(skeleton|inertial)\.mat$")
NUM_JOINTS = 20
NUM_IMU_CHANNELS = 6


def _load_mat(path: str, variable: str) -> np.ndarray:
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # noqa: BLE001 - scipy raises several kinds for corrupt files
        raise ValueError(f"{path}: cannot be read as a .mat file ({type(err).__name__}: {err})") from err
    if variable not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path}: no variable {variable!r}; found {found}")
    return np.asarray(mat[variable], dtype=np.float64)


def read_utd_mhad(root: str, on_unpaired: str = "error") -> PairedSequences:
    """Read and check every skeleton/inertial pair under ``root``.

    :param root: folder holding ``Skeleton/`` and ``Inertial/``.
    :param on_unpaired: ``"error"`` raises on a recording whose other modality is missing;
        ``"skip"`` drops it with a warning.
    :returns: skeletons as ``(T, 20, 3)`` arrays, IMU as ``(T, 6)``, labels ``action - 1``.
    :raises FileNotFoundError: a folder is missing, or an unpaired file (``on_unpaired="error"``).
    :raises ValueError: a file with the wrong array shape or NaN values (naming the file).
    """
    if on_unpaired not in UNPAIRED_POLICIES:
        raise ValueError(f"data.on_unpaired={on_unpaired!r}; expected one of {list(UNPAIRED_POLICIES)}")
    folders = {"skeleton": os.path.join(root, "Skeleton"), "inertial": os.path.join(root, "Inertial")}
    files: dict[str, dict[tuple[int, int, int], str]] = {"skeleton": {}, "inertial": {}}
    for kind, folder in folders.items():
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"UTD-MHAD folder missing: {folder} (data.root={root})")
        for name in sorted(os.listdir(folder)):
            match = _NAME.match(name)
            if match and match.group(4) == kind:
                files[kind][tuple(int(g) for g in match.groups()[:3])] = os.path.join(folder, name)
    for kind, other in (("skeleton", "inertial"), ("inertial", "skeleton")):
        for key in sorted(set(files[kind]) - set(files[other])):
            a, s, t = key
            missing = os.path.join(folders[other], f"a{a}_s{s}_t{t}_{other}.mat")
            if on_unpaired == "error":
                raise FileNotFoundError(
                    f"{files[kind][key]} has no {other} pair: {missing} is missing "
                    "(set data.on_unpaired=skip to drop unpaired recordings)"
                )
            log.warning(f"Skipping {files[kind][key]}: {missing} is missing")
    keys = sorted(set(files["skeleton"]) & set(files["inertial"]))
    if not keys:
        raise FileNotFoundError(f"no paired a<action>_s<subject>_t<trial>_*.mat files under {root}")
    skeletons, imus, labels, subjects, names = [], [], [], [], []
    for key in keys:
        skel_path, imu_path = files["skeleton"][key], files["inertial"][key]
        skel = _load_mat(skel_path, "d_skel")
        if skel.ndim != 3 or skel.shape[:2] != (NUM_JOINTS, 3):
            raise ValueError(f"{skel_path}: d_skel has shape {skel.shape}; expected ({NUM_JOINTS}, 3, T)")
        imu = _load_mat(imu_path, "d_iner")
        if imu.ndim != 2 or imu.shape[1] != NUM_IMU_CHANNELS:
            raise ValueError(f"{imu_path}: d_iner has shape {imu.shape}; expected (T, {NUM_IMU_CHANNELS})")
        for path, x in ((skel_path, skel), (imu_path, imu)):
            if not np.isfinite(x).all():
                raise ValueError(f"{path}: {int((~np.isfinite(x)).sum())} NaN/inf values")
        skeletons.append(skel.transpose(2, 0, 1))  # (T, 20, 3)
        imus.append(imu)
        labels.append(key[0] - 1)
        subjects.append(key[1])
        names.append(f"a{key[0]}_s{key[1]}_t{key[2]}")
    return PairedSequences(
        a=skeletons, b=imus, labels=np.asarray(labels), subjects=np.asarray(subjects), keys=names
    )


class UTDMHADDataModule(PairedSequenceDataModule):
    """UTD-MHAD skeleton + inertial pairs; batches ``{"skeleton": (B, L, 20, 3), "inertial": (B, L, 6), "label", ...}``.

    Args:
        root: folder holding ``Skeleton/`` and ``Inertial/`` (``paths.data_dir/har/utd_mhad``).
        cache_dir: where the resampled arrays are cached.
        split: ``subject`` (train 1,3,5 / val 7 / test 2,4,6,8) or ``cross_subject``
            (train 1,3,5,7 with a seeded ``val_fraction`` held out / test 2,4,6,8) (default: ``subject``).
        sequence_length: frames after resampling (default: ``50``).
        on_unpaired: ``error`` or ``skip`` a recording without its other modality (default: ``error``).
        normalize_inertial: standardise IMU channels with training statistics (default: ``True``).
        skeleton_centre: ``first`` subtracts joint 2 of the first frame from every frame (keeps
            the trajectory of the body); ``frame`` subtracts each frame's own joint 2
            (default: ``frame``; the ``first`` variant was no better in a 10-epoch CMC probe).
        limited_k, train_transforms, batch_size, num_workers, seed, val_fraction, drop_last: see
            :class:`~zoo.data.paired_sequences.PairedSequenceDataModule`.
    """

    def __init__(
        self,
        *,
        root: str,
        cache_dir: str,
        split: str = "subject",
        sequence_length: int = 50,
        on_unpaired: str = "error",
        normalize_inertial: bool = True,
        skeleton_centre: str = "frame",
        val_fraction: float = 0.1,
        limited_k: Optional[int] = None,
        train_transforms: Optional[dict[str, Transform]] = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if split not in UTD_MHAD_SPLITS:
            raise ValueError(f"data.split={split!r}; expected one of {list(UTD_MHAD_SPLITS)}")
        if on_unpaired not in UNPAIRED_POLICIES:
            raise ValueError(f"data.on_unpaired={on_unpaired!r}; expected one of {list(UNPAIRED_POLICIES)}")
        if skeleton_centre not in CENTRES:
            raise ValueError(f"data.skeleton_centre={skeleton_centre!r}; expected one of {list(CENTRES)}")
        self.skeleton_centre = skeleton_centre
        self.root = os.path.abspath(root)
        self.split = split
        self.on_unpaired = on_unpaired
        train, val, test = UTD_MHAD_SPLITS[split]
        super().__init__(
            cache_dir=cache_dir, modalities=("skeleton", "inertial"), sequence_length=sequence_length,
            train_subjects=train, val_subjects=val, test_subjects=test, val_fraction=val_fraction,
            normalize=("inertial",) if normalize_inertial else (), limited_k=limited_k,
            train_transforms=train_transforms, batch_size=batch_size, num_workers=num_workers, seed=seed,
            drop_last=drop_last,
        )

    def cache_key(self) -> str:
        """The bytes of every recording file (not the root path), so a changed or added file rebuilds."""
        files = [os.path.join(self.root, folder, name)
                 for folder in ("Skeleton", "Inertial") if os.path.isdir(os.path.join(self.root, folder))
                 for name in sorted(os.listdir(os.path.join(self.root, folder))) if _NAME.match(name)]
        digest = content_key(files, root=self.root)
        return f"{digest}|{self.on_unpaired}|centre={self.skeleton_centre}"

    def read(self) -> PairedSequences:
        return read_utd_mhad(self.root, self.on_unpaired)

    def preprocess(self, modality: str, x: np.ndarray, key: str) -> np.ndarray:
        if modality != "skeleton":
            return x
        # centre on joint 2 (shoulder centre) of the first frame or of every frame; scale by the
        # mean joint 1-2 distance
        scale = float(np.linalg.norm(x[:, 0, :] - x[:, 1, :], axis=-1).mean())
        x = x - (x[:1, 1:2, :] if self.skeleton_centre == "first" else x[:, 1:2, :])
        if not scale > 1e-8:
            raise ValueError(f"{key} (skeleton): joints 1 and 2 coincide; cannot scale by their distance")
        return x / scale

    @property
    def num_joints(self) -> int:
        return self.frame_shape("skeleton")[0]

    @property
    def num_inertial_channels(self) -> int:
        return self.frame_shape("inertial")[0]

    def prepare_data(self) -> None:
        if not os.path.isdir(self.root):
            raise FileNotFoundError(
                f"data.root={self.root!r}: no such folder; set ZOO_DATA_DIR or data.root to the folder "
                "holding Skeleton/ and Inertial/"
            )
        super().prepare_data()
