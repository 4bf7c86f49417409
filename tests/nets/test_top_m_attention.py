"""TopMAttention: shapes, selection, no N x N memory, permutation equivariance, gradient to ``a``."""

from __future__ import annotations

import resource
import sys

import pytest
import torch

from zoo.nets.top_m_attention import TopMAttention


def _layer(**kwargs) -> TopMAttention:
    torch.manual_seed(0)
    defaults = dict(in_channels=8, out_channels=12, top_m=4, heads=3)
    defaults.update(kwargs)
    return TopMAttention(**defaults)


def test_shapes_and_repr():
    layer = _layer()
    out = layer(torch.randn(30, 8))
    assert out.shape == (30, 12)
    assert torch.isfinite(out).all()
    assert repr(layer) == "TopMAttention(8, 12, top_m=4, heads=3)"


def test_selects_the_vertices_most_aligned_with_a():
    layer = _layer(top_m=3)
    x = torch.randn(20, 8)
    with torch.no_grad():
        x[[2, 7, 11]] = layer.a * torch.tensor([[1.0], [2.0], [3.0]])  # cosine 1 with a
    index, _, _, score = layer.select(x)
    assert sorted(index.tolist()) == [2, 7, 11]
    assert torch.allclose(score, torch.ones(3), atol=1e-5)


def test_top_m_larger_than_graph_selects_every_vertex():
    layer = _layer(top_m=50)
    x = torch.randn(6, 8)
    index, _, _, _ = layer.select(x)
    assert sorted(index.tolist()) == list(range(6))
    assert layer(x).shape == (6, 12)


def test_permutation_equivariance():
    layer = _layer().eval()
    x = torch.randn(40, 8)
    perm = torch.randperm(40)
    assert torch.allclose(layer(x)[perm], layer(x[perm]), atol=1e-5)


def test_gradient_reaches_a_and_a_learns():
    """Hard top-m alone gives ``a`` no gradient; the score gate does, and a few steps change ``a``."""
    layer = _layer()
    x = torch.randn(50, 8)
    target = torch.randn(50, 12)
    before = layer.a.detach().clone()
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    for _ in range(5):
        opt.zero_grad()
        loss = (layer(x) - target).pow(2).mean()
        loss.backward()
        assert layer.a.grad is not None and layer.a.grad.abs().sum() > 0
        opt.step()
    assert not torch.allclose(layer.a, before)


def test_candidate_sampling_in_training_only():
    layer = _layer(top_m=2, num_candidates=5)
    x = torch.randn(100, 8)
    gen = torch.Generator().manual_seed(0)
    train_index, *_ = layer.train().select(x, generator=gen)
    assert train_index.numel() == 2
    eval_index, *_ = layer.eval().select(x)
    assert torch.equal(eval_index, layer.scores(x).topk(2).indices)


def test_batched_graphs_attend_within_their_graph():
    layer = _layer(top_m=2).eval()
    x1, x2 = torch.randn(5, 8), torch.randn(7, 8)
    batch = torch.tensor([0] * 5 + [1] * 7)
    joint = layer(torch.cat([x1, x2]), batch)
    assert torch.allclose(joint[:5], layer(x1), atol=1e-5)
    assert torch.allclose(joint[5:], layer(x2), atol=1e-5)


@pytest.mark.parametrize("kwargs,key", [
    (dict(top_m=0), "top_m"), (dict(heads=5), "heads"), (dict(num_candidates=2), "num_candidates"),
    (dict(dropout=1.5), "dropout"),
])
def test_bad_arguments_raise(kwargs, key):
    with pytest.raises(ValueError, match=key):
        _layer(**kwargs)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB is Linux-specific")
def test_no_quadratic_memory():
    """N = 200,000: an N x N float matrix would need 160 GB; the forward+backward must stay small."""
    n = 200_000
    layer = _layer(in_channels=16, out_channels=16, top_m=8, heads=2)
    x = torch.randn(n, 16)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = layer(x)
    out.sum().backward()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert out.shape == (n, 16)
    assert grown_mb < 1024, f"peak RSS grew by {grown_mb:.0f} MB"
