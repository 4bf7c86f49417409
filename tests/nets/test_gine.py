"""GINE: the same-script ZINC baseline sits at TANGNN's parameter budget and trains on real ZINC."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from torch_geometric.loader import DataLoader

from tests.conftest import compose_train
from zoo.nets.gine import GINE
from zoo.utils.resolvers import bind_datamodule, default_data_dir

ZINC = Path(default_data_dir()) / "molecules" / "zinc_subset"


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_bad_options_name_the_key():
    with pytest.raises(ValueError, match="model.net.hidden_channels"):
        GINE(in_channels=4, edge_dim=2, hidden_channels=0)
    with pytest.raises(ValueError, match="model.net.pool"):
        GINE(in_channels=4, edge_dim=2, pool="max")
    net = GINE(in_channels=4, edge_dim=2, hidden_channels=8)
    with pytest.raises(ValueError, match=r"edge features have shape \(3, 5\)"):
        net(torch.ones(2, 4), torch.tensor([[0, 1, 0], [1, 0, 0]]), torch.ones(3, 5))


@pytest.mark.skipif(not ZINC.is_dir(), reason="shared data not present")
def test_gine_zinc_is_at_tangnn_budget_and_learns_on_real_zinc(tmp_path):
    nets = {}
    for experiment in ("gine_zinc", "tangnn_zinc"):
        cfg = compose_train(tmp_path / experiment, [f"experiment={experiment}"])
        datamodule = hydra.utils.instantiate(cfg.data)
        datamodule.setup()
        bind_datamodule(datamodule)
        nets[experiment] = hydra.utils.instantiate(cfg.model.net)
    assert _params(nets["tangnn_zinc"]) == 186_245
    assert abs(_params(nets["gine_zinc"]) / _params(nets["tangnn_zinc"]) - 1) < 0.05

    torch.manual_seed(0)
    net = nets["gine_zinc"]
    loader = DataLoader(datamodule.splits["train"][:512], batch_size=64, shuffle=False)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    fixed = next(iter(loader))

    def fixed_loss() -> float:
        net.eval()
        with torch.no_grad():
            out = net(fixed.x, fixed.edge_index, fixed.edge_attr, fixed.batch).view(-1)
        net.train()
        return float(torch.nn.functional.l1_loss(out, fixed.y.view(-1)))

    before = fixed_loss()
    for _ in range(3):
        for batch in loader:
            out = net(batch.x, batch.edge_index, batch.edge_attr, batch.batch)
            assert out.shape == (batch.num_graphs, 1)
            loss = torch.nn.functional.l1_loss(out.view(-1), batch.y.view(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert fixed_loss() < 0.8 * before
