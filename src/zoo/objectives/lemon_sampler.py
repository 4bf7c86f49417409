"""LEMON: "Language Model-based Negative Sampling of Knowledge Graph Embeddings" (arXiv 2203.04703)."""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from zoo.objectives.negative_sampler import NegativeSampler
from zoo.objectives.text_embedding import ENCODERS, encode_texts

__all__ = ["LemonNegativeSampler"]

log = logging.getLogger(__name__)


class LemonNegativeSampler(NegativeSampler):
    r"""Negatives drawn from the language-model clusters nearest the kept entity, from
    "Language Model-based Negative Sampling of Knowledge Graph Embeddings" (Alam et al., 2022,
    https://arxiv.org/abs/2203.04703).

    Fitting (once per dataset; the text embeddings are cached by the texts' hash):

    1. embed each entity's text with a sentence encoder (all-MiniLM-L6-v2),
    2. reduce with PCA to ``pca_dim`` dimensions,
    3. cluster with k-means into ``num_clusters`` clusters :math:`C_1..C_K` (centroids :math:`\mu_k`),
    4. for each entity :math:`e`, keep its ``khop`` nearest clusters
       :math:`N(e) = \operatorname{top\text{-}khop}_k(-\lVert x_e - \mu_k \rVert)`.

    Sampling, for a positive :math:`(h, r, t)`: corrupt the head or the tail (probability 1/2); the
    replacement is drawn uniformly from :math:`\bigcup_{k \in N(e)} C_k` where :math:`e` is the kept
    entity (the tail when the head is corrupted). A candidate that is the replaced entity itself or
    forms a known training triple, and any corruption whose kept entity has no text, falls back to
    a uniform entity. Everything is tensor operations on the device (no per-triple Python loop): the
    union is sampled by drawing :math:`u \sim U\{0, \sum_{k \in N(e)} |C_k| - 1\}` and locating
    :math:`u` in the cumulative cluster sizes.

    Args:
        num_negatives, filtered, seed: see :class:`NegativeSampler`.
        num_clusters: k-means clusters :math:`K` (default: ``15``, the paper's example).
        khop: nearest clusters :math:`|N(e)|` per kept entity (default: ``3``, the authors' code).
        pca_dim: PCA dimensions before clustering (default: ``32``; the authors' 2 is very coarse).
        encoder: ``minilm`` (sentence encoder) or ``hashing`` (hashed character trigrams, no model)
            (default: ``"minilm"``).
        cache_dir: where text embeddings are cached (``${paths.cache_dir}/lemon``).
        max_seq_length: encoder token limit (default: ``64``).
        encode_device: device of the encoder (default: ``"cpu"``; ``"cuda"`` encodes WN18RR in seconds).
    """

    def __init__(self, *, num_negatives: int, cache_dir: str, num_clusters: int = 15, khop: int = 3,
                 pca_dim: int = 32, encoder: str = "minilm", max_seq_length: int = 64,
                 encode_device: str = "cpu", filtered: bool = True, seed: int = 0) -> None:
        super().__init__(num_negatives=num_negatives, filtered=filtered, seed=seed)
        if encoder not in ENCODERS:
            raise ValueError(f"model.sampler.encoder={encoder!r}; expected one of {list(ENCODERS)}")
        if num_clusters < 1:
            raise ValueError(f"model.sampler.num_clusters={num_clusters}; expected >= 1")
        if not 1 <= khop <= num_clusters:
            raise ValueError(f"model.sampler.khop={khop}; expected 1 <= khop <= num_clusters={num_clusters}")
        if pca_dim < 1:
            raise ValueError(f"model.sampler.pca_dim={pca_dim}; expected >= 1")
        self.num_clusters = num_clusters
        self.khop = khop
        self.pca_dim = pca_dim
        self.encoder = encoder
        self.cache_dir = cache_dir
        self.max_seq_length = max_seq_length
        self.encode_device = encode_device
        self.num_missing_text = 0
        self._fallback: Optional[Tensor] = None
        for name in ("cluster", "near", "order", "offset", "size"):
            self.register_buffer(name, torch.empty(0, dtype=torch.long), persistent=False)

    # -- fitting ----------------------------------------------------------------------------------
    def _fit(self, triples: Tensor, *, entity_texts: Optional[list], quick: bool) -> None:
        from sklearn.cluster import KMeans
        from sklearn.decomposition import PCA

        num_entities = self.num_entities
        if entity_texts is None:
            raise ValueError("LEMON needs entity texts: the data root has no entity2text.txt "
                             "(set data.text_root to a directory with one, or use another sampler)")
        if len(entity_texts) != num_entities:
            raise ValueError(f"LEMON got {len(entity_texts)} entity texts for {num_entities} entities")
        has_text = np.array([t is not None for t in entity_texts])
        self.num_missing_text = int((~has_text).sum())
        if self.num_missing_text:
            log.warning(f"LEMON: {self.num_missing_text} of {num_entities} entities have no text; "
                        "corruptions that keep them fall back to uniform sampling")
        texts = [t for t in entity_texts if t is not None]
        if len(texts) < self.num_clusters:
            raise ValueError(f"LEMON: {len(texts)} entities with text < model.sampler.num_clusters={self.num_clusters}")
        encoder = self.encoder
        vectors = encode_texts(texts, cache_dir=self.cache_dir, encoder=encoder, max_seq_length=self.max_seq_length,
                               device=self.encode_device, compute=not quick)
        if vectors is None:
            log.warning("fast_dev_run: LEMON text embeddings are not cached yet, so this run clusters hashed "
                        "character trigrams instead of sentence-encoder vectors (a full run computes and caches them)")
            encoder = "hashing"
            vectors = encode_texts(texts, cache_dir=self.cache_dir, encoder=encoder)
        self.encoder_used = encoder
        dim = min(self.pca_dim, vectors.shape[1], len(texts))
        reduced = PCA(n_components=dim, random_state=self.seed).fit_transform(vectors)
        kmeans = KMeans(n_clusters=self.num_clusters, n_init=3, random_state=self.seed).fit(reduced)
        labels = torch.as_tensor(kmeans.labels_, dtype=torch.long)
        dist = torch.cdist(torch.as_tensor(reduced, dtype=torch.float32),
                           torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32))
        near_text = dist.topk(self.khop, dim=1, largest=False).indices
        text_ids = torch.as_tensor(np.flatnonzero(has_text), dtype=torch.long)
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

    # -- sampling ---------------------------------------------------------------------------------
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
        sizes = self.size[near]                                   # (B, N, khop)
        cum = torch.cumsum(sizes, dim=-1)
        total = cum[..., -1]
        u = (torch.rand(shape, device=device, generator=g) * total).long().clamp_max(total - 1)
        which = (u.unsqueeze(-1) >= cum).sum(-1, keepdim=True)    # index of the cluster holding u
        before = (cum - sizes).gather(-1, which).squeeze(-1)
        cluster = near.gather(-1, which).squeeze(-1)
        candidate = self.order[self.offset[cluster] + (u - before)]

        negatives.scatter_(2, column.unsqueeze(-1), candidate.unsqueeze(-1))
        bad = ~has_text | (candidate == original)
        if self.filtered:
            bad |= self.true_triples(negatives)
        uniform = self._random_entities(shape, device, exclude=original)
        final = torch.where(bad, uniform, candidate)
        negatives.scatter_(2, column.unsqueeze(-1), final.unsqueeze(-1))
        self._fallback = bad.float().mean().detach()
        return negatives

    @property
    def last_fallback_fraction(self) -> float:
        """Fraction of the last batch's negatives that fell back to uniform sampling."""
        return 0.0 if self._fallback is None else float(self._fallback)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, num_clusters={self.num_clusters}, khop={self.khop}, "
                f"pca_dim={self.pca_dim}, encoder={self.encoder!r}")
