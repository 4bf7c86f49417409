"""On-disk caches that several runs (and users) can share: content keys, atomic writes, locks, no pickle.

Every datamodule cache in :mod:`zoo.data` goes through this module:

* **Keys come from the content.** :func:`content_key` hashes the bytes of every raw file (sha256)
  together with the options the cached result depends on, so a raw file edited after its cache was
  built (even to the same size) gets a new key and the cache is rebuilt; the old file is never
  reused. Files larger than ``hash_limit`` (256 MiB; every raw file zoo ships is below 25 MB and
  hashing all of them costs well under a second) contribute their size and ``st_mtime_ns``
  instead, so a multi-gigabyte word-vector file is not re-read on every start. Raw paths are not
  part of the key: two checkouts (or users) reading identical data share one cache entry.
* **Writes are atomic.** :func:`atomic_write` gives each process its own temporary name in the
  target directory (pid + random suffix), the writer fills it, it is fsynced and then moved into
  place with :func:`os.replace`; a reader sees the old file or the complete new one, never a part.
* **Builds are locked.** :func:`cache_lock` (a :class:`filelock.FileLock` on ``<file>.lock``) lets
  one process build an entry while the others wait and then read it, instead of every run parsing
  the same data at once. Correctness does not depend on the lock: the atomic write alone keeps
  readers safe, the lock saves the duplicate work (and serialises processing that happens in place).
* **Nothing is unpickled.** Tensors are stored with safetensors (:func:`save_tensors`), arrays with
  :func:`numpy.savez` of non-object arrays read with ``allow_pickle=False`` (:func:`save_arrays`).
  A file under a cache name that is not such a file (a planted pickle, garbage, a wrong layout) is
  refused with :class:`CacheError` naming it; it is never executed and never silently replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CacheError",
    "HASH_LIMIT",
    "file_digest",
    "content_key",
    "atomic_write",
    "cache_lock",
    "save_tensors",
    "load_tensors",
    "save_arrays",
    "load_arrays",
]

log = logging.getLogger(__name__)

#: files up to this size are hashed; larger ones contribute size and mtime_ns
HASH_LIMIT = 256 * 2**20
_CHUNK = 2**20


class CacheError(ValueError):
    """A file under a cache name is not a cache file zoo wrote (damaged, planted or of another layout)."""


def _refuse(path: str, reason: str) -> CacheError:
    return CacheError(
        f"{path}: not a valid zoo cache file ({reason}). zoo writes caches atomically, so this file is "
        f"damaged or was put there by something else; it was not loaded. Check who can write to the "
        f"cache directory, then delete the file to rebuild it: rm {path!r}"
    )


def file_digest(paths: Iterable[str], *, root: Optional[str] = None, hash_limit: int = HASH_LIMIT) -> str:
    """sha256 (hex) over the name, size and bytes of every file in ``paths``, in the order given.

    :param root: names are taken relative to ``root`` (default: the base name of each file).
    :param hash_limit: a file larger than this contributes its size and ``st_mtime_ns``, not its bytes.
    :raises FileNotFoundError: a path is not a file (named).
    """
    digest = hashlib.sha256()
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"raw data file missing: {path}")
        stat = os.stat(path)
        name = os.path.relpath(path, root) if root is not None else os.path.basename(path)
        digest.update(f"{name}\x00{stat.st_size}\x00".encode("utf-8", errors="surrogatepass"))
        if stat.st_size > hash_limit:
            digest.update(f"mtime_ns={stat.st_mtime_ns}\x00".encode())
            continue
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        digest.update(b"\x01")
    return digest.hexdigest()


def content_key(files: Sequence[str] = (), options: Any = None, *, root: Optional[str] = None,
                hash_limit: int = HASH_LIMIT, length: int = 20) -> str:
    """A short hex key for a cache entry built from ``files`` with ``options`` (any ``repr``-able value)."""
    digest = hashlib.sha256(file_digest(files, root=root, hash_limit=hash_limit).encode())
    digest.update(repr(options).encode("utf-8", errors="surrogatepass"))
    return digest.hexdigest()[:length]


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it is fsynced and ``os.replace``d onto ``path``.

    The temporary name is ``.<pid>-<random>-<name>`` in the same directory (same file system, so the
    replace is atomic; same extension, so writers that append one, like :func:`numpy.savez`, do not
    rename it). On error the temporary file is removed and ``path`` is untouched.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.getpid()}-{secrets.token_hex(6)}-{os.path.basename(path)}")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_directory(directory)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def cache_lock(path: str) -> Iterator[None]:
    """Hold the inter-process lock of cache entry ``path`` (``<path>.lock``); logs while waiting."""
    from filelock import FileLock, Timeout

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    lock = FileLock(f"{path}.lock")
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info(f"Waiting for another process to finish building {path}")
            lock.acquire()
    except PermissionError as err:
        raise PermissionError(
            f"cannot lock {path}.lock ({err}); a shared cache directory must be writable by every user "
            "of it (e.g. a group-writable ZOO_CACHE_DIR with the setgid bit)"
        ) from err
    try:
        yield
    finally:
        lock.release()


# -- tensors (safetensors) -----------------------------------------------------------------------
_META_KEY = "zoo"


def save_tensors(path: str, tensors: Mapping[str, Tensor], meta: Optional[Mapping[str, Any]] = None) -> None:
    """Write ``tensors`` and JSON-able ``meta`` to ``path`` (safetensors), atomically."""
    from safetensors.torch import save_file

    # safetensors refuses tensors that share storage; a contiguous copy of each never does
    payload = {name: t.detach().cpu().contiguous().clone() for name, t in tensors.items()}
    with atomic_write(path) as tmp:
        save_file(payload, tmp, metadata={_META_KEY: json.dumps(dict(meta or {}))})


def load_tensors(path: str, required: Sequence[str] = (), required_meta: Sequence[str] = ()
                 ) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(tensors, meta)`` of a file written by :func:`save_tensors`.

    :raises CacheError: the file is not such a file, or lacks a ``required`` tensor or meta key.
    """
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for bad headers
        raise _refuse(path, f"cannot be read as safetensors: {type(err).__name__}: {err}") from err
    if _META_KEY not in header:
        raise _refuse(path, "no zoo metadata in its header")
    try:
        meta = json.loads(header[_META_KEY])
    except json.JSONDecodeError as err:
        raise _refuse(path, f"its zoo metadata is not JSON ({err.msg})") from err
    missing = [k for k in required if k not in tensors] + [k for k in required_meta if k not in meta]
    if missing:
        raise _refuse(path, f"entries {missing} missing; found tensors {sorted(tensors)}, meta {sorted(meta)}")
    return tensors, meta


# -- arrays (numpy .npz without pickle) ----------------------------------------------------------
def save_arrays(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write non-object ``arrays`` to ``path`` (``.npz``), atomically.

    :raises TypeError: an array has dtype ``object`` (it could only be stored pickled).
    """
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"cache array {name!r} has dtype object; only plain arrays are cached (no pickle)")
    with atomic_write(path) as tmp:
        np.savez(tmp, **arrays)


def load_arrays(path: str, required: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` cache file, read with ``allow_pickle=False``.

    :raises CacheError: the file is not an ``.npz`` of plain arrays, or lacks a ``required`` array.
    """
    try:
        with np.load(path, allow_pickle=False) as handle:
            if not isinstance(handle, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            arrays = {name: handle[name] for name in handle.files}
    except CacheError:
        raise
    except Exception as err:  # noqa: BLE001 - numpy/zipfile raise several kinds for bad files
        raise _refuse(path, f"cannot be read as .npz without pickle: {type(err).__name__}: {err}") from err
    missing = [k for k in required if k not in arrays]
    if missing:
        raise _refuse(path, f"arrays {missing} missing; found {sorted(arrays)}")
    return arrays
