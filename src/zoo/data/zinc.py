"""ZINC 12k molecular graph regression (constrained solubility), built from SMILES with RDKit.

Dwivedi et al., "Benchmarking Graph Neural Networks" (2020), https://arxiv.org/abs/2003.00982 ;
molecules from ZINC (Irwin & Shoichet, 2005). Target ``score`` = logP - SA - cycles (penalised
logP, Gomez-Bombarelli et al., https://arxiv.org/abs/1610.02415). Vertices are heavy atoms with a
one-hot atom type (element, formal charge, explicit hydrogens: the 28 benchmarking-gnns types,
vocabulary taken from the training split, plus one "other" slot); edges are bonds in both
directions with a one-hot bond type (single, double, triple, aromatic). Graphs are parsed once and
cached in ``cache_dir`` as ``zinc-<key>.safetensors`` (no pickle), the key hashing the bytes of both raw
files (see :mod:`zoo.data.cache`): an edited file is parsed again, concurrent runs share one build.
An empty or NaN target of a molecule a split uses is an error naming the file and the row.

======  =========  ==========  ============  ============
Split   molecules  mean atoms  mean bonds*2  target std
======  =========  ==========  ============  ============
train   10,000     23.2        49.8          2.0
val     1,000
test    1,000
======  =========  ==========  ============  ============
"""

from __future__ import annotations

import logging
import os.path as osp
from collections import Counter
from typing import Any, Optional

import torch
from lightning.pytorch import LightningDataModule
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from zoo.data.cache import CacheError, cache_lock, content_key, load_tensors, save_tensors
from zoo.data.resumable import ResumableGraphDataLoader, TrainOrder

__all__ = ["ZincDataModule", "BOND_TYPES", "smiles_to_graph"]

log = logging.getLogger(__name__)

BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
SPLITS = ("train", "val", "test")
_CACHE_TENSORS = ("atom_key", "atom_ptr", "edge_index", "bond_type", "edge_ptr", "y",
                  "rows_train", "rows_val", "rows_test")


def atom_key(atom) -> str:
    """Benchmarking-gnns style atom type: element, explicit hydrogens, formal charge (e.g. ``N H1 +``)."""
    key = atom.GetSymbol()
    hydrogens = atom.GetNumExplicitHs()
    if hydrogens:
        key += f" H{hydrogens}"
    charge = atom.GetFormalCharge()
    if charge:
        key += " " + ("+" if charge > 0 else "-") * abs(charge)
    return key


