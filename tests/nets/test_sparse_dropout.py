"""Input dropout on the non-zeros only: the distribution of F.dropout, eval unchanged, Cora's nets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.nets.gnn_baselines import GAT, GCN
from zoo.nets.sparse_dropout import sparse_input_dropout
from zoo.nets.tangnn import TANGNN


def _sparse_features(n=400, f=300, density=0.02, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, f, generator=gen)
    return x * (torch.rand(n, f, generator=gen) < density)


@pytest.mark.parametrize("p", [0.5, 0.8])
def test_keep_probability_and_scale_equal_f_dropout(p):
    x = _sparse_features()
    nonzero = x != 0
    torch.manual_seed(0)
    kept = torch.zeros_like(x)
    draws = 200
    for _ in range(draws):
        out = sparse_input_dropout(x, p)
        assert torch.equal(out[~nonzero], torch.zeros_like(out[~nonzero]))  # zeros stay zero
        on = out[nonzero] != 0
        assert torch.allclose(out[nonzero][on], x[nonzero][on] / (1 - p))  # scaled by 1 / (1 - p)
        kept += out != 0
    rate = kept[nonzero] / draws  # per-entry keep frequency, ~ Binomial(draws, 1 - p) / draws
    assert abs(float(rate.mean()) - (1 - p)) < 0.01
    sd = (p * (1 - p) / draws) ** 0.5
    assert abs(float(rate.std()) - sd) < 0.25 * sd  # independent per entry, as F.dropout's
    # the same first two moments as F.dropout over the same draws
    ref = torch.stack([F.dropout(x, p, True) for _ in range(draws)]).mean(0)
    ours = torch.stack([sparse_input_dropout(x, p) for _ in range(draws)]).mean(0)
    assert abs(float(ours.sum() - ref.sum())) < 0.02 * float(x.sum())


def test_eval_and_zero_p_return_the_input_and_gradients_flow():
    x = _sparse_features()
    assert sparse_input_dropout(x, 0.5, training=False) is x
    assert sparse_input_dropout(x, 0.0) is x
    leaf = x.clone().requires_grad_()
    torch.manual_seed(0)
    out = sparse_input_dropout(leaf, 0.5)
    out.sum().backward()
    assert torch.equal(leaf.grad, (out != 0).float() * 2.0)  # d out / d x: kept / (1 - p), zero otherwise
    dense = torch.rand(50, 20) + 0.1
    torch.manual_seed(1)
    dense_out = sparse_input_dropout(dense, 0.5)
    torch.manual_seed(1)
    assert torch.equal(dense_out, F.dropout(dense, 0.5, True))  # dense input: F.dropout itself
    with pytest.raises(ValueError, match="p=1.0"):
        sparse_input_dropout(x, 1.0)


def test_the_cached_pattern_follows_in_place_edits():
    x = _sparse_features()
    sparse_input_dropout(x, 0.5)
    x[0, 0] = 5.0
    x[1].zero_()
    torch.manual_seed(0)
    out = sparse_input_dropout(x, 0.5)
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    kept = sum(bool(sparse_input_dropout(x, 0.5)[0, 0] != 0) for _ in range(200))
    assert 70 < kept < 130


@pytest.mark.parametrize("make", [
    lambda f: GCN(in_channels=f, out_channels=3), lambda f: GAT(in_channels=f, out_channels=3),
    lambda f: TANGNN(in_channels=f, out_channels=3, hidden_channels=16, top_m=5, dropout=0.5),
], ids=["gcn", "gat", "tangnn"])
def test_graph_nets_drop_their_input_on_the_non_zeros(make):
    x = _sparse_features(n=60, f=40, density=0.05)
    edge_index = torch.randint(0, 60, (2, 300), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    net = make(40)
    net.eval()
    out = net(x, edge_index)
    assert torch.equal(out, net(x, edge_index))  # evaluation: no dropout, deterministic
    net.train()
    torch.manual_seed(0)
    first = net(x, edge_index)
    torch.manual_seed(0)
    assert torch.equal(first, net(x, edge_index)) and not torch.allclose(first, out)


def test_inference_mode_input():
    with torch.inference_mode():
        x = _sparse_features()
        out = sparse_input_dropout(x, 0.5)
        assert torch.equal(out[x == 0], torch.zeros_like(out[x == 0]))
