"""Uniform neighbour sampling without replacement, in plain torch (no torch-sparse / pyg-lib).

GraphSAGE, "Inductive Representation Learning on Large Graphs" (Hamilton et al., 2017),
https://arxiv.org/abs/1706.02216, aggregates over a fixed-size uniform sample of each vertex's
neighbours instead of the full neighbourhood.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["sample_neighbors", "check_graph"]


def sample_neighbors(
    edge_index: Tensor, num_nodes: int, sample_size: int, generator: Optional[torch.Generator] = None
) -> Tensor:
    r"""Keep, for every target vertex, at most ``sample_size`` of its incoming edges, chosen uniformly.

    Each edge draws a random key; edges are ordered by key, then stably by target, and the first
    ``sample_size`` edges of every target are kept. A vertex with at most ``sample_size`` neighbours
    keeps all of them; a vertex without neighbours keeps none. Cost :math:`O(|E| \log |E|)`.

    Args:
        edge_index: ``(2, |E|)`` source/target indices (messages flow source -> target).
        num_nodes: number of vertices.
        sample_size: neighbours kept per target vertex (>= 1).
        generator: random generator (default: the global one).

    :returns: the positions of the kept edges (columns of ``edge_index``), shape ``(|E'|)``.
    """
    if sample_size < 1:
        raise ValueError(f"sample_size={sample_size}; expected an integer >= 1 (or None for all neighbours)")
    num_edges = edge_index.size(1)
    if num_edges == 0:
        return torch.arange(0, device=edge_index.device)
    target = edge_index[1]
    keys = torch.rand(num_edges, generator=generator, device=edge_index.device)
    order = keys.argsort()
    order = order[target[order].argsort(stable=True)]
    counts = torch.bincount(target, minlength=num_nodes)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(num_edges, device=edge_index.device) - start[target[order]]
    return order[rank < sample_size]


def check_graph(x: Tensor, edge_index: Tensor) -> None:
    """Reject malformed graph input with a message naming the problem.

    :raises ValueError: ``x`` is not 2-D or holds NaN/inf, ``edge_index`` is not ``(2, |E|)`` of
        integers, or an index is negative or ``>= |V|``.
    """
    if x.dim() != 2:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (num_nodes, num_features)")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise ValueError(f"x holds NaN/inf in {bad} of {x.size(0)} vertices; clean or impute the features")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index has shape {tuple(edge_index.shape)}; expected (2, num_edges)")
    if edge_index.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"edge_index has dtype {edge_index.dtype}; expected torch.long")
    if edge_index.numel():
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= x.size(0):
            raise ValueError(
                f"edge_index holds vertex ids in [{lo}, {hi}] but x has {x.size(0)} vertices; "
                f"expected ids in [0, {x.size(0) - 1}]"
            )
