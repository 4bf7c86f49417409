"""Neighbourhood structure for mean aggregation: a CSR built once per graph, uniform neighbour sampling
without replacement in O(|V| k^2) per step, and a sparse product with a cached transpose.

GraphSAGE, "Inductive Representation Learning on Large Graphs" (Hamilton et al., 2017),
https://arxiv.org/abs/1706.02216, aggregates over a fixed-size uniform sample of each vertex's
neighbours instead of the full neighbourhood. Everything here is plain torch (no torch-sparse /
pyg-lib); the random draws come from the given generator, by default the global torch RNG.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import Tensor

__all__ = ["CSRGraph", "csr_graph", "tensor_version", "sample_csr", "sample_neighbors", "mean_adjacency", "SparseMatmul", "Neighbourhood",
           "neighbourhood",
           "check_graph"]


@dataclass(frozen=True)
class CSRGraph:
    r"""The in-edges of every vertex, grouped by target (compressed sparse rows), built once per graph.

    Row :math:`i` holds the sources of the edges into :math:`i`, in ``rowptr[i]:rowptr[i + 1]``,
    sorted by source (the order of a coalesced COO matrix); duplicate edges are kept.

    Attributes:
        num_nodes: :math:`|V|`.
        rowptr: ``(|V| + 1,)`` row offsets.
        col: ``(|E|,)`` source of every edge, in row order.
        row: ``(|E|,)`` target of every edge, in row order.
        edge_id: ``(|E|,)`` column of ``edge_index`` of every edge, in row order.
        degree: ``(|V|,)`` in-degree.
        by_source: ``(|E|,)`` row-order positions sorted by (source, target): the transpose's order.
    """

    num_nodes: int
    rowptr: Tensor
    col: Tensor
    row: Tensor
    edge_id: Tensor
    degree: Tensor
    by_source: Tensor
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # per-graph derived matrices

    @classmethod
    def build(cls, edge_index: Tensor, num_nodes: int) -> "CSRGraph":
        source, target = edge_index[0].long(), edge_index[1].long()
        edge_id = (target * num_nodes + source).argsort(stable=True)
        col, row = source[edge_id], target[edge_id]
        degree = torch.bincount(row, minlength=num_nodes)
        rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
        torch.cumsum(degree, 0, out=rowptr[1:])
        by_source = (col * num_nodes + row).argsort(stable=True)
        return cls(num_nodes, rowptr, col, row, edge_id, degree, by_source)


def tensor_version(tensor: Tensor) -> Optional[int]:
    """The in-place version counter of ``tensor``, or ``None`` for an inference tensor (which has none)."""
    try:
        return tensor._version
    except RuntimeError:  # "Inference tensors do not track version counter"
        return None


# one entry per live edge_index tensor: (weak reference, version, num_nodes, structure, snapshot); the
# snapshot (a copy of the indices) is kept only for inference tensors, whose edits cannot be detected
_CACHE: dict[int, tuple] = {}
_LAST: list = [None]  # the last entry, also matched by content when the same graph is re-collated


def _same(entry: tuple, edge_index: Tensor, num_nodes: int) -> bool:
    ref, version, nodes, _, snapshot = entry
    if nodes != num_nodes:
        return False
    if snapshot is not None:
        return snapshot.shape == edge_index.shape and snapshot.device == edge_index.device \
            and torch.equal(snapshot, edge_index)
    tensor = ref()
    if tensor is None or tensor_version(tensor) != version:
        return False
    if tensor is edge_index:
        return True
    return tensor.shape == edge_index.shape and tensor.device == edge_index.device and torch.equal(tensor, edge_index)


def csr_graph(edge_index: Tensor, num_nodes: int) -> CSRGraph:
    """The :class:`CSRGraph` of ``edge_index``, built on first use and then reused.

    The cache is keyed by the tensor's identity (and its in-place version counter); a different
    tensor with the same content as the last graph (a data loader collating the same graph anew
    every step) is recognised by one O(|E|) comparison, as is an inference tensor (no version
    counter). Entries die with their tensors.
    """
    key = id(edge_index)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is edge_index and _same(hit, edge_index, num_nodes):
        return hit[3]
    last = _LAST[0]
    graph = last[3] if last is not None and _same(last, edge_index, num_nodes) else None
    if graph is None:
        graph = CSRGraph.build(edge_index, num_nodes)
    version = tensor_version(edge_index)
    snapshot = edge_index.clone() if version is None else None
    entry = (weakref.ref(edge_index, lambda _, key=key: _CACHE.pop(key, None)), version, num_nodes, graph, snapshot)
    _CACHE[key] = entry
    _LAST[0] = entry
    return graph


def sample_csr(graph: CSRGraph, sample_size: int, generator: Optional[torch.Generator] = None
               ) -> tuple[Tensor, Tensor]:
    r"""Draw, for every vertex, ``sample_size`` of its in-edges uniformly without replacement.

    A vertex with at most ``sample_size`` in-edges keeps all of them. For the others, Floyd's
    algorithm draws a uniform ``sample_size``-subset of the row positions: for
    :math:`j = d - k, \dots, d - 1` take :math:`t \sim U\{0, \dots, j\}`, or :math:`j` when
    :math:`t` was taken already (Bentley & Floyd, "A sample of brilliance", CACM 1987), vectorised
    over vertices. Cost :math:`O(|V|\,k^2)`; no pass over all edges.

    :returns: ``(position, count)``: the row-order positions of the kept edges, grouped by target
        vertex in vertex order, shape ``(|E'|,)``, and the number kept per vertex, ``(|V|,)``.
    """
    if sample_size < 1:
        raise ValueError(f"sample_size={sample_size}; expected an integer >= 1 (or None for all neighbours)")
    device = graph.rowptr.device
    degree, k = graph.degree, sample_size
    slots = torch.arange(k, device=device)
    picks = slots.expand(graph.num_nodes, k).clone()  # rows with at most k edges keep offsets 0..d-1
    big = degree > k
    if bool(big.any()):
        # t_s ~ U{0..j_s}, j_s = d - k + s, all drawn at once; then taken in turn, j_s on a repeat
        j = degree.unsqueeze(1) - k + slots
        floyd = torch.minimum((torch.rand(graph.num_nodes, k, dtype=torch.float64, generator=generator,
                                          device=device) * (j + 1)).long(), j)
        for s in range(1, k):
            repeat = (floyd[:, :s] == floyd[:, s:s + 1]).any(dim=1)
            floyd[:, s] = torch.where(repeat, j[:, s], floyd[:, s])
        picks = torch.where(big.unsqueeze(1), floyd, picks)
    count = degree.clamp(max=k)
    position = (graph.rowptr[:-1].unsqueeze(1) + picks)[slots < count.unsqueeze(1)]
    return position, count


def sample_neighbors(
    edge_index: Tensor, num_nodes: int, sample_size: int, generator: Optional[torch.Generator] = None
) -> Tensor:
    r"""Keep, for every target vertex, at most ``sample_size`` of its incoming edges, chosen uniformly
    without replacement (:func:`sample_csr` on the cached :func:`csr_graph`).

    A vertex with at most ``sample_size`` neighbours keeps all of them; a vertex without neighbours
    keeps none.

    Args:
        edge_index: ``(2, |E|)`` source/target indices (messages flow source -> target).
        num_nodes: number of vertices.
        sample_size: neighbours kept per target vertex (>= 1).
        generator: random generator (default: the global one).

    :returns: the positions of the kept edges (columns of ``edge_index``), shape ``(|E'|)``.
    """
    if sample_size < 1:
        raise ValueError(f"sample_size={sample_size}; expected an integer >= 1 (or None for all neighbours)")
    graph = csr_graph(edge_index, num_nodes)
    position, _ = sample_csr(graph, sample_size, generator)
    return graph.edge_id[position]


def _csr(rowptr: Tensor, col: Tensor, value: Tensor, num_nodes: int) -> Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta": products of CSR and dense are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(rowptr, col, value, (num_nodes, num_nodes), check_invariants=False)


def mean_adjacency(graph: CSRGraph, position: Optional[Tensor] = None, count: Optional[Tensor] = None,
                   self_loops: bool = False, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor, Tensor]:
    r"""The row-normalised adjacency :math:`A_{ij} = 1 / |S(i)|` over the kept edges, and its transpose.

    Args:
        graph: the graph's :class:`CSRGraph`.
        position, count: the kept edges from :func:`sample_csr` (default: every edge).
        self_loops: every vertex also averages itself (:math:`S(i) \cup \{i\}`); the loop is not
            part of the returned matrices, its weight is returned instead.
        dtype: value dtype.

    :returns: ``(adjacency, transpose, weight)``: two CSR matrices :math:`(|V|, |V|)` and the
        per-vertex weight :math:`1 / |S(i)|` (``(|V|,)``; the self-loop weight with ``self_loops``).
    """
    n = graph.num_nodes
    if position is None:
        count, rowptr, col, row, by_source = graph.degree, graph.rowptr, graph.col, graph.row, graph.by_source
    else:
        rowptr = torch.zeros(n + 1, dtype=torch.long, device=graph.rowptr.device)
        torch.cumsum(count, 0, out=rowptr[1:])
        col, row = graph.col[position], graph.row[position]
        by_source = col.argsort(stable=True)  # rows are in target order: (source, target) order
    weight = 1.0 / (count + 1 if self_loops else count).clamp(min=1).to(dtype)
    value = weight[row]
    adjacency = _csr(rowptr, col, value, n)
    t_rowptr = torch.zeros(n + 1, dtype=torch.long, device=col.device)
    torch.cumsum(torch.bincount(col, minlength=n), 0, out=t_rowptr[1:])
    transpose = _csr(t_rowptr, row[by_source], value[by_source], n)
    return adjacency, transpose, weight


class SparseMatmul(torch.autograd.Function):
    """``adjacency @ x`` for a constant sparse ``adjacency``, whose gradient uses the given
    ``transpose`` (built alongside it in O(|E|)) instead of transposing the matrix in backward."""

    @staticmethod
    def forward(ctx, x: Tensor, adjacency: Tensor, transpose: Tensor) -> Tensor:  # type: ignore[override]
        ctx.transpose = transpose
        return torch.sparse.mm(adjacency, x)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return torch.sparse.mm(ctx.transpose, grad.contiguous()), None, None


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


@dataclass(frozen=True)
class Neighbourhood:
    r"""The (sampled) neighbourhood of every vertex as a row-normalised sparse matrix.

    Attributes:
        graph: the full graph's :class:`CSRGraph`.
        adjacency, transpose: CSR :math:`(|V|, |V|)` matrices, :math:`A_{ij} = 1 / |S(i)|`.
        weight: ``(|V|,)`` the weight :math:`1 / |S(i)|` of each row.
        position: row-order positions of the kept edges in ``graph`` (``None``: every edge).
        self_loops: every vertex also averages itself, with weight ``weight`` (``position`` given) or
            through a loop inside ``adjacency`` (every edge).
    """

    graph: CSRGraph
    adjacency: Tensor
    transpose: Tensor
    weight: Tensor
    position: Optional[Tensor]
    self_loops: bool

    def aggregate(self, x: Tensor) -> Tensor:
        r""":math:`\sum_{j \in S(i)} A_{ij} x_j` for every vertex."""
        out = SparseMatmul.apply(x, self.adjacency.to(x.dtype), self.transpose.to(x.dtype))
        if self.self_loops and self.position is not None:
            out = out + x * self.weight.to(x.dtype).unsqueeze(-1)
        return out

    def edges(self, edge_index: Tensor) -> tuple[Optional[Tensor], Tensor, Tensor]:
        """``(edge_id, target, weight)`` of the kept edges, then one self loop per vertex with
        ``self_loops``: the columns of ``edge_index`` (``None``: every edge, in order), their targets
        and their weights :math:`1 / |S(i)|`."""
        n = self.graph.num_nodes
        if self.position is None:
            edge_id, target = None, edge_index[1].long()
        else:
            edge_id, target = self.graph.edge_id[self.position], self.graph.row[self.position]
        if self.self_loops:
            target = torch.cat([target, torch.arange(n, device=target.device)])
        return edge_id, target, self.weight[target]


def neighbourhood(edge_index: Tensor, num_nodes: int, sample_size: Optional[int] = None,
                  self_loops: bool = False, generator: Optional[torch.Generator] = None) -> Neighbourhood:
    r"""The mean-aggregation :class:`Neighbourhood` over all in-edges (cached per graph) or, with
    ``sample_size``, over at most ``sample_size`` in-edges per vertex drawn uniformly without
    replacement (:func:`sample_csr`); with ``self_loops`` every vertex also averages itself.

    Without sampling the matrix holds the coalesced COO matrix of ``edge_index`` (plus one loop per
    vertex), row by row in (target, source) order.
    """
    graph = csr_graph(edge_index, num_nodes)
    if sample_size is None:
        key = ("all", self_loops)
        if key not in graph.cache:
            full = graph
            if self_loops:  # the loops merged into the rows, at their place in source order
                loops = torch.arange(num_nodes, device=edge_index.device)
                full = CSRGraph.build(torch.cat([edge_index, torch.stack([loops, loops])], dim=1), num_nodes)
            adjacency, transpose, weight = mean_adjacency(full)
            graph.cache[key] = Neighbourhood(graph, adjacency, transpose, weight, None, self_loops)
        return graph.cache[key]
    position, count = sample_csr(graph, sample_size, generator)
    adjacency, transpose, weight = mean_adjacency(graph, position, count, self_loops=self_loops)
    return Neighbourhood(graph, adjacency, transpose, weight, position, self_loops)
