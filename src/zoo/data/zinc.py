"""ZINC 12k molecular graph regression (constrained solubility), built from SMILES with RDKit.

Dwivedi et al., "Benchmarking Graph Neural Networks" (2020), https://arxiv.org/abs/2003.00982 ;
molecules from ZINC (Irwin & Shoichet, 2005). Target ``score`` = logP - SA - cycles (penalised
logP, Gomez-Bombarelli et al., https://arxiv.org/abs/1610.02415). Vertices are heavy atoms with a
one-hot atom type (element, formal charge, explicit hydrogens: the 28 benchmarking-gnns types,
vocabulary taken from the training split, plus one "other" slot); edges are bonds in both
directions with a one-hot bond type (single, double, triple, aromatic). Graphs are parsed once and
cached in ``cache_dir``.

======  =========  ==========  ============  ============
Split   molecules  mean atoms  mean bonds*2  target std
======  =========  ==========  ============  ============
train   10,000     23.2        49.8          2.0
val     1,000
test    1,000
======  =========  ==========  ============  ============
"""

from __future__ import annotations

import hashlib
import logging
import os
import os.path as osp
from collections import Counter
from typing import Any, Optional

import torch
from lightning.pytorch import LightningDataModule
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from zoo.data.resumable import ResumableGraphDataLoader, TrainOrder

__all__ = ["ZincDataModule", "BOND_TYPES", "smiles_to_graph"]

log = logging.getLogger(__name__)

BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
SPLITS = ("train", "val", "test")


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
        key = f"{osp.abspath(self.root)}:{os.stat(self._file('smiles_score.csv')).st_size}:{self.target}"
        return osp.join(self.cache_dir, f"zinc_{hashlib.sha1(key.encode()).hexdigest()[:12]}.pt")

    def prepare_data(self) -> None:
        """Parse every SMILES once and cache the graphs."""
        path = self._cache_path()
        if osp.isfile(path):
            return
        import pandas as pd

        table = pd.read_csv(self._file("smiles_score.csv"))
        if self.target not in table.columns or "SMILES" not in table.columns:
            raise ValueError(f"{self._file('smiles_score.csv')}: expected columns SMILES and {self.target!r}")
        index = pd.read_csv(self._file("indexes_train_val_test.csv"))
        rows = {s: [int(i) for i in index[s].dropna()] for s in SPLITS}
        log.info(f"Parsing {len(table)} ZINC SMILES with RDKit (cached to {path})")
        parsed = [smiles_to_graph(s) for s in table["SMILES"]]
        counts = Counter(k for i in rows["train"] for k in parsed[i][0])
        vocabulary = sorted(counts, key=lambda k: (-counts[k], k))
        os.makedirs(self.cache_dir, exist_ok=True)
        torch.save({"parsed": parsed, "y": table[self.target].tolist(), "rows": rows, "vocabulary": vocabulary},
                   path + ".tmp")
        os.replace(path + ".tmp", path)

    def _graph(self, atoms: list[str], edge_index, bond_type, y: float) -> Data:
        ids = {k: i for i, k in enumerate(self._vocabulary)}
        atom_type = torch.tensor([ids.get(a, len(ids)) for a in atoms], dtype=torch.long)
        x = torch.nn.functional.one_hot(atom_type, len(ids) + 1).float()
        edge_attr = torch.nn.functional.one_hot(bond_type, len(BOND_TYPES)).float()
        return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, y=torch.tensor([y]))

    @property
    def splits(self) -> dict[str, list[Data]]:
        if self._splits is None:
            self.prepare_data()
            cached = torch.load(self._cache_path(), weights_only=False)
            self._vocabulary = cached["vocabulary"]
            self._splits = {
                s: [self._graph(*cached["parsed"][i], cached["y"][i]) for i in cached["rows"][s]] for s in SPLITS
            }
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
