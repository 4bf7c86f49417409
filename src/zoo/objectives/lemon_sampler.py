"""LEMON: "Language Model-based Negative Sampling of Knowledge Graph Embeddings" (arXiv 2203.04703)."""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from zoo.objectives.negative_sampler import NegativeSampler

__all__ = ["LemonNegativeSampler"]

log = logging.getLogger(__name__)


class LemonNegativeSampler(NegativeSampler):
    r"""Negatives drawn from the language-model clusters nearest the kept entity, from
    "Language Model-based Negative Sampling of Knowledge Graph Embeddings" (Alam et al., 2022,
    https://arxiv.org/abs/2203.04703).

    Fitting takes one text embedding :math:`x_e` per entity (the KG datamodule's
    ``entity_embeddings``: all-MiniLM-L6-v2 of the entity texts, NaN rows where an entity has none):

    1. reduce with PCA to ``pca_dim`` dimensions,
    2. cluster with k-means into ``num_clusters`` clusters :math:`C_1..C_K` (centroids :math:`\mu_k`),
    3. for each entity :math:`e`, keep its ``khop`` nearest clusters
       :math:`N(e) = \operatorname{top\text{-}khop}_k(-\lVert x_e - \mu_k \rVert)`.

    Sampling, for a positive :math:`(h, r, t)`: corrupt the head or the tail (probability 1/2). With
    probability ``lemon_ratio`` the replacement is LEMON's, otherwise a uniform entity. LEMON's is
    drawn uniformly from

    .. math::
        \mathcal{C}(e) = \{c \in \textstyle\bigcup_{k \in N(e)} C_k :
                          \cos(x_c, x_e) \ge \tau\}

    where :math:`e` is the kept entity (the tail when the head is corrupted) and :math:`\tau` is
    ``min_cosine`` (no filter when ``None``; the paper's optional filter uses 0.5). A candidate that is
    the replaced entity itself or forms a known training triple, one for which ``max_tries`` draws
    found none above :math:`\tau`, and any corruption whose kept entity has no text falls back to a
    uniform entity. Everything is tensor operations on the device: the union is sampled by drawing
    :math:`u \sim U\{0, \sum_{k \in N(e)} |C_k| - 1\}` and locating :math:`u` in the cumulative
    cluster sizes; the cosine filter is rejection sampling from the union (uniform on
    :math:`\mathcal{C}(e)`).

    Args:
        num_negatives, filtered, seed: see :class:`NegativeSampler`.
        num_clusters: k-means clusters :math:`K` (default: ``15``, the paper's example).
        khop: nearest clusters :math:`|N(e)|` per kept entity (default: ``3``, the authors' code).
        pca_dim: PCA dimensions before clustering (default: ``32``; the authors' 2 is very coarse).
        min_cosine: the cosine threshold :math:`\tau` on the full text embeddings, or ``None``
            (default: ``None``).
        lemon_ratio: probability that a negative is LEMON's rather than uniform (default: ``1.0``).
        max_tries: draws per negative for the cosine filter before the uniform fallback (default: ``10``).
    """

    needs_entity_embeddings = True

    def __init__(self, *, num_negatives: int, num_clusters: int = 15, khop: int = 3, pca_dim: int = 32,
                 min_cosine: Optional[float] = None, lemon_ratio: float = 1.0, max_tries: int = 10,
                 filtered: bool = True, seed: int = 0) -> None:
        super().__init__(num_negatives=num_negatives, filtered=filtered, seed=seed)
        if num_clusters < 1:
            raise ValueError(f"model.sampler.num_clusters={num_clusters}; expected >= 1")
        if not 1 <= khop <= num_clusters:
            raise ValueError(f"model.sampler.khop={khop}; expected 1 <= khop <= num_clusters={num_clusters}")
        if pca_dim < 1:
            raise ValueError(f"model.sampler.pca_dim={pca_dim}; expected >= 1")
        if min_cosine is not None and not -1.0 <= min_cosine <= 1.0:
            raise ValueError(f"model.sampler.min_cosine={min_cosine}; expected null or a value in [-1, 1]")
        if not 0.0 <= lemon_ratio <= 1.0:
            raise ValueError(f"model.sampler.lemon_ratio={lemon_ratio}; expected a value in [0, 1]")
        if max_tries < 1:
            raise ValueError(f"model.sampler.max_tries={max_tries}; expected >= 1")
        self.num_clusters = num_clusters
        self.khop = khop
        self.pca_dim = pca_dim
        self.min_cosine = None if min_cosine is None else float(min_cosine)
        self.lemon_ratio = float(lemon_ratio)
        self.max_tries = int(max_tries)
        self.num_missing_text = 0
        self._source: Optional[Tensor] = None
        for name in ("cluster", "near", "order", "offset", "size"):
            self.register_buffer(name, torch.empty(0, dtype=torch.long), persistent=False)
        self.register_buffer("unit", torch.empty(0), persistent=False)

    # -- fitting ----------------------------------------------------------------------------------
    def _fit(self, triples: Tensor, *, entity_embeddings: Optional[Tensor]) -> None:
        from sklearn.cluster import KMeans
        from sklearn.decomposition import PCA

        num_entities = self.num_entities
        if entity_embeddings is None:
            raise ValueError("LEMON needs entity embeddings: the data root has no entity2text.txt "
                             "(set data.text_root to a directory with one, or use another sampler)")
        if entity_embeddings.dim() != 2 or len(entity_embeddings) != num_entities:
            raise ValueError(f"LEMON got entity embeddings of shape {tuple(entity_embeddings.shape)} for "
                             f"{num_entities} entities; expected ({num_entities}, dim)")
        vectors_all = entity_embeddings.detach().float().cpu()
        has_text = ~torch.isnan(vectors_all).any(dim=1)
        self.num_missing_text = int((~has_text).sum())
        if self.num_missing_text:
            log.warning(f"LEMON: {self.num_missing_text} of {num_entities} entities have no text; "
                        "corruptions that keep them fall back to uniform sampling")
        vectors = vectors_all[has_text].numpy()
        if len(vectors) < self.num_clusters:
            raise ValueError(f"LEMON: {len(vectors)} entities with text < model.sampler.num_clusters={self.num_clusters}")
        dim = min(self.pca_dim, vectors.shape[1], len(vectors))
        reduced = PCA(n_components=dim, random_state=self.seed).fit_transform(vectors)
        kmeans = KMeans(n_clusters=self.num_clusters, n_init=3, random_state=self.seed).fit(reduced)
        labels = torch.as_tensor(kmeans.labels_, dtype=torch.long)
        dist = torch.cdist(torch.as_tensor(reduced, dtype=torch.float32),
                           torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32))
        near_text = dist.topk(self.khop, dim=1, largest=False).indices
        text_ids = torch.nonzero(has_text).view(-1)
        cluster = torch.full((num_entities,), -1, dtype=torch.long)
        cluster[text_ids] = labels
        near = torch.full((num_entities, self.khop), -1, dtype=torch.long)
        near[text_ids] = near_text
        # members of each cluster are contiguous in `order`: order[offset[k] : offset[k] + size[k]]
        sort = torch.argsort(labels, stable=True)
        size = torch.bincount(labels, minlength=self.num_clusters)
        device = self.true_triples.keys.device
        self.cluster = cluster.to(device)
        self.near = near.to(device)
        self.order = text_ids[sort].to(device)
        self.size = size.to(device)
        self.offset = (torch.cumsum(size, 0) - size).to(device)
        if self.min_cosine is not None:
            self.unit = torch.nn.functional.normalize(vectors_all.nan_to_num(0.0), dim=1).to(device)

    # -- sampling ---------------------------------------------------------------------------------
    def _draw_from_union(self, near: Tensor, g: torch.Generator) -> Tensor:
        """One entity per row, uniform on the union of the clusters ``near`` ``(..., khop)``."""
        sizes = self.size[near]
        cum = torch.cumsum(sizes, dim=-1)
        total = cum[..., -1]
        u = (torch.rand(total.shape, device=near.device, generator=g) * total).long().clamp_max(total - 1)
        which = (u.unsqueeze(-1) >= cum).sum(-1, keepdim=True)    # index of the cluster holding u
        before = (cum - sizes).gather(-1, which).squeeze(-1)
        cluster = near.gather(-1, which).squeeze(-1)
        return self.order[self.offset[cluster] + (u - before)]

    def _cosine(self, a: Tensor, b: Tensor) -> Tensor:
        return (self.unit[a] * self.unit[b]).sum(-1)

    def corrupt_batch(self, positive_batch: Tensor) -> Tensor:
        device = positive_batch.device
        g = self.generator(device)
        negatives = positive_batch.unsqueeze(1).repeat(1, self.num_negatives, 1)
        shape = tuple(negatives.shape[:2])
        corrupt_head = torch.rand(shape, device=device, generator=g) < 0.5
        column = torch.where(corrupt_head, 0, 2)
        kept = torch.where(corrupt_head, negatives[..., 2], negatives[..., 0])
        original = negatives.gather(2, column.unsqueeze(-1)).squeeze(-1)

        near = self.near[kept]                                    # (B, N, khop), -1 without text
        has_text = near[..., 0] >= 0
        near = near.clamp_min(0)
        candidate = self._draw_from_union(near, g)
        bad = ~has_text
        if self.min_cosine is not None:
            # rejection sampling: redraw the rows below the threshold, at most max_tries draws in all
            ok = self._cosine(kept, candidate) >= self.min_cosine
            for _ in range(self.max_tries - 1):
                if bool(ok[has_text].all()):
                    break
                redraw = self._draw_from_union(near, g)
                candidate = torch.where(ok, candidate, redraw)
                ok = ok | (self._cosine(kept, redraw) >= self.min_cosine)
            bad = bad | ~ok

        negatives.scatter_(2, column.unsqueeze(-1), candidate.unsqueeze(-1))
        bad = bad | (candidate == original)
        if self.filtered:
            bad |= self.true_triples(negatives)
        uniform = self._random_entities(shape, device, exclude=original)
        use_lemon = torch.rand(shape, device=device, generator=g) < self.lemon_ratio
        take = use_lemon & ~bad
        final = torch.where(take, candidate, uniform)
        negatives.scatter_(2, column.unsqueeze(-1), final.unsqueeze(-1))
        # 0: uniform by the mixing ratio, 1: LEMON's candidate, 2: uniform fallback
        self._source = torch.where(take, 1, torch.where(use_lemon, 2, 0))
        return negatives

    @property
    def last_source(self) -> Optional[Tensor]:
        """``(B, N)`` for the last batch: 0 = uniform by ``lemon_ratio``, 1 = LEMON's candidate,
        2 = uniform fallback (no text, the replaced entity, a known triple, or below ``min_cosine``)."""
        return self._source

    @property
    def last_fallback_fraction(self) -> float:
        """Fraction of the last batch's LEMON draws that fell back to uniform sampling."""
        if self._source is None:
            return 0.0
        lemon = self._source > 0
        return float((self._source == 2).sum()) / max(1, int(lemon.sum()))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, num_clusters={self.num_clusters}, khop={self.khop}, "
                f"pca_dim={self.pca_dim}, min_cosine={self.min_cosine}, lemon_ratio={self.lemon_ratio}")
