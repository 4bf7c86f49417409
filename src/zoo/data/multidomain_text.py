"""Multi-domain text classification data: ``(text, polarity, domain)`` with seeded stratified splits.

One datamodule for every multi-domain sentiment corpus (readers in
:mod:`zoo.data.sentiment_readers`): Blitzer MDSD, the Persian set (SentiPers + ParsiNLU),
Financial PhraseBank and any CSV/TSV/JSONL file (``source="table"``). Texts are encoded with a
subword tokenizer trained on the training split (:mod:`zoo.data.subword_tokenizer`).

=======================  =====  ================================  ===========================
Corpus (``data=``)       docs   domains (docs)                    classes
=======================  =====  ================================  ===========================
blitzer_mdsd             8000   books/dvd/electronics/kitchen     2 (1000 neg + 1000 pos each)
                                (2000 each)
persian_sentiment        9590   digital 7415, food 1733,          3 (neg 1773 / neu 3206 /
                                movie 442                         pos 4611)
financial_phrasebank     4217   finance (66% agreement)           3
multidomain_csv          -      column ``domain``                 column ``label``
=======================  =====  ================================  ===========================

Splits are stratified by (domain, label): every group is shuffled with a generator seeded by
``split_seed`` and cut into test/val/train by ``test_fraction``/``val_fraction`` (rounded; a group
too small for a test share stays in train). The split of every row is written to
``<save_dir>/splits.tsv`` so the run records exactly which documents it trained and tested on.

Bad input (each documented and tested):

* empty or whitespace-only texts: dropped with a warning (``empty_texts="drop"``) or refused
  (``"error"``);
* labels outside the declared set: ``ValueError`` naming them and the allowed labels
  (``unknown_labels="error"``) or dropped (``"drop"``);
* a domain present in the test file (``test_path``) but absent from training: ``ValueError``
  (``unseen_domains="error"``) or its rows dropped (``"drop"``); the domain-belonging degree has
  nothing to compare such a domain with;
* undecodable bytes: ``ValueError`` naming file and offset (``encoding_errors="strict"``) or
  replaced by U+FFFD (``"replace"``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from typing import Any, Optional, Sequence

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from zoo.data.cache import CacheError, atomic_write, cache_lock, content_key, load_tensors, save_tensors
from zoo.data.resumable import ResumableDataLoader, TrainOrder
from zoo.data.sentiment_readers import (
    POLARITY3,
    READERS,
    TextRecord,
    read_blitzer_mdsd,
    read_financial_phrasebank,
    read_persian,
    read_table,
)
from zoo.data.subword_tokenizer import load_or_train_tokenizer

__all__ = ["MultiDomainTextDataModule", "SOURCES", "stratified_split"]

log = logging.getLogger(__name__)

SOURCES = tuple(READERS)
DECLARED_LABELS = {
    "blitzer_mdsd": ("negative", "positive"),
    "persian": POLARITY3,
    "financial_phrasebank": POLARITY3,
}
_CHOICES = {
    "empty_texts": ("drop", "error"),
    "unknown_labels": ("error", "drop"),
    "unseen_domains": ("error", "drop"),
    "encoding_errors": ("strict", "replace", "ignore"),
}


def stratified_split(
    keys: Sequence[Any], val_fraction: float, test_fraction: float, seed: int
) -> list[str]:
    """``"train"``/``"val"``/``"test"`` for each row, stratified by ``keys`` and seeded."""
    generator = torch.Generator().manual_seed(seed)
    groups: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    assignment = ["train"] * len(keys)
    for key in sorted(groups, key=repr):
        rows = groups[key]
        order = torch.randperm(len(rows), generator=generator).tolist()
        n_test = int(round(len(rows) * test_fraction))
        n_val = int(round(len(rows) * val_fraction))
        if n_test + n_val >= len(rows):  # tiny group: keep at least one row for training
            n_test, n_val = 0, 0
        for rank, pos in enumerate(order):
            row = rows[pos]
            assignment[row] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return assignment


class _Encoded(Dataset):
    def __init__(self, ids: list[list[int]], labels: list[int], domains: list[int]) -> None:
        self.ids, self.labels, self.domains = ids, labels, domains

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[list[int], int, int]:
        return self.ids[i], self.labels[i], self.domains[i]


def _save_ids(path: str, ids: dict[str, list[list[int]]]) -> None:
    """Token ids of every split as one flat tensor and offsets per split (safetensors, no pickle)."""
    tensors = {}
    for name, rows in ids.items():
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        tensors[f"{name}_ids"] = torch.tensor([i for r in rows for i in r], dtype=torch.long)
        tensors[f"{name}_offsets"] = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    save_tensors(path, tensors)


def _load_ids(path: str, sizes: dict[str, int]) -> dict[str, list[list[int]]]:
    names = [f"{n}_{part}" for n in sizes for part in ("ids", "offsets")]
    tensors, _ = load_tensors(path, required=names)
    out = {}
    for name, size in sizes.items():
        flat, offsets = tensors[f"{name}_ids"].tolist(), tensors[f"{name}_offsets"].tolist()
        if len(offsets) != size + 1 or offsets[-1] != len(flat):
            raise CacheError(f"{path}: {len(offsets) - 1} {name} rows for {size} texts; delete it to rebuild")
        out[name] = [flat[offsets[i]:offsets[i + 1]] for i in range(size)]
    return out


def _collate(batch: list[tuple[list[int], int, int]]) -> dict[str, torch.Tensor]:
    length = max(1, max(len(ids) for ids, _, _ in batch))
    input_ids = torch.zeros(len(batch), length, dtype=torch.long)  # 0 = [PAD]
    for row, (ids, _, _) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return {
        "input_ids": input_ids,
        "label": torch.tensor([b[1] for b in batch], dtype=torch.long),
        "domain": torch.tensor([b[2] for b in batch], dtype=torch.long),
    }


class MultiDomainTextDataModule(LightningDataModule):
    """Texts with a polarity label and a domain, served as padded subword-id batches.

    Batches are dicts: ``input_ids`` (LongTensor ``(B, L)``, 0 = padding), ``label`` ``(B,)`` and
    ``domain`` ``(B,)``.

    Args:
        source: ``blitzer_mdsd``, ``persian``, ``financial_phrasebank`` or ``table``.
        root: corpus folder (readers other than ``table``).
        path: the CSV/TSV/JSONL file (``table``).
        test_path: optional separate test file (``table``); then ``path`` is split into train/val only.
        cache_dir: where the trained tokenizer is cached.
        save_dir: where ``splits.tsv`` is written (the run dir; ``None``: not written).
        format: ``auto`` (by extension), ``csv``, ``tsv`` or ``jsonl`` (``table``).
        text_column, label_column, domain_column: column names (``table``); ``domain_column=None``
            puts every row in one domain ``default``.
        labels: the declared label set, in class-index order (default: the corpus' own set; for
            ``table`` the sorted labels of the file).
        domains: keep only these domains (default: all).
        agreement: Financial PhraseBank agreement subset (50, 66, 75, 100).
        persian_mixed: ParsiNLU's "mixed" (3) label: ``drop`` or ``neutral``.
        max_per_domain: keep at most this many documents per domain (seeded), for quick runs.
        val_fraction, test_fraction, split_seed: the stratified split.
        vocab_size, tokenizer, lowercase: the subword tokenizer.
        max_length: truncate encoded texts to this many tokens.
        batch_size, num_workers: loaders (``batch_size`` is per process).
        encoding, encoding_errors: how raw bytes are decoded (default: the reader's encoding).
        empty_texts, unknown_labels, unseen_domains: bad-input policies (see the module docstring).
        pretrained_vectors: optional word vectors in word2vec/GloVe text format (``token v1 v2 ...``
            per line); rows for the subword vocabulary are written to the cache and offered as
            :attr:`pretrained_embeddings_path` (tokens without a vector get random rows).
    """

    def __init__(
        self,
        *,
        source: str,
        cache_dir: str,
        root: Optional[str] = None,
        path: Optional[str] = None,
        test_path: Optional[str] = None,
        save_dir: Optional[str] = None,
        format: str = "auto",
        text_column: str = "text",
        label_column: str = "label",
        domain_column: Optional[str] = "domain",
        labels: Optional[Sequence[str]] = None,
        domains: Optional[Sequence[str]] = None,
        agreement: int = 66,
        persian_mixed: str = "drop",
        max_per_domain: Optional[int] = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        vocab_size: int = 8000,
        tokenizer: str = "bpe",
        lowercase: bool = True,
        max_length: int = 256,
        batch_size: int = 64,
        num_workers: int = 0,
        encoding: Optional[str] = None,
        encoding_errors: str = "strict",
        empty_texts: str = "drop",
        unknown_labels: str = "error",
        unseen_domains: str = "error",
        pretrained_vectors: Optional[str] = None,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"data.source={source!r}; expected one of {list(SOURCES)}")
        if source == "table" and path is None:
            raise ValueError("data.path is required for data.source='table' (a CSV/TSV/JSONL file)")
        if source != "table" and root is None:
            raise ValueError(f"data.root is required for data.source={source!r}")
        if test_path is not None and source != "table":
            raise ValueError(f"data.test_path is only read for data.source='table', not {source!r}")
        for key, value in (("empty_texts", empty_texts), ("unknown_labels", unknown_labels),
                           ("unseen_domains", unseen_domains), ("encoding_errors", encoding_errors)):
            if value not in _CHOICES[key]:
                raise ValueError(f"data.{key}={value!r}; expected one of {list(_CHOICES[key])}")
        if not (0.0 <= val_fraction < 1 and 0.0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ValueError(
                f"data.val_fraction={val_fraction}, data.test_fraction={test_fraction}: each must be in "
                "[0, 1) and their sum below 1"
            )
        if test_fraction == 0.0 and test_path is None:
            raise ValueError("data.test_fraction=0 needs a data.test_path to test on")
        if max_length < 1 or batch_size < 1:
            raise ValueError(f"data.max_length={max_length}, data.batch_size={batch_size}: both must be >= 1")
        if labels is not None and len(set(labels)) < 2:
            raise ValueError(f"data.labels={list(labels)}: need at least two distinct labels")
        self.source = source
        self.root = root
        self.path = path
        self.test_path = test_path
        self.cache_dir = cache_dir
        self.save_dir = save_dir
        self.format = format
        self.text_column = text_column
        self.label_column = label_column
        self.domain_column = domain_column
        self.labels = list(labels) if labels is not None else None
        self.domains = list(domains) if domains is not None else None
        self.agreement = agreement
        self.persian_mixed = persian_mixed
        self.max_per_domain = max_per_domain
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        #: training order: one permutation per epoch drawn from its generator (saved in checkpoints)
        self.train_order = TrainOrder(split_seed)
        self.vocab_size_requested = vocab_size
        self.tokenizer_model = tokenizer
        self.lowercase = lowercase
        self.max_length = max_length
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.encoding = encoding
        self.encoding_errors = encoding_errors
        self.empty_texts = empty_texts
        self.unknown_labels = unknown_labels
        self.unseen_domains = unseen_domains
        self._splits: Optional[dict[str, list[TextRecord]]] = None
        self._encoded: Optional[dict[str, _Encoded]] = None
        self.pretrained_vectors = pretrained_vectors
        self._tokenizer = None
        self._class_names: list[str] = []
        self._domain_names: list[str] = []

    # -- reading ----------------------------------------------------------------------------------
    def _read(self, file: Optional[str] = None) -> list[TextRecord]:
        errors = self.encoding_errors
        if self.source == "blitzer_mdsd":
            return read_blitzer_mdsd(self.root, self.encoding or "utf-8", errors)
        if self.source == "persian":
            return read_persian(self.root, self.encoding or "utf-8", errors, self.persian_mixed)
        if self.source == "financial_phrasebank":
            return read_financial_phrasebank(self.root, self.encoding or "latin-1", errors, self.agreement)
        return read_table(
            file or self.path, self.encoding or "utf-8", errors, self.format,
            self.text_column, self.label_column, self.domain_column,
        )

    def _clean(self, records: list[TextRecord], where: str, allowed: Sequence[str]) -> list[TextRecord]:
        if self.domains is not None:
            records = [r for r in records if r.domain in self.domains]
        empty = [i for i, r in enumerate(records) if not r.text.strip()]
        if empty:
            if self.empty_texts == "error":
                raise ValueError(
                    f"{where}: {len(empty)} empty text(s) (first at row {empty[0]}); set "
                    "data.empty_texts='drop' to skip them"
                )
            log.warning(f"{where}: dropping {len(empty)} empty text(s) (data.empty_texts='drop')")
            records = [r for r in records if r.text.strip()]
        unknown = Counter(r.label for r in records if r.label not in allowed)
        if unknown:
            if self.unknown_labels == "error":
                raise ValueError(
                    f"{where}: label(s) {sorted(unknown)} outside the declared set {list(allowed)} "
                    f"(data.labels); set data.unknown_labels='drop' to skip those rows"
                )
            log.warning(f"{where}: dropping {sum(unknown.values())} row(s) with labels {sorted(unknown)}")
            records = [r for r in records if r.label in allowed]
        return records

    def _cap(self, records: list[TextRecord]) -> list[TextRecord]:
        if self.max_per_domain is None:
            return records
        generator = torch.Generator().manual_seed(self.split_seed)
        keep: list[int] = []
        by_domain: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            by_domain.setdefault(r.domain, []).append(i)
        for domain in sorted(by_domain):
            rows = by_domain[domain]
            order = torch.randperm(len(rows), generator=generator)[: self.max_per_domain].tolist()
            keep.extend(rows[j] for j in order)
        return [records[i] for i in sorted(keep)]

    def _load(self) -> dict[str, list[TextRecord]]:
        if self._splits is not None:
            return self._splits
        where = self.path if self.source == "table" else f"{self.source} corpus in {self.root}"
        records = self._read()
        if self.labels is not None:
            allowed = self.labels
        elif self.source in DECLARED_LABELS:
            allowed = list(DECLARED_LABELS[self.source])
        else:
            allowed = sorted({r.label for r in records if r.text.strip()})
        records = self._cap(self._clean(records, where, allowed))
        if not records:
            raise ValueError(f"{where}: no usable rows (after dropping empty texts and unknown labels)")
        has_test_file = self.test_path is not None
        assignment = stratified_split(
            [(r.domain, r.label) for r in records], self.val_fraction,
            0.0 if has_test_file else self.test_fraction, self.split_seed,
        )
        splits = {s: [r for r, a in zip(records, assignment) if a == s] for s in ("train", "val", "test")}
        if has_test_file:
            splits["test"] = self._clean(self._read(self.test_path), self.test_path, allowed)
        train_domains = sorted({r.domain for r in splits["train"]})
        for name in ("val", "test"):
            unseen = sorted({r.domain for r in splits[name]} - set(train_domains))
            if not unseen:
                continue
            if self.unseen_domains == "error":
                raise ValueError(
                    f"{name} split has domain(s) {unseen} absent from the training split (training "
                    f"domains: {train_domains}); the domain-belonging degree cannot score them. Set "
                    "data.unseen_domains='drop' to skip those rows"
                )
            log.warning(f"dropping {name} rows of domains {unseen} absent from training")
            splits[name] = [r for r in splits[name] if r.domain in train_domains]
        self._class_names = list(allowed)
        self._domain_names = train_domains
        self._splits = splits
        self._assignment = list(zip(range(len(records)), assignment, records))
        return splits

    def _write_splits(self) -> None:
        if self.save_dir is None:
            return
        trainer = getattr(self, "trainer", None)
        if trainer is not None and not trainer.is_global_zero:
            return
        os.makedirs(self.save_dir, exist_ok=True)
        path = os.path.join(self.save_dir, "splits.tsv")
        lines = ["row\tsplit\tdomain\tlabel"]
        lines += [f"{i}\t{s}\t{r.domain}\t{r.label}" for i, s, r in self._assignment]
        if self.test_path is not None:
            lines += [f"{i}\ttest_file\t{r.domain}\t{r.label}" for i, r in enumerate(self._splits["test"])]
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    # -- encoding ---------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            texts = [r.text for r in self._load()["train"]]
            self._tokenizer = load_or_train_tokenizer(
                texts, cache_dir=self.cache_dir, vocab_size=self.vocab_size_requested,
                model=self.tokenizer_model, lowercase=self.lowercase,
            )
        return self._tokenizer

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids of ``texts``, truncated to ``max_length``."""
        return [e.ids[: self.max_length] for e in self.tokenizer.encode_batch(list(texts))]

    def _encode_all(self) -> dict[str, _Encoded]:
        if self._encoded is not None:
            return self._encoded
        splits = self._load()
        label_index = {name: i for i, name in enumerate(self._class_names)}
        domain_index = {name: i for i, name in enumerate(self._domain_names)}
        # encoding long corpora takes seconds: cache the ids, keyed by tokenizer, length and texts
        digest = hashlib.sha1(self.tokenizer.to_str().encode())
        digest.update(str(self.max_length).encode())
        for name in ("train", "val", "test"):
            for r in splits[name]:
                digest.update(r.text.encode("utf-8", errors="surrogatepass") + b"\x00")
            digest.update(b"\x01")
        cache = os.path.join(self.cache_dir, f"encoded-{digest.hexdigest()[:20]}.safetensors")
        if not os.path.isfile(cache):
            with cache_lock(cache):
                if not os.path.isfile(cache):
                    _save_ids(cache, {n: self.encode([r.text for r in splits[n]]) for n in ("train", "val", "test")})
        ids = _load_ids(cache, {name: len(rows) for name, rows in splits.items()})
        self._encoded = {
            name: _Encoded(
                ids[name],
                [label_index[r.label] for r in rows],
                [domain_index[r.domain] for r in rows],
            )
            for name, rows in splits.items()
        }
        return self._encoded

    def prepare_data(self) -> None:
        # only checks the raw files are there; reading, splitting and encoding happen in setup
        for file in (self.path, self.test_path) if self.source == "table" else (self.root,):
            if file is not None and not os.path.exists(file):
                raise FileNotFoundError(f"sentiment data not found: {file} (data.path / data.root)")

    def setup(self, stage: Optional[str] = None) -> None:
        self._encode_all()
        self._write_splits()

    # -- what the datamodule provides -------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        self._load()
        return list(self._class_names)

    @property
    def domain_names(self) -> list[str]:
        self._load()
        return list(self._domain_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_domains(self) -> int:
        return len(self.domain_names)

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    @property
    def pretrained_embeddings_path(self) -> Optional[str]:
        """A ``.pt`` file with a ``(vocab_size, dim)`` embedding table from ``pretrained_vectors``
        (``None`` when no vectors are configured); built once per tokenizer and vectors file."""
        if self.pretrained_vectors is None:
            return None
        if not os.path.isfile(self.pretrained_vectors):
            raise FileNotFoundError(f"data.pretrained_vectors={self.pretrained_vectors!r}: no such file")
        vocab = self.tokenizer.get_vocab()
        # the vectors file's bytes (size and mtime_ns above 256 MiB: GloVe-sized files) and the tokenizer
        tokenizer = hashlib.sha1(self.tokenizer.to_str().encode()).hexdigest()
        key = content_key([self.pretrained_vectors], (tokenizer, self.split_seed))  # the seed draws unmatched rows
        path = os.path.join(self.cache_dir, f"embeddings-{key}.pt")
        if os.path.isfile(path):
            return path
        with cache_lock(path):
            if not os.path.isfile(path):
                self._build_embeddings(vocab, path)
        return path

    def _build_embeddings(self, vocab: dict[str, int], path: str) -> None:
        table: Optional[torch.Tensor] = None
        found = 0
        generator = torch.Generator().manual_seed(self.split_seed)
        with open(self.pretrained_vectors, encoding="utf-8", errors="replace") as handle:
            for line_no, line in enumerate(handle, 1):
                parts = line.rstrip().split(" ")
                if len(parts) <= 2:  # word2vec header "count dim" or a blank line
                    continue
                values = parts[1:]
                if table is None:
                    table = torch.randn(len(vocab), len(values), generator=generator) * 0.1
                if len(values) != table.size(1):
                    raise ValueError(
                        f"data.pretrained_vectors={self.pretrained_vectors!r}, line {line_no}: "
                        f"{len(values)} values, expected {table.size(1)}"
                    )
                key = parts[0] if parts[0] in vocab else parts[0].lower()
                if key in vocab:
                    table[vocab[key]] = torch.tensor([float(v) for v in values])
                    found += 1
        if table is None:
            raise ValueError(f"data.pretrained_vectors={self.pretrained_vectors!r} holds no vectors")
        table[0] = 0.0
        log.info(f"pretrained vectors cover {found} of {len(vocab)} subwords")
        with atomic_write(path) as tmp:
            torch.save(table, tmp)  # a plain tensor: read back with torch.load(weights_only=True)

    def split(self, name: str) -> _Encoded:
        """The encoded ``train``/``val``/``test`` split."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"split={name!r}; expected one of ['train', 'val', 'test']")
        return self._encode_all()[name]

    def texts(self, name: str) -> list[str]:
        """Raw texts of a split (for the TF-IDF baseline)."""
        return [r.text for r in self._load()[name]]

    def domain_term_counts(self) -> torch.Tensor:
        """``(num_domains, vocab_size)`` subword counts of the training split (padding excluded)."""
        train = self.split("train")
        counts = torch.zeros(self.num_domains, self.vocab_size, dtype=torch.float64)
        for ids, domain in zip(train.ids, train.domains):
            if ids:
                counts[domain].index_add_(0, torch.tensor(ids), torch.ones(len(ids), dtype=torch.float64))
        counts[:, 0] = 0.0
        return counts

    def class_counts(self) -> torch.Tensor:
        """``(num_domains, num_classes)`` training-label counts per domain."""
        train = self.split("train")
        counts = torch.zeros(self.num_domains, self.num_classes, dtype=torch.float64)
        for label, domain in zip(train.labels, train.domains):
            counts[domain, label] += 1
        return counts

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        if shuffle:
            return ResumableDataLoader(self.split(name), batch_size=self.batch_size, collate_fn=_collate,
                                       num_workers=self.num_workers, generator=self.train_order.loader_generator())
        return DataLoader(self.split(name), batch_size=self.batch_size, collate_fn=_collate,
                          num_workers=self.num_workers)

    def state_dict(self) -> dict[str, Any]:
        """The training order's generator state (checkpointed by Lightning, for exact resume)."""
        return {"train_order": self.train_order.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "train_order" in state_dict:
            self.train_order.load_state_dict(state_dict["train_order"])

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
