"""A subword tokenizer trained on the training texts with HuggingFace ``tokenizers``, cached.

Byte-pair encoding (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword
Units", https://arxiv.org/abs/1508.07909) or unigram LM (Kudo 2018, https://arxiv.org/abs/1804.10959)
over Unicode-aware whitespace/punctuation pre-tokenisation, so English, Persian and Arabic are
handled alike. Normalisation: NFKC, optional lower-casing, and the Arabic letters yeh (U+064A) and
kaf (U+0643) folded into their Persian forms (U+06CC, U+06A9), which Persian corpora mix freely;
the zero-width non-joiner (U+200C) becomes a space.

The trained tokenizer is written to ``<cache_dir>/tokenizer-<hash>.json`` where the hash covers the
training texts and every option, so a different split or vocabulary never reuses a stale file.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from zoo.data.cache import CacheError, atomic_write, cache_lock

__all__ = ["PAD_TOKEN", "UNK_TOKEN", "TOKENIZER_MODELS", "load_or_train_tokenizer"]

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
TOKENIZER_MODELS = ("bpe", "unigram")


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    steps = [
        normalizers.NFKC(),
        normalizers.Replace("\u064a", "\u06cc"),
        normalizers.Replace("\u0643", "\u06a9"),
        normalizers.Replace("\u200c", " "),
    ]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def _fingerprint(texts: Sequence[str], options: Iterable[object]) -> str:
    digest = hashlib.sha1()
    for option in options:
        digest.update(repr(option).encode())
    for text in texts:
        digest.update(text.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def load_or_train_tokenizer(
    texts: Sequence[str],
    *,
    cache_dir: str,
    vocab_size: int = 8000,
    model: str = "bpe",
    lowercase: bool = True,
    min_frequency: int = 2,
) -> Tokenizer:
    """The cached tokenizer for ``texts`` and these options, trained on first use.

    Id 0 is ``[PAD]`` and id 1 is ``[UNK]``.

    :raises ValueError: unknown ``model`` or a ``vocab_size`` below 16.
    """
    if model not in TOKENIZER_MODELS:
        raise ValueError(f"data.tokenizer={model!r}; expected one of {list(TOKENIZER_MODELS)}")
    if vocab_size < 16:
        raise ValueError(f"data.vocab_size={vocab_size}; expected at least 16")
    os.makedirs(cache_dir, exist_ok=True)
    key = _fingerprint(texts, (vocab_size, model, lowercase, min_frequency, 1))
    path = os.path.join(cache_dir, f"tokenizer-{key}.json")
    if not os.path.isfile(path):
        with cache_lock(path):
            if not os.path.isfile(path):
                with atomic_write(path) as tmp:  # concurrent runs never read a half-written file
                    _train(texts, vocab_size, model, lowercase, min_frequency).save(tmp)
    try:
        return Tokenizer.from_file(path)
    except Exception as err:  # noqa: BLE001 - tokenizers raises a generic Exception for bad JSON
        raise CacheError(
            f"{path}: not a valid zoo cache file (cannot be read as a tokenizer: {err}); delete it to rebuild: "
            f"rm {path!r}"
        ) from err


def _train(texts: Sequence[str], vocab_size: int, model: str, lowercase: bool, min_frequency: int) -> Tokenizer:
    if model == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN],
            show_progress=False,
        )
        tokenizer.decoder = decoders.BPEDecoder()
    else:
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=[PAD_TOKEN, UNK_TOKEN], unk_token=UNK_TOKEN,
            show_progress=False,
        )
    tokenizer.normalizer = _normalizer(lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer
