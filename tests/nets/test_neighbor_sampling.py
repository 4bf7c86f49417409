"""Neighbour sampling and the cached CSR: uniform without replacement, the cap, the global RNG, caching,
and evaluation outputs equal to the previous implementation (a frozen copy of its eval path)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch

from zoo.nets.neighbor_sampling import csr_graph, neighbourhood, sample_neighbors
from zoo.nets.tangnn import TANGNN

ROOT = Path(__file__).resolve().parents[2]


def _stars(copies: int, degrees: tuple[int, ...]) -> tuple[torch.Tensor, int]:
    """``copies`` disjoint groups; in each, one target vertex per entry of ``degrees`` with that many
    in-neighbours (sources are vertices of their own)."""
    edges, next_id = [], 0
    for _ in range(copies):
        for d in degrees:
            target, sources = next_id, list(range(next_id + 1, next_id + 1 + d))
            next_id += 1 + d
            edges += [(s, target) for s in sources]
    return torch.tensor(edges).t().contiguous(), next_id


def test_sampling_is_uniform_without_replacement_and_capped():
    """Vertices of in-degree 6 keep 3 edges: each of the 20 3-subsets equally often (chi-square), no
    duplicates; in-degrees 0, 2 and 3 keep every edge."""
    copies, k = 4000, 3
    edge_index, n = _stars(copies, (6, 0, 2, 3))
    torch.manual_seed(0)
    kept = sample_neighbors(edge_index, n, k)
    assert kept.unique().numel() == kept.numel()  # without replacement
    target = edge_index[1, kept]
    per_vertex = torch.bincount(target, minlength=n)
    degree = torch.bincount(edge_index[1], minlength=n)
    assert torch.equal(per_vertex, degree.clamp(max=k))  # the cap; small neighbourhoods kept whole
    # which 3 of the 6 sources each degree-6 vertex kept, as a subset of {0..5}
    subsets = {}
    for source, t in zip(edge_index[0, kept].tolist(), target.tolist()):
        if degree[t] == 6:
            subsets.setdefault(t, []).append(source - t - 1)
    counts = {c: 0 for c in itertools.combinations(range(6), 3)}
    for chosen in subsets.values():
        counts[tuple(sorted(chosen))] += 1
    expected = copies / len(counts)
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 43.8, (chi2, counts)  # 19 degrees of freedom, p = 0.001
    inclusion = torch.tensor([sum(c for s, c in counts.items() if i in s) for i in range(6)]) / copies
    assert (inclusion - 0.5).abs().max() < 0.03


def test_sampling_draws_from_the_global_rng():
    edge_index = torch.randint(0, 50, (2, 600), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    first = sample_neighbors(edge_index, 50, 4)
    state = torch.get_rng_state()
    torch.manual_seed(3)
    assert torch.equal(sample_neighbors(edge_index, 50, 4), first)
    assert torch.equal(torch.get_rng_state(), state)  # the same draws from the global generator
    assert not torch.equal(sample_neighbors(edge_index, 50, 4), first)


def test_every_neighbour_is_reachable_with_duplicate_edges():
    edge_index = torch.tensor([[1, 2, 3, 3, 4], [0, 0, 0, 0, 0]])  # 3 -> 0 twice
    seen = torch.zeros(5)
    torch.manual_seed(0)
    for _ in range(400):
        seen += torch.bincount(sample_neighbors(edge_index, 5, 2), minlength=5)
    assert (seen / 400 - 0.4).abs().max() < 0.08  # each edge kept with probability 2/5


def test_csr_is_built_once_per_graph():
    edge_index = torch.randint(0, 40, (2, 200), generator=torch.Generator().manual_seed(0))
    graph = csr_graph(edge_index, 40)
    assert csr_graph(edge_index, 40) is graph
    assert neighbourhood(edge_index, 40) is neighbourhood(edge_index, 40)  # the eval matrices too
    assert csr_graph(edge_index.clone(), 40) is graph  # the same graph collated anew
    edge_index[0, 0] = (edge_index[0, 0] + 1) % 40  # edited in place: rebuilt
    rebuilt = csr_graph(edge_index, 40)
    assert rebuilt is not graph and torch.equal(rebuilt.col.sort().values, edge_index[0].sort().values)
    assert csr_graph(edge_index, 41) is not rebuilt


# -- a frozen copy of the previous implementation's evaluation path (COO product, 4-D attention) ----
def _old_aggregate(layer, x, edge_index, edge_attr=None):
    n = x.size(0)
    if not layer.root_weight:
        loops = torch.arange(n)
        edge_index = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
        if edge_attr is not None:
            edge_attr = torch.cat([edge_attr, edge_attr.new_zeros(n, edge_attr.size(1))])
    source, target = edge_index
    degree = torch.bincount(target, minlength=n).clamp(min=1).to(x.dtype)
    weight = (1.0 / degree)[target]
    adjacency = torch.sparse_coo_tensor(torch.stack([target, source]), weight, (n, n), check_invariants=False)
    out = torch.sparse.mm(adjacency, x)
    if layer.lin_edge is not None and edge_attr is not None:
        out = out.index_add(0, target, layer.lin_edge(edge_attr) * weight.unsqueeze(-1))
    return out


def _old_attention(att, x):
    n, heads, d = x.size(0), att.heads, att.out_channels // att.heads
    query = att.lin_q(x)
    score = (x @ att.a) / (x.norm(dim=-1) * att.a.norm()).clamp_min(1e-8)
    score, index = score.topk(min(att.top_m, n))
    selected = x[index]
    key, value = att.lin_k(selected), att.lin_v(selected) * torch.sigmoid(score).unsqueeze(-1)
    q = query.view(1, n, heads, d).transpose(1, 2)
    k = key.view(1, -1, heads, d).transpose(1, 2)
    v = value.view(1, -1, heads, d).transpose(1, 2)
    weights = (q @ k.transpose(-1, -2) / math.sqrt(d)).softmax(dim=-1)
    return att.lin_o((weights @ v).transpose(1, 2).reshape(n, att.out_channels))


def _old_net(net, x, edge_index, edge_attr=None):
    h, outputs = x, []
    for layer in net.layers:
        neigh = layer.lin_neigh(_old_aggregate(layer, h, edge_index, edge_attr))
        if layer.lin_root is not None:
            neigh = neigh + layer.lin_root(h)
        attended = _old_attention(layer.attention, h)
        h = neigh + layer.gate * attended if layer.gate is not None else layer.lin_mix(torch.cat([neigh, attended], -1))
        h = torch.relu(h)
        outputs.append(h)
    return net.head(torch.cat(outputs, dim=-1) if net.lc else h)


@pytest.fixture(scope="module")
def cora():
    from zoo.data.planetoid import PlanetoidDataModule
    from zoo.utils.resolvers import default_data_dir

    return PlanetoidDataModule(root=f"{default_data_dir()}/planetoid",
                               cache_dir=str(ROOT / ".cache" / "planetoid")).data


@pytest.mark.parametrize("kwargs", [
    pytest.param(dict(hidden_channels=512, num_layers=3, top_m=30, lc=True, dropout=0.8, combine="gate",
                      root_weight=False), marks=pytest.mark.slow, id="tangnn_cora"),
    pytest.param(dict(hidden_channels=64, num_layers=2, top_m=30, lc=True, dropout=0.6, root_weight=False),
                 id="tangnn_concat_cora"),
    pytest.param(dict(hidden_channels=32, num_layers=2, top_m=20, heads=2), id="root_weight_2_heads"),
])
def test_eval_outputs_equal_the_previous_implementation_on_cora(cora, kwargs):
    torch.manual_seed(0)
    net = TANGNN(in_channels=cora.num_features, out_channels=7, **kwargs).eval()
    if net.layers[0].gate is not None:
        with torch.no_grad():
            for layer in net.layers:
                layer.gate.uniform_(-1, 1)  # a trained gate admits the attention
    with torch.no_grad():
        new, old = net(cora.x, cora.edge_index), _old_net(net, cora.x, cora.edge_index)
    assert torch.allclose(new, old, rtol=1e-5, atol=1e-6), (new - old).abs().max()
    assert torch.equal(new.argmax(-1), old.argmax(-1))


def test_eval_outputs_equal_the_previous_implementation_with_edge_features():
    gen = torch.Generator().manual_seed(0)
    x, edge_index, edge_attr = torch.randn(60, 6, generator=gen), torch.randint(0, 60, (2, 400), generator=gen), \
        torch.randn(400, 3, generator=gen)
    for root_weight in (True, False):
        torch.manual_seed(1)
        net = TANGNN(in_channels=6, out_channels=2, hidden_channels=16, num_layers=3, top_m=4, heads=4,
                     sample_size=None, edge_dim=3, lc=True, root_weight=root_weight).eval()
        with torch.no_grad():
            new, old = net(x, edge_index, edge_attr), _old_net(net, x, edge_index, edge_attr)
        assert torch.allclose(new, old, rtol=1e-5, atol=1e-6), (new - old).abs().max()


def test_inference_tensors_are_cached_by_content():
    """Lightning validates under ``torch.inference_mode``, where tensors have no version counter."""
    with torch.inference_mode():
        edge_index = torch.randint(0, 30, (2, 100), generator=torch.Generator().manual_seed(0))
        graph = csr_graph(edge_index, 30)
        assert csr_graph(edge_index, 30) is graph
        edge_index[0, 0] = (edge_index[0, 0] + 1) % 30
        assert csr_graph(edge_index, 30) is not graph
        net = TANGNN(in_channels=4, out_channels=2, hidden_channels=8, top_m=3).eval()
        assert net(torch.randn(30, 4), edge_index).shape == (30, 2)
