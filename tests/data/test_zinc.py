"""ZINC: SMILES to graphs with RDKit, the split sizes, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zoo.utils.resolvers import default_data_dir
from zoo.data.zinc import ZincDataModule, atom_key, smiles_to_graph

ZINC = Path(default_data_dir()) / "molecules" / "zinc_subset"


def test_smiles_to_graph_bonds_both_ways():
    atoms, edge_index, bond_type = smiles_to_graph("C=CO")
    assert atoms == ["C", "C", "O"]
    assert edge_index.shape == (2, 4)
    assert sorted(bond_type.tolist()) == [0, 0, 1, 1]  # two single half-edges, two double


def test_charged_atoms_get_benchmarking_gnns_types():
    from rdkit import Chem

    mol = Chem.MolFromSmiles("C[NH2+]C")
    assert atom_key(mol.GetAtomWithIdx(1)) == "N H2 +"


def test_unparseable_smiles_raises():
    with pytest.raises(ValueError, match="RDKit cannot parse"):
        smiles_to_graph("C1CC(")


def test_missing_files_and_bad_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="smiles_score.csv"):
        ZincDataModule(root=str(tmp_path), cache_dir=str(tmp_path)).prepare_data()
    with pytest.raises(ValueError, match="data.target"):
        ZincDataModule(root=str(tmp_path), cache_dir=str(tmp_path), target="qed")


@pytest.mark.skipif(not ZINC.is_dir(), reason="shared data not present")
def test_real_split_sizes_and_features(tmp_path):
    from tests.conftest import ROOT

    dm = ZincDataModule(root=str(ZINC), cache_dir=str(ROOT / ".cache" / "zinc"))
    splits = dm.splits
    assert {k: len(v) for k, v in splits.items()} == {"train": 10000, "val": 1000, "test": 1000}
    g = splits["train"][0]
    assert g.x.size(1) == dm.num_features and g.edge_attr.size(1) == 4
    assert torch.allclose(g.x.sum(1), torch.ones(g.num_nodes))
    assert 20 <= dm.num_features <= 40
