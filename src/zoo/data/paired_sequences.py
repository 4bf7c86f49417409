"""Paired two-modality sequence data (e.g. skeleton + IMU) as a LightningDataModule.

The generic part of the multimodal HAR family (arXiv 2309.01262): any data set of time-aligned
recording pairs with a class label and a subject id. A subclass implements :meth:`read` (raw files
to :class:`PairedSequences`) and optionally :meth:`preprocess`; :class:`PairedArrayDataModule` reads
an ``.npz`` file of arrays, so new data needs no code. The base class resamples every sequence to
``sequence_length`` frames, caches the result in ``cache_dir``, splits by subject, normalises the
chosen modalities with training-split statistics, keeps ``limited_k`` labelled samples per class
when asked, and applies seeded per-modality augmentations to the training split.

A batch is a dict ``{<modality a>: (B, L, ...), <modality b>: (B, L, ...), "label": (B,),
"subject": (B,), "index": (B,)}``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from zoo.data.cache import cache_lock, content_key, load_arrays, save_arrays
from zoo.data.resumable import ResumableDataLoader, TrainOrder, generator_state, load_generator_state

__all__ = [
    "PairedSequences",
    "PairedSequenceDataset",
    "PairedSequenceDataModule",
    "PairedArrayDataModule",
    "resample_sequence",
]

log = logging.getLogger(__name__)

Transform = Callable[[Tensor, torch.Generator], Tensor]


@dataclass
class PairedSequences:
    """Raw paired recordings, time first in every array.

    :param a: ``N`` arrays of shape ``(T_i, ...)`` for the first modality.
    :param b: ``N`` arrays of shape ``(T'_i, ...)`` for the second modality.
    :param labels: ``(N,)`` integer class ids, ``0..C-1``.
    :param subjects: ``(N,)`` integer subject ids.
    :param keys: ``N`` names (file stems) used in error messages.
    """

    a: list[np.ndarray]
    b: list[np.ndarray]
    labels: np.ndarray
    subjects: np.ndarray
    keys: list[str]


def resample_sequence(x: np.ndarray, length: int, key: str = "") -> np.ndarray:
    """Linear interpolation of ``x`` (time first) to ``length`` frames.

    Sequences shorter than ``length`` are up-sampled the same way (documented handling).

    :raises ValueError: fewer than 2 frames, or non-finite values (naming ``key``).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        raise ValueError(f"{key or 'sequence'}: {x.shape[0]} frame(s); at least 2 are needed to resample to {length}")
    if not np.isfinite(x).all():
        raise ValueError(f"{key or 'sequence'}: {int((~np.isfinite(x)).sum())} NaN/inf values")
    flat = x.reshape(x.shape[0], -1)
    src = np.linspace(0.0, 1.0, x.shape[0])
    dst = np.linspace(0.0, 1.0, length)
    out = np.stack([np.interp(dst, src, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return out.reshape((length,) + x.shape[1:]).astype(np.float32)


class PairedSequenceDataset(Dataset):
    """Fixed-length paired sequences with optional seeded per-modality transforms."""

    def __init__(
        self,
        *,
        arrays: dict[str, Tensor],
        labels: Tensor,
        subjects: Tensor,
        indices: Tensor,
        transforms: Optional[dict[str, Transform]] = None,
        seed: int = 0,
    ) -> None:
        self.arrays = arrays
        self.labels = labels
        self.subjects = subjects
        self.indices = indices
        self.transforms = dict(transforms or {})
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, offset: int) -> None:
        """Give a data-loader worker (or rank) its own augmentation stream."""
        self.generator.manual_seed(self.seed + 7919 * offset)

    def __len__(self) -> int:
        return int(self.labels.numel())

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        item = {}
        for name, values in self.arrays.items():
            x = values[i]
            fn = self.transforms.get(name)
            item[name] = fn(x, self.generator) if fn is not None else x
        item["label"] = self.labels[i]
        item["subject"] = self.subjects[i]
        item["index"] = self.indices[i]
        return item


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, PairedSequenceDataset):
        rank = int(os.environ.get("RANK", 0))
        info.dataset.reseed(1 + worker_id + 1000 * rank)


class PairedSequenceDataModule(LightningDataModule):
    """Base datamodule for paired two-modality sequences split by subject.

    Args:
        cache_dir: where the resampled arrays are cached (never beside the raw data).
        modalities: the two modality names; the batch keys (default: ``("a", "b")``).
        sequence_length: frames every sequence is resampled to (default: ``50``).
        train_subjects / val_subjects / test_subjects: subject ids of each split. ``val_subjects``
            may be empty: then ``val_fraction`` of the training pairs (seeded) is held out.
        val_fraction: used only when ``val_subjects`` is empty (default: ``0.1``).
        normalize: modalities standardised per channel with training-split mean and std.
        limited_k: keep only ``k`` labelled training pairs per class (seeded), for the few-label
            protocol; ``None`` keeps all (default: ``None``).
        train_transforms: ``{modality: callable(x, generator)}`` applied to training pairs only.
        batch_size: global batch size, divided by the world size under DDP (default: ``64``).
        num_workers: data-loader workers (default: ``0``).
        seed: seeds the held-out split, ``limited_k``, shuffling and augmentations (default: ``0``).
        drop_last: drop the incomplete last training batch when the training split holds at least one
            full batch (UTD-MHAD: 323 = 5 x 64 + 3; a 3-pair batch gives a contrastive loss with 2
            negatives and moves the encoders' batch-norm statistics towards 3 samples every epoch);
            a split smaller than one batch (``limited_k``) is kept whole (default: ``False``).
    """

    def __init__(
        self,
        *,
        cache_dir: str,
        modalities: Sequence[str] = ("a", "b"),
        sequence_length: int = 50,
        train_subjects: Sequence[int] = (),
        val_subjects: Sequence[int] = (),
        test_subjects: Sequence[int] = (),
        val_fraction: float = 0.1,
        normalize: Sequence[str] = (),
        limited_k: Optional[int] = None,
        train_transforms: Optional[dict[str, Transform]] = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        modalities = tuple(modalities)
        if len(modalities) != 2 or modalities[0] == modalities[1] or {"label", "subject", "index"} & set(modalities):
            raise ValueError(
                f"data.modalities={list(modalities)!r}; expected two distinct names other than label/subject/index"
            )
        if sequence_length < 2:
            raise ValueError(f"data.sequence_length={sequence_length!r}; expected an integer >= 2")
        if limited_k is not None and limited_k < 1:
            raise ValueError(f"data.limited_k={limited_k!r}; expected None or an integer >= 1")
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size!r}; expected an integer >= 1")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"data.val_fraction={val_fraction!r}; expected a value in (0, 1)")
        for name in normalize:
            if name not in modalities:
                raise ValueError(f"data.normalize contains {name!r}; expected names from {list(modalities)}")
        for name in train_transforms or {}:
            if name not in modalities:
                raise ValueError(f"data.train_transforms has key {name!r}; expected names from {list(modalities)}")
        self.cache_dir = os.path.abspath(cache_dir)
        self.modalities = modalities
        self.sequence_length = int(sequence_length)
        self.train_subjects = tuple(int(s) for s in train_subjects)
        self.val_subjects = tuple(int(s) for s in val_subjects)
        self.test_subjects = tuple(int(s) for s in test_subjects)
        overlap = (set(self.train_subjects) & set(self.val_subjects + self.test_subjects)) | (
            set(self.val_subjects) & set(self.test_subjects))
        if overlap:
            raise ValueError(f"data: subjects {sorted(overlap)} are in more than one split")
        if not self.train_subjects or not self.test_subjects:
            raise ValueError(
                f"data.train_subjects={list(self.train_subjects)} and data.test_subjects="
                f"{list(self.test_subjects)} must both be non-empty"
            )
        self.val_fraction = val_fraction
        self.normalize = tuple(normalize)
        self.limited_k = limited_k
        self.train_transforms = dict(train_transforms or {})
        self.batch_size = batch_size
        self.batch_size_per_device = batch_size
        self.num_workers = num_workers
        self.seed = seed
        #: training order: one permutation per epoch drawn from its generator (saved in checkpoints)
        self.train_order = TrainOrder(seed)
        self.drop_last = drop_last
        self._arrays: Optional[dict[str, np.ndarray]] = None
        self._splits: Optional[dict[str, np.ndarray]] = None
        self.stats: dict[str, tuple[Tensor, Tensor]] = {}
        self.data_train: Optional[PairedSequenceDataset] = None
        self.data_val: Optional[PairedSequenceDataset] = None
        self.data_test: Optional[PairedSequenceDataset] = None

    # -- what a subclass provides -----------------------------------------------------------------
    def read(self) -> PairedSequences:
        """Read the raw recordings (subclasses implement this)."""
        raise NotImplementedError

    def preprocess(self, modality: str, x: np.ndarray, key: str) -> np.ndarray:
        """Per-recording preprocessing before resampling (identity by default)."""
        return x

    def cache_key(self) -> str:
        """What the cached arrays depend on besides the class and ``sequence_length``."""
        return ""

    # -- processing -------------------------------------------------------------------------------
    @property
    def cache_file(self) -> str:
        text = f"{type(self).__name__}|{self.cache_key()}|{self.sequence_length}|v2"
        tag = hashlib.sha256(text.encode()).hexdigest()[:20]
        return os.path.join(self.cache_dir, f"{type(self).__name__.lower()}_{tag}.npz")

    def _process(self) -> dict[str, np.ndarray]:
        raw = self.read()
        n = len(raw.keys)
        if not (len(raw.a) == len(raw.b) == len(raw.labels) == len(raw.subjects) == n) or n == 0:
            raise ValueError(
                f"{type(self).__name__}.read: {len(raw.a)} / {len(raw.b)} arrays, {len(raw.labels)} labels, "
                f"{len(raw.subjects)} subjects, {n} keys; expected the same non-zero count"
            )
        out: dict[str, list[np.ndarray]] = {m: [] for m in self.modalities}
        for i, key in enumerate(raw.keys):
            for name, x in zip(self.modalities, (raw.a[i], raw.b[i])):
                x = np.asarray(x, dtype=np.float64)
                if not np.isfinite(x).all():
                    raise ValueError(f"{key} ({name}): {int((~np.isfinite(x)).sum())} NaN/inf values")
                x = self.preprocess(name, x, key)
                out[name].append(resample_sequence(x, self.sequence_length, f"{key} ({name})"))
        arrays = {}
        for name in self.modalities:
            shapes = {a.shape for a in out[name]}
            if len(shapes) != 1:
                raise ValueError(f"{name}: recordings have different per-frame shapes {sorted(shapes)}")
            arrays[f"x_{name}"] = np.stack(out[name])
        arrays["labels"] = np.asarray(raw.labels, dtype=np.int64)
        arrays["subjects"] = np.asarray(raw.subjects, dtype=np.int64)
        arrays["keys"] = np.asarray(raw.keys)
        if arrays["labels"].min() < 0:
            raise ValueError(f"{type(self).__name__}: negative label {arrays['labels'].min()}")
        return arrays

    def _load(self) -> dict[str, np.ndarray]:
        if self._arrays is not None:
            return self._arrays
        path = self.cache_file
        if not os.path.isfile(path):
            with cache_lock(path):  # one process (rank, run) builds; the others wait and read
                if not os.path.isfile(path):
                    arrays = self._process()
                    save_arrays(path, arrays)  # atomic: readers never see a half-written file
                    log.info(f"Cached {len(arrays['labels'])} paired sequences in {path}")
        required = [f"x_{m}" for m in self.modalities] + ["labels", "subjects", "keys"]
        arrays = load_arrays(path, required=required)
        self._arrays = arrays
        return arrays

    def prepare_data(self) -> None:
        self._load()

    def _split_indices(self) -> dict[str, np.ndarray]:
        if self._splits is not None:
            return self._splits
        arrays = self._load()
        subjects, labels = arrays["subjects"], arrays["labels"]
        known = set(np.unique(subjects).tolist())
        for split, ids in (("train", self.train_subjects), ("val", self.val_subjects), ("test", self.test_subjects)):
            missing = sorted(set(ids) - known)
            if missing:
                raise ValueError(f"data.{split}_subjects contains {missing}; subjects in the data: {sorted(known)}")
        rng = np.random.default_rng(self.seed)
        train = np.flatnonzero(np.isin(subjects, self.train_subjects))
        test = np.flatnonzero(np.isin(subjects, self.test_subjects))
        if self.val_subjects:
            val = np.flatnonzero(np.isin(subjects, self.val_subjects))
        else:
            perm = rng.permutation(train)
            n_val = max(1, int(round(self.val_fraction * len(train))))
            val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        unlabelled = train
        if self.limited_k is not None:
            keep = []
            for c in np.unique(labels[train]):
                members = train[labels[train] == c]
                keep.append(rng.permutation(members)[: self.limited_k])
            train = np.sort(np.concatenate(keep))
        self._splits = {"train": train, "val": val, "test": test, "train_all": unlabelled}
        return self._splits

    def setup(self, stage: Optional[str] = None) -> None:
        if self.trainer is not None:
            world = self.trainer.world_size
            if self.batch_size % world != 0:
                raise ValueError(
                    f"data.batch_size={self.batch_size} is not divisible by the number of processes ({world})"
                )
            self.batch_size_per_device = self.batch_size // world
        if self.data_train is not None:
            return
        arrays = self._load()
        splits = self._split_indices()
        tensors = {m: torch.from_numpy(arrays[f"x_{m}"]).float() for m in self.modalities}
        # per-channel statistics over every frame of the training pairs (all of them, labelled or not)
        self.stats = {}
        for m in self.normalize:
            x = tensors[m][torch.from_numpy(splits["train_all"])]
            flat = x.reshape(-1, x.shape[-1])
            mean, std = flat.mean(0), flat.std(0).clamp_min(1e-6)
            self.stats[m] = (mean, std)
            tensors[m] = (tensors[m] - mean) / std
        labels = torch.from_numpy(arrays["labels"])
        subjects = torch.from_numpy(arrays["subjects"])

        def dataset(idx: np.ndarray, transforms: Optional[dict[str, Transform]], offset: int) -> PairedSequenceDataset:
            index = torch.from_numpy(idx)
            return PairedSequenceDataset(
                arrays={m: tensors[m][index] for m in self.modalities},
                labels=labels[index], subjects=subjects[index], indices=index,
                transforms=transforms, seed=self.seed + offset,
            )

        self.data_train = dataset(splits["train"], self.train_transforms, 0)
        self.data_val = dataset(splits["val"], None, 1)
        self.data_test = dataset(splits["test"], None, 2)
        rank = int(getattr(self.trainer, "global_rank", 0) or 0) if self.trainer is not None else 0
        if rank:
            self.data_train.reseed(1000 * rank)

    # -- what the datamodule provides -------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return int(self._load()["labels"].max()) + 1

    @property
    def num_pairs(self) -> int:
        return int(len(self._load()["labels"]))

    def frame_shape(self, modality: str) -> tuple[int, ...]:
        """Per-frame shape of ``modality`` after preprocessing, e.g. ``(20, 3)`` or ``(6,)``."""
        if modality not in self.modalities:
            raise ValueError(f"modality={modality!r}; expected one of {list(self.modalities)}")
        return tuple(self._load()[f"x_{modality}"].shape[2:])

    @property
    def split_sizes(self) -> dict[str, int]:
        return {k: int(len(v)) for k, v in self._split_indices().items() if k != "train_all"}

    def _loader(self, data: Optional[PairedSequenceDataset], shuffle: bool, stage: str) -> DataLoader:
        if data is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before requesting the {stage} loader")
        drop_last = stage == "train" and self.drop_last and len(data) >= self.batch_size_per_device
        kwargs = dict(batch_size=self.batch_size_per_device, num_workers=self.num_workers,
                      worker_init_fn=_worker_init if self.num_workers > 0 else None,
                      drop_last=drop_last, persistent_workers=self.num_workers > 0)
        if shuffle:
            return ResumableDataLoader(data, generator=self.train_order.loader_generator(), **kwargs)
        return DataLoader(data, **kwargs)

    def state_dict(self) -> dict[str, Any]:
        """The training order's and the training augmentations' generator states (checkpointed by
        Lightning, for exact resume; the augmentation stream is the main process's, ``num_workers=0``)."""
        state = {"train_order": self.train_order.state_dict()}
        if self.data_train is not None:
            state["train_augment"] = generator_state(self.data_train.generator)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "train_order" in state_dict:
            self.train_order.load_state_dict(state_dict["train_order"])
        if "train_augment" in state_dict and self.data_train is not None:
            load_generator_state(self.data_train.generator, state_dict["train_augment"])

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.data_train, True, "train")

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.data_val, False, "val")

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.data_test, False, "test")

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()


