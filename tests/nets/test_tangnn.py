"""TANGNN layer and net: shapes, LC width, sampling, pooling, equivariance, bad input."""

from __future__ import annotations

import pytest
import torch

from zoo.nets.neighbor_sampling import sample_neighbors
from zoo.nets.tangnn import TANGNN, TANGNNLayer


def _graph(n: int = 30, e: int = 120, f: int = 10, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, f, generator=gen), torch.randint(0, n, (2, e), generator=gen)


def _net(**kwargs) -> TANGNN:
    torch.manual_seed(0)
    defaults = dict(in_channels=10, out_channels=3, hidden_channels=16, num_layers=2, top_m=5)
    defaults.update(kwargs)
    return TANGNN(**defaults)


def test_sample_neighbors_caps_in_degree_and_keeps_small_neighbourhoods():
    edge_index = torch.tensor([[1, 2, 3, 4, 5, 6, 0], [0, 0, 0, 0, 0, 0, 1]])
    kept = sample_neighbors(edge_index, 7, 3, torch.Generator().manual_seed(0))
    targets = edge_index[1, kept]
    assert int((targets == 0).sum()) == 3 and int((targets == 1).sum()) == 1
    assert kept.unique().numel() == kept.numel()  # without replacement


def test_sampled_edges_cover_every_neighbour_over_draws():
    edge_index = torch.tensor([[1, 2, 3, 4], [0, 0, 0, 0]])
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(50):
        seen.update(edge_index[0, sample_neighbors(edge_index, 5, 1, gen)].tolist())
    assert seen == {1, 2, 3, 4}


@pytest.mark.parametrize("lc", [False, True])
def test_net_shapes_and_lc_width(lc):
    net = _net(lc=lc)
    x, edge_index = _graph()
    assert net(x, edge_index).shape == (30, 3)
    assert net.embed(x, edge_index).shape == (30, 32 if lc else 16)
    assert repr(net) == f"TANGNN(10, 3, hidden=16, layers=2, lc={lc})"


def test_every_parameter_gets_a_gradient():
    net = _net(lc=True, edge_dim=4, batch_norm=True)
    x, edge_index = _graph()
    net(x, edge_index, torch.randn(edge_index.size(1), 4)).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_eval_is_permutation_equivariant_and_deterministic():
    net = _net().eval()
    x, edge_index = _graph()
    perm = torch.randperm(30)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(30)
    out = net(x, edge_index)
    assert torch.allclose(out, net(x, edge_index))
    assert torch.allclose(out[perm], net(x[perm], inverse[edge_index]), atol=1e-5)


def test_graph_pooling_gives_one_row_per_graph():
    net = _net(pool="mean", out_channels=1, edge_dim=2)
    x, edge_index = _graph(n=12, e=30)
    edge_index = edge_index[:, (edge_index < 6).all(0) | (edge_index >= 6).all(0)]
    batch = torch.tensor([0] * 6 + [1] * 6)
    out = net(x, edge_index, torch.randn(edge_index.size(1), 2), batch)
    assert out.shape == (2, 1)


def test_isolated_vertices_and_empty_edge_set_are_defined():
    net = _net().eval()
    x = torch.randn(8, 10)
    no_edges = torch.empty(2, 0, dtype=torch.long)
    out = net(x, no_edges)
    assert out.shape == (8, 3) and torch.isfinite(out).all()
    # an isolated vertex aggregates zero: only its own features and the attention reach it
    layer = TANGNNLayer(in_channels=10, out_channels=4, top_m=3).eval()
    edge_index = torch.tensor([[1, 2], [2, 1]])
    assert torch.allclose(layer.aggregate(x, edge_index)[0], torch.zeros(10))
    assert torch.isfinite(net(x, edge_index)).all()


def test_top_m_larger_than_vertex_count_uses_all_vertices():
    net = _net(top_m=500)
    x, edge_index = _graph()
    assert torch.isfinite(net(x, edge_index)).all()


def test_bad_input_raises_with_the_value():
    net = _net()
    x, edge_index = _graph()
    bad_index = edge_index.clone()
    bad_index[0, 0] = 30
    with pytest.raises(ValueError, match=r"\[0, 30\].*30 vertices"):
        net(x, bad_index)
    with pytest.raises(ValueError, match="vertex ids"):
        net(x, edge_index - 1)
    nan_x = x.clone()
    nan_x[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        net(nan_x, edge_index)
    with pytest.raises(ValueError, match="edge_index has shape"):
        net(x, edge_index.t())


@pytest.mark.parametrize("kwargs,key", [
    (dict(num_layers=0), "num_layers"), (dict(pool="max"), "pool"), (dict(sample_size=0), "sample_size"),
    (dict(combine="sum"), "combine"),
])
def test_bad_arguments_raise(kwargs, key):
    with pytest.raises(ValueError, match=key):
        _net(**kwargs)


def test_without_root_weight_the_vertex_joins_its_neighbourhood_mean():
    layer = TANGNNLayer(in_channels=2, out_channels=4, top_m=2, root_weight=False).eval()
    x = torch.tensor([[1.0, 0.0], [0.0, 3.0], [5.0, 5.0]])
    edge_index = torch.tensor([[1], [0]])
    agg = layer.aggregate(x, edge_index)
    assert torch.allclose(agg[0], torch.tensor([0.5, 1.5]))
    assert torch.allclose(agg[2], x[2])  # isolated: its own features
    assert layer.lin_root is None


def test_gate_combine_starts_as_the_neighbourhood_branch_and_learns_the_gate():
    x, edge_index = _graph()
    layer = TANGNNLayer(in_channels=10, out_channels=4, top_m=3, sample_size=None, combine="gate")
    assert layer.lin_mix is None and torch.equal(layer.gate, torch.zeros(4))
    neigh = layer.lin_neigh(layer.aggregate(x, edge_index)) + layer.lin_root(x)
    out = layer(x, edge_index)
    assert torch.allclose(out, neigh, atol=1e-6)
    out.pow(2).sum().backward()
    assert layer.gate.grad.abs().sum() > 0
    with torch.no_grad():
        layer.gate.fill_(0.5)
    assert torch.allclose(layer(x, edge_index), neigh + 0.5 * layer.attention(x), atol=1e-6)
    with pytest.raises(ValueError, match="combine='sum'"):
        TANGNNLayer(in_channels=10, out_channels=4, combine="sum")


def test_attention_off_is_the_neighbourhood_part_alone():
    """The ablation ``attention=False`` builds no top-m branch and combines the neighbourhood part with
    zeros, so the concat layer is ``W_mix [h_N || 0]`` and the gated one ``h_N``."""
    x, edge_index = _graph()
    layer = TANGNNLayer(in_channels=10, out_channels=4, sample_size=None, attention=False)
    assert layer.attention is None and not any("attention" in name for name, _ in layer.named_parameters())
    neigh = layer.lin_neigh(layer.aggregate(x, edge_index)) + layer.lin_root(x)
    expected = layer.lin_mix(torch.cat([neigh, torch.zeros_like(neigh)], dim=-1))
    assert torch.allclose(layer(x, edge_index), expected, atol=1e-6)
    gated = TANGNNLayer(in_channels=10, out_channels=4, sample_size=None, combine="gate", attention=False)
    assert gated.gate is None  # nothing left to gate
    assert torch.allclose(gated(x, edge_index), gated.lin_neigh(gated.aggregate(x, edge_index))
                          + gated.lin_root(x), atol=1e-6)
    net = _net(attention=False, lc=True)
    assert all(lay.attention is None for lay in net.layers)
    net(x, edge_index).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