def smiles_to_graph(smiles: str) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """``(atom keys, edge_index (2, 2B), bond type ids (2B))`` of one SMILES string.

    :raises ValueError: RDKit cannot parse the SMILES.
    """
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    atoms = [atom_key(a) for a in mol.GetAtoms()]
    rows, types = [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        name = str(bond.GetBondType())
        t = BOND_TYPES.index(name) if name in BOND_TYPES else 0
        rows += [(i, j), (j, i)]
        types += [t, t]
    edge_index = torch.tensor(rows, dtype=torch.long).t().reshape(2, -1)
    return atoms, edge_index, torch.tensor(types, dtype=torch.long)


class ZincDataModule(LightningDataModule):
    """ZINC 12k with the benchmarking-gnns split (rows 0-9999 train, 10000-10999 val, rest test).

    Args:
        root: folder holding ``smiles_score.csv`` and ``indexes_train_val_test.csv``
            (``paths.data_dir/molecules/zinc_subset``).
        cache_dir: where the parsed graphs are cached.
        batch_size: graphs per batch (default: ``128``).
        target: column to regress (default: ``"score"``).
        num_workers: loader workers (default: ``0``).
    """

    def __init__(self, *, root: str, cache_dir: str, batch_size: int = 128, target: str = "score",
                 num_workers: int = 0) -> None:
        super().__init__()
        if target not in ("score", "logp", "SA"):
            raise ValueError(f"data.target={target!r}; expected one of ['score', 'logp', 'SA']")
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size}; expected an integer >= 1")
        self.root = root
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.target = target
        self.num_workers = num_workers
        #: training order: one permutation per epoch drawn from its generator (saved in checkpoints)
        self.train_order = TrainOrder(0)
        self._splits: Optional[dict[str, list[Data]]] = None
        self._vocabulary: Optional[list[str]] = None

    def _file(self, name: str) -> str:
        path = osp.join(self.root, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f"ZINC file missing: {path} (data.root={self.root!r})")
        return path

    def _cache_path(self) -> str:
        """``<cache_dir>/zinc-<key>.safetensors``; the key hashes both raw files' bytes, the target and
        the RDKit version, so an edited file (even of the same size) is parsed again."""
        import rdkit

        files = [self._file("smiles_score.csv"), self._file("indexes_train_val_test.csv")]
        key = content_key(files, {"target": self.target, "rdkit": rdkit.__version__, "format": 2})
        return osp.join(self.cache_dir, f"zinc-{key}.safetensors")

    def _read_tables(self):
        """The SMILES strings, the checked targets and the split rows of the raw CSV files.

        :raises ValueError: a missing column, an empty / NaN / infinite / non-numeric target of a
            row a split uses, or a split row outside the table (each naming the file and the row).
        """
        import numpy as np
        import pandas as pd

        smiles_path, index_path = self._file("smiles_score.csv"), self._file("indexes_train_val_test.csv")
        table = pd.read_csv(smiles_path)
        if self.target not in table.columns or "SMILES" not in table.columns:
            raise ValueError(f"{smiles_path}: expected columns SMILES and {self.target!r}; found {list(table.columns)}")
        index = pd.read_csv(index_path)
        missing = [s for s in SPLITS if s not in index.columns]
        if missing:
            raise ValueError(f"{index_path}: split columns {missing} missing; found {list(index.columns)}")
        rows = {s: [int(i) for i in index[s].dropna()] for s in SPLITS}
        for split, ids in rows.items():
            bad = [i for i in ids if not 0 <= i < len(table)]
            if bad:
                raise ValueError(f"{index_path}: {split} row {bad[0]} is outside {smiles_path} ({len(table)} rows)")
        y = pd.to_numeric(table[self.target], errors="coerce").to_numpy(dtype=np.float64)
        used = sorted({i for ids in rows.values() for i in ids})
        bad = [i for i in used if not np.isfinite(y[i])]
        if bad:
            i = bad[0]
            raise ValueError(
                f"{smiles_path}: row {i} (line {i + 2}) has target {self.target}={table[self.target].iloc[i]!r}, "
                f"not a finite number ({len(bad)} such row(s) used by the splits); a regression target "
                "must be set for every molecule"
            )
        return [str(s) for s in table["SMILES"]], y, rows

    def prepare_data(self) -> None:
        """Parse every SMILES once and cache the graphs (one process builds, the others wait)."""
        path = self._cache_path()
        if osp.isfile(path):
            return
        with cache_lock(path):
            if osp.isfile(path):
                return
            smiles, y, rows = self._read_tables()
            log.info(f"Parsing {len(smiles)} ZINC SMILES with RDKit (cached to {path})")
            parsed = [smiles_to_graph(s) for s in smiles]
            counts = Counter(k for i in rows["train"] for k in parsed[i][0])
            vocabulary = sorted(counts, key=lambda k: (-counts[k], k))
            atom_keys = sorted({k for atoms, _, _ in parsed for k in atoms})
            key_id = {k: i for i, k in enumerate(atom_keys)}
            num_atoms = torch.tensor([len(p[0]) for p in parsed], dtype=torch.long)
            num_edges = torch.tensor([p[2].numel() for p in parsed], dtype=torch.long)
            tensors = {
                "atom_key": torch.tensor([key_id[k] for atoms, _, _ in parsed for k in atoms], dtype=torch.long),
                "atom_ptr": torch.cat([torch.zeros(1, dtype=torch.long), num_atoms.cumsum(0)]),
                "edge_index": torch.cat([p[1] for p in parsed], dim=1),
                "bond_type": torch.cat([p[2] for p in parsed]),
                "edge_ptr": torch.cat([torch.zeros(1, dtype=torch.long), num_edges.cumsum(0)]),
                "y": torch.tensor(y, dtype=torch.float64),
                **{f"rows_{s}": torch.tensor(rows[s], dtype=torch.long) for s in SPLITS},
            }
            save_tensors(path, tensors, {"atom_keys": atom_keys, "vocabulary": vocabulary, "target": self.target})

    @property
    def splits(self) -> dict[str, list[Data]]:
        if self._splits is None:
            self.prepare_data()
            path = self._cache_path()
            t, meta = load_tensors(path, required=_CACHE_TENSORS, required_meta=("atom_keys", "vocabulary"))
            self._vocabulary = list(meta["vocabulary"])
            ids = {k: i for i, k in enumerate(self._vocabulary)}
            to_vocab = torch.tensor([ids.get(k, len(ids)) for k in meta["atom_keys"]], dtype=torch.long)
            if t["atom_key"].numel() and int(t["atom_key"].max()) >= len(to_vocab):
                raise CacheError(f"{path}: atom ids beyond its {len(to_vocab)} atom keys; delete it to rebuild")
            atom_type = to_vocab[t["atom_key"]]
            a_ptr, e_ptr = t["atom_ptr"].tolist(), t["edge_ptr"].tolist()

            def graph(i: int) -> Data:
                x = torch.nn.functional.one_hot(atom_type[a_ptr[i]:a_ptr[i + 1]], len(ids) + 1).float()
                bond_type = t["bond_type"][e_ptr[i]:e_ptr[i + 1]]
                edge_attr = torch.nn.functional.one_hot(bond_type, len(BOND_TYPES)).float()
                edge_index = t["edge_index"][:, e_ptr[i]:e_ptr[i + 1]].contiguous()
                return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, y=t["y"][i:i + 1].float())

            self._splits = {s: [graph(i) for i in t[f"rows_{s}"].tolist()] for s in SPLITS}
        return self._splits

    def setup(self, stage: Optional[str] = None) -> None:
        self.splits  # noqa: B018

    @property
    def num_features(self) -> int:
        self.splits  # noqa: B018
        return len(self._vocabulary) + 1

    @property
    def num_edge_features(self) -> int:
        return len(BOND_TYPES)

    def train_dataloader(self) -> DataLoader:
        return ResumableGraphDataLoader(self.splits["train"], batch_size=self.batch_size,
                                        num_workers=self.num_workers, generator=self.train_order.loader_generator())

    def state_dict(self) -> dict[str, Any]:
        """The training order's generator state (checkpointed by Lightning, for exact resume)."""
        return {"train_order": self.train_order.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "train_order" in state_dict:
            self.train_order.load_state_dict(state_dict["train_order"])

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["val"], batch_size=self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["test"], batch_size=self.batch_size, num_workers=self.num_workers)
