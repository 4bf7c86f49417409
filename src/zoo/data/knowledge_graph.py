"""Knowledge graphs in the plain directory form (``train.txt``/``valid.txt``/``test.txt``).

The form used by ConvE's WN18RR release ("Convolutional 2D Knowledge Graph Embeddings",
Dettmers et al., 2018, https://arxiv.org/abs/1707.01476) and by PyKEEN's bundled Nations, UMLS and
Kinships: one ``head<TAB>relation<TAB>tail`` triple per line. Optional ``entity2text.txt`` and
``relation2text.txt`` (``label<TAB>text``) give each entity/relation a text (used by LEMON).

Entity and relation ids follow PyKEEN's ``TriplesFactory``: labels sorted alphabetically.

=========  =========  ==========  ======  =====  =====
Name       #entities  #relations  train   valid  test
=========  =========  ==========  ======  =====  =====
Nations    14         55          1,592   199    201
UMLS       135        46          5,216   652    661
Kinships   104        25          8,544   1,068  1,074
WN18RR     40,943     11          86,835  3,034  3,134
=========  =========  ==========  ======  =====  =====

``root`` is a directory or ``pykeen:<Name>`` (``pykeen:UMLS``) for the copies inside the installed
``pykeen`` package (pykeen is in the ``kge`` extra); ``text_root`` (default: ``root``) is where the
text files are looked for. :attr:`KnowledgeGraphDataModule.entity_embeddings` embeds the entity texts
with :mod:`zoo.data.text_encoder` (computed on first use, cached by the texts' hash).
"""

from __future__ import annotations

import logging
import os.path as osp
from typing import Any, Optional

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from zoo.data.text_encoder import TextEncoder
from zoo.data.resumable import ResumableDataLoader, TrainOrder

__all__ = ["KnowledgeGraphDataModule", "TriplesDataset", "read_triples", "read_texts", "UNSEEN_POLICIES"]

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
UNSEEN_POLICIES = ("drop", "keep", "error")
PYKEEN_DATASETS = ("Nations", "UMLS", "Kinships")


