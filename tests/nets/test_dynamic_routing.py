"""Squash and dynamic routing: lengths in [0, 1), coupling rows sum to 1, batching = per sample."""

from __future__ import annotations

import pytest
import torch

from zoo.nets.dynamic_routing import DynamicRouting, squash


def test_squash_length_in_unit_interval_and_direction_kept():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(200, 16, generator=g) * torch.logspace(-3, 2, 200).unsqueeze(1)
    v = squash(s)
    lengths = v.norm(dim=-1)
    assert bool((lengths >= 0).all()) and bool((lengths < 1).all())
    # |v| = |s|^2 / (1 + |s|^2)
    norm = s.norm(dim=-1)
    torch.testing.assert_close(lengths, norm**2 / (1 + norm**2), rtol=1e-4, atol=1e-6)
    cos = torch.nn.functional.cosine_similarity(v, s, dim=-1)
    torch.testing.assert_close(cos, torch.ones_like(cos), rtol=0, atol=1e-4)
    # monotone in |s|
    order = norm.argsort()
    assert bool((lengths[order][1:] >= lengths[order][:-1] - 1e-6).all())


def test_squash_of_zero_is_zero_with_finite_gradient():
    s = torch.zeros(3, 8, requires_grad=True)
    v = squash(s)
    v.sum().backward()
    assert torch.equal(v, torch.zeros_like(v))
    assert bool(torch.isfinite(s.grad).all())


@pytest.mark.parametrize("iterations", [1, 2, 3, 5])
def test_routing_coupling_sums_to_one_and_lengths_below_one(iterations):
    g = torch.Generator().manual_seed(iterations)
    u_hat = torch.randn(4, 30, 3, 8, generator=g) * 3
    v, c = DynamicRouting(iterations=iterations)(u_hat)
    assert v.shape == (4, 3, 8) and c.shape == (4, 30, 3)
    torch.testing.assert_close(c.sum(dim=-1), torch.ones(4, 30))
    assert bool((c >= 0).all())
    assert bool((v.norm(dim=-1) < 1).all())
    if iterations == 1:  # no agreement update: uniform coupling
        torch.testing.assert_close(c, torch.full_like(c, 1 / 3))


def test_routing_agreement_raises_coupling_to_the_agreeing_output():
    # every input predicts the same vector for output 0 and random vectors for output 1
    g = torch.Generator().manual_seed(0)
    u_hat = torch.randn(1, 20, 2, 4, generator=g)
    u_hat[:, :, 0] = torch.tensor([2.0, 0.0, 0.0, 0.0])
    _, c = DynamicRouting(iterations=3)(u_hat)
    assert float(c[..., 0].mean()) > 0.5


def test_routing_is_vectorised_over_samples_and_respects_the_mask():
    g = torch.Generator().manual_seed(1)
    u_hat = torch.randn(5, 12, 3, 6, generator=g)
    mask = torch.ones(5, 12, dtype=torch.bool)
    mask[1, 7:] = False
    mask[3, 2:] = False
    routing = DynamicRouting(iterations=3)
    v, c = routing(u_hat, mask)
    for b in range(5):
        keep = mask[b]
        v_b, c_b = routing(u_hat[b : b + 1, keep])
        torch.testing.assert_close(v[b], v_b[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(c[b, keep], c_b[0], rtol=1e-5, atol=1e-6)


def test_routing_rejects_zero_iterations():
    with pytest.raises(ValueError, match="iterations=0"):
        DynamicRouting(iterations=0)


def test_routing_normalisations_scale_the_sum():
    g = torch.Generator().manual_seed(2)
    u_hat = torch.randn(2, 16, 3, 4, generator=g) * 0.1
    # with one iteration the coupling is uniform, so s_j = sum_i u_hat / (3 * nu(n))
    s_sum = u_hat.sum(dim=1) / 3
    from zoo.nets.dynamic_routing import squash as sq

    for mode, nu in (("sum", 1.0), ("sqrt", 4.0), ("mean", 16.0)):
        v, _ = DynamicRouting(iterations=1, normalise=mode)(u_hat)
        torch.testing.assert_close(v, sq(s_sum / nu))
    with pytest.raises(ValueError, match=r"normalise='max'.*sqrt"):
        DynamicRouting(normalise="max")