class PairedArrayDataModule(PairedSequenceDataModule):
    """Paired sequences from one ``.npz`` file: the generic reader for new data sets.

    The file holds ``<modality>`` arrays for both modalities, either fixed-length
    ``(N, T, ...)`` arrays or variable-length recordings concatenated along time into one
    ``(sum T_i, ...)`` array with ``<modality>_lengths`` ``(N,)`` giving each ``T_i``, plus
    ``labels`` ``(N,)`` and ``subjects`` ``(N,)`` (integers); ``keys`` ``(N,)`` (strings) is optional.
    It is read with ``allow_pickle=False``: object arrays are refused, since unpickling them could
    run code.

    Args:
        path: the ``.npz`` file.
        (the rest as :class:`PairedSequenceDataModule`)
    """

    def __init__(
        self,
        *,
        path: str,
        cache_dir: str,
        modalities: Sequence[str] = ("a", "b"),
        sequence_length: int = 50,
        train_subjects: Sequence[int] = (),
        val_subjects: Sequence[int] = (),
        test_subjects: Sequence[int] = (),
        val_fraction: float = 0.1,
        normalize: Sequence[str] = (),
        limited_k: Optional[int] = None,
        train_transforms: Optional[dict[str, Transform]] = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.path = os.path.abspath(path)
        super().__init__(
            cache_dir=cache_dir, modalities=modalities, sequence_length=sequence_length,
            train_subjects=train_subjects, val_subjects=val_subjects, test_subjects=test_subjects,
            val_fraction=val_fraction, normalize=normalize, limited_k=limited_k,
            train_transforms=train_transforms, batch_size=batch_size, num_workers=num_workers, seed=seed,
            drop_last=drop_last,
        )

    def cache_key(self) -> str:
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"data.path={self.path!r}: no such file")
        return f"{content_key([self.path])}|{','.join(self.modalities)}"

    def read(self) -> PairedSequences:
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"data.path={self.path!r}: no such file")
        try:
            with np.load(self.path, allow_pickle=False) as f:
                required = [*self.modalities, "labels", "subjects"]
                missing = [k for k in required if k not in f.files]
                if missing:
                    raise ValueError(f"{self.path}: arrays {missing} missing; found {sorted(f.files)}, need {required}")
                labels, subjects = f["labels"], f["subjects"]
                a, b = (self._sequences(f, m, len(labels)) for m in self.modalities)
                keys = [str(k) for k in f["keys"]] if "keys" in f.files else [f"pair {i}" for i in range(len(labels))]
        except ValueError as err:
            if "pickle" not in str(err):
                raise
            raise ValueError(
                f"data.path={self.path!r} holds an object (pickled) array, which zoo does not load (loading it "
                "could run code). Store variable-length sequences as one array <modality> of all frames "
                "concatenated plus <modality>_lengths (N,) frames per recording, and keys as a string array"
            ) from err
        return PairedSequences(a=a, b=b, labels=labels, subjects=subjects, keys=keys)

    def _sequences(self, f, name: str, n: int) -> list[np.ndarray]:
        """``n`` recordings of modality ``name``: rows of an ``(N, T, ...)`` array, or cut out of a
        ``(sum T_i, ...)`` array by ``<name>_lengths``."""
        values = f[name]
        if f"{name}_lengths" not in f.files:
            return list(values)
        lengths = np.asarray(f[f"{name}_lengths"])
        if lengths.ndim != 1 or len(lengths) != n or (lengths < 0).any() or int(lengths.sum()) != len(values):
            raise ValueError(
                f"{self.path}: {name}_lengths must be {n} non-negative frame counts summing to the "
                f"{len(values)} frames of {name!r}; got shape {lengths.shape}, sum {int(lengths.sum())}"
            )
        return np.split(values, np.cumsum(lengths)[:-1])