def read_triples(path: str) -> list[tuple[str, str, str]]:
    """Label triples from a ``head<TAB>relation<TAB>tail`` file.

    :raises FileNotFoundError: the file does not exist.
    :raises ValueError: a line has other than 3 tab-separated columns (names file and line), or the
        file holds no triple.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"knowledge-graph triple file not found: {path}")
    triples = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n\r")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise ValueError(
                    f"{path}:{number}: expected 3 tab-separated columns (head, relation, tail), "
                    f"got {len(parts)}: {line[:120]!r}"
                )
            triples.append((parts[0], parts[1], parts[2]))
    if not triples:
        raise ValueError(f"{path}: the file holds no triple (empty knowledge-graph split)")
    return triples


def read_texts(path: str) -> dict[str, str]:
    """``label -> text`` from a ``label<TAB>text`` file (lines without a tab are skipped)."""
    texts: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            label, sep, text = line.rstrip("\n\r").partition("\t")
            if sep and text.strip():
                texts[label] = text.strip()
    return texts


def _collate(batch: Tensor) -> Tensor:
    return batch


class TriplesDataset(Dataset):
    """Id triples ``(n, 3)``; ``__getitems__`` returns a whole batch with one index operation.

    With ``with_index`` each row also carries its position (column 3), so evaluation can count every
    triple exactly once when a distributed sampler pads the split with repeats.
    """

    def __init__(self, triples: Tensor, with_index: bool = False) -> None:
        if with_index:
            triples = torch.cat([triples, torch.arange(len(triples)).unsqueeze(1)], dim=1)
        self.triples = triples

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, index: int) -> Tensor:
        return self.triples[index]

    def __getitems__(self, indices: list[int]) -> Tensor:
        return self.triples[torch.as_tensor(indices, dtype=torch.long)]


class KnowledgeGraphDataModule(LightningDataModule):
    """A knowledge graph's train/valid/test triples as batches of id triples.

    Training batches are ``(batch, 3)`` long tensors ``(head, relation, tail)``; validation and test
    batches ``(batch, 4)`` with the triple's index in its split appended (see :class:`TriplesDataset`).

    Args:
        root: directory with ``train.txt``, ``valid.txt``, ``test.txt``, or ``pykeen:<Name>`` for
            PyKEEN's bundled ``Nations``, ``UMLS``, ``Kinships``.
        text_root: directory with optional ``entity2text.txt`` / ``relation2text.txt``
            (default: ``None`` = ``root`` when it is a directory).
        unseen: what to do with a valid/test triple whose entity or relation never occurs in
            ``train.txt``: ``drop`` it (PyKEEN's behaviour, the count is logged), ``keep`` it (the
            entity gets an id and an untrained embedding, as in the RotatE code's WN18RR setup), or
            raise (``error``) (default: ``"drop"``).
        batch_size: training triples per batch (divided by the world size under DDP).
        eval_batch_size: evaluation triples per batch.
        num_workers: data-loader workers (default: ``0``; batches are one index operation).
        seed: seed of the training shuffle.
        encoder: text encoder of :attr:`entity_embeddings`: ``"minilm"`` (all-MiniLM-L6-v2) or
            ``"hashing"`` (model-free fallback), see :mod:`zoo.data.text_encoder` (default: ``"minilm"``).
        max_seq_length: encoder token limit (default: ``64``).
        encode_device: device of the encoder (default: ``"cpu"``; ``"cuda"`` encodes WN18RR in seconds).
        cache_dir: where entity embeddings are cached (default: ``None``: not cached on disk).
    """

    def __init__(
        self,
        *,
        root: str,
        text_root: Optional[str] = None,
        unseen: str = "drop",
        batch_size: int = 512,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
        encoder: str = "minilm",
        max_seq_length: int = 64,
        encode_device: str = "cpu",
        cache_dir: Optional[str] = None,
    ) -> None:
        super().__init__()
        if unseen not in UNSEEN_POLICIES:
            raise ValueError(f"data.unseen={unseen!r}; expected one of {list(UNSEEN_POLICIES)}")
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size}, data.eval_batch_size={eval_batch_size}; expected >= 1")
        self.root = root
        self.triples_dir = self._triples_dir(root)
        if text_root is None and not root.startswith("pykeen:"):
            text_root = root
        self.text_root = text_root
        self.unseen = unseen
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.text_encoder = TextEncoder(encoder=encoder, max_seq_length=max_seq_length, device=encode_device,
                                        cache_dir=cache_dir, key="data.encoder")
        #: training order: one permutation per epoch drawn from its generator (saved in checkpoints)
        self.train_order = TrainOrder(seed)
        self._loaded: Optional[dict[str, Any]] = None
        self._entity_embeddings: Optional[Tensor] = None

    @staticmethod
    def _triples_dir(root: str) -> str:
        if root.startswith("pykeen:"):
            name = root.split(":", 1)[1]
            if name not in PYKEEN_DATASETS:
                raise ValueError(f"data.root={root!r}; expected a directory or pykeen:<Name> with Name in {list(PYKEEN_DATASETS)}")
            import importlib

            module = importlib.import_module(f"pykeen.datasets.{name.lower()}")
            return osp.dirname(module.__file__)
        if not osp.isdir(root):
            raise FileNotFoundError(f"data.root={root!r}: no such knowledge-graph directory (expected train.txt, valid.txt, test.txt)")
        return root

    # -- processing -------------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        if self._loaded is not None:
            return self._loaded
        labelled = {s: read_triples(osp.join(self.triples_dir, f"{s}.txt")) for s in SPLITS}
        train = labelled["train"]
        entities = {h for h, _, _ in train} | {t for _, _, t in train}
        relations = {r for _, r, _ in train}
        if self.unseen in ("keep", "error"):
            for split in ("valid", "test"):
                new_e = ({h for h, _, _ in labelled[split]} | {t for _, _, t in labelled[split]}) - entities
                new_r = {r for _, r, _ in labelled[split]} - relations
                if (new_e or new_r) and self.unseen == "error":
                    raise ValueError(
                        f"{osp.join(self.triples_dir, split + '.txt')}: {len(new_e)} entities and {len(new_r)} "
                        f"relations never occur in train.txt (e.g. {sorted(new_e | new_r)[:3]}); "
                        "set data.unseen=drop or data.unseen=keep"
                    )
                entities |= new_e
                relations |= new_r
        entity_to_id = {e: i for i, e in enumerate(sorted(entities))}
        relation_to_id = {r: i for i, r in enumerate(sorted(relations))}
        ids: dict[str, Tensor] = {}
        for split, rows in labelled.items():
            kept = [(entity_to_id[h], relation_to_id[r], entity_to_id[t]) for h, r, t in rows
                    if h in entity_to_id and t in entity_to_id and r in relation_to_id]
            if len(kept) < len(rows):
                log.warning(f"{split}.txt: dropped {len(rows) - len(kept)} of {len(rows)} triples with an "
                            "entity or relation unseen in train.txt (data.unseen=drop)")
            if not kept:
                raise ValueError(f"{split}.txt in {self.triples_dir}: no triple left after dropping unseen entities")
            ids[split] = torch.tensor(kept, dtype=torch.long)
        entity_texts, relation_texts = self._texts(entity_to_id, relation_to_id)
        self._loaded = {"entity_to_id": entity_to_id, "relation_to_id": relation_to_id, "triples": ids,
                        "entity_texts": entity_texts, "relation_texts": relation_texts}
        log.info(f"Knowledge graph {self.root}: {len(entity_to_id)} entities, {len(relation_to_id)} relations, "
                 + ", ".join(f"{s} {len(t)}" for s, t in ids.items()))
        return self._loaded

    def _texts(self, entity_to_id: dict[str, int], relation_to_id: dict[str, int]) -> tuple[Optional[list], Optional[list]]:
        if self.text_root is not None and not osp.isdir(self.text_root):
            log.warning(f"data.text_root={self.text_root!r} is not a directory: no entity/relation text")
        out = []
        for name, mapping in (("entity2text.txt", entity_to_id), ("relation2text.txt", relation_to_id)):
            path = osp.join(self.text_root, name) if self.text_root is not None else None
            if path is None or not osp.isfile(path):
                out.append(None)
                continue
            texts = read_texts(path)
            listed = [texts.get(label) for label in mapping]  # dict order is id order (sorted labels)
            missing = sum(t is None for t in listed)
            if missing:
                log.warning(f"{path}: no text for {missing} of {len(listed)} labels")
            out.append(listed)
        return out[0], out[1]

    def prepare_data(self) -> None:
        pass

    def setup(self, stage: Optional[str] = None) -> None:
        self._load()
        if self.trainer is not None and self.trainer.world_size > 1:
            world = self.trainer.world_size
            if self.batch_size % world:
                raise ValueError(f"data.batch_size={self.batch_size} is not divisible by the world size {world}")
            self._per_device_batch = self.batch_size // world

    # -- what the datamodule provides -------------------------------------------------------------
    @property
    def num_entities(self) -> int:
        return len(self._load()["entity_to_id"])

    @property
    def num_relations(self) -> int:
        return len(self._load()["relation_to_id"])

    @property
    def entity_to_id(self) -> dict[str, int]:
        return self._load()["entity_to_id"]

    @property
    def relation_to_id(self) -> dict[str, int]:
        return self._load()["relation_to_id"]

    @property
    def entity_texts(self) -> Optional[list[Optional[str]]]:
        """Text per entity id (``None`` where missing); ``None`` without ``entity2text.txt``."""
        return self._load()["entity_texts"]

    @property
    def relation_texts(self) -> Optional[list[Optional[str]]]:
        return self._load()["relation_texts"]

    @property
    def entity_embeddings(self) -> Tensor:
        """Text embedding per entity id, ``(num_entities, 384)`` float; rows of NaN for entities
        without text. Computed on first access with :attr:`text_encoder` and cached (in memory, and
        on disk under ``cache_dir``).

        :raises ValueError: the knowledge graph has no ``entity2text.txt``.
        """
        if self._entity_embeddings is None:
            texts = self.entity_texts
            if texts is None:
                raise ValueError(f"data.text_root={self.text_root!r}: no entity2text.txt, so no entity embeddings "
                                 "(set data.text_root to a directory with one)")
            has_text = torch.tensor([t is not None for t in texts])
            if not has_text.any():
                raise ValueError(f"data.text_root={self.text_root!r}: entity2text.txt names none of the entities")
            vectors = self.text_encoder([t for t in texts if t is not None])
            out = torch.full((len(texts), vectors.size(1)), float("nan"))
            out[has_text] = vectors
            self._entity_embeddings = out
        return self._entity_embeddings

    def triples(self, split: str) -> Tensor:
        """Id triples ``(n, 3)`` of ``split`` (``train``, ``valid``, ``test``)."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r}; expected one of {list(SPLITS)}")
        return self._load()["triples"][split]

    @property
    def all_triples(self) -> Tensor:
        """Every known true triple (train, valid, test): the filter of filtered ranking."""
        return torch.cat([self.triples(s) for s in SPLITS])

    # -- loaders ----------------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        batch = getattr(self, "_per_device_batch", self.batch_size)
        return ResumableDataLoader(TriplesDataset(self.triples("train")), batch_size=batch, collate_fn=_collate,
                                   generator=self.train_order.loader_generator(), num_workers=self.num_workers)

    def state_dict(self) -> dict[str, Any]:
        """The training order's generator state (checkpointed by Lightning, for exact resume)."""
        return {"train_order": self.train_order.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "train_order" in state_dict:
            self.train_order.load_state_dict(state_dict["train_order"])

    def _eval_loader(self, split: str) -> DataLoader:
        return DataLoader(TriplesDataset(self.triples(split), with_index=True), batch_size=self.eval_batch_size,
                          shuffle=False, collate_fn=_collate, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("valid")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
