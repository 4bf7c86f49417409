"""Checkpoint writes that never lose the previous checkpoint, and reads that name a broken file.

Lightning's default writer stages a checkpoint in ``$TMPDIR`` and moves it over the target. When
``$TMPDIR`` is on another filesystem (a node's local disk, logs on a shared one) the move is a copy
over the old file, and a kill during that copy leaves neither the old nor the new checkpoint.
:class:`AtomicCheckpointIO` writes into a temporary file in the checkpoint's own directory,
flushes and ``fsync``s it, then ``os.replace``s it over the target (atomic within one filesystem)
and ``fsync``s the directory.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from typing import Any, Callable, Optional

import torch
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO
from fsspec.implementations.local import LocalFileSystem

__all__ = ["AtomicCheckpointIO", "atomic_torch_save", "check_checkpoint_file", "UnreadableCheckpointError"]


class UnreadableCheckpointError(ValueError):
    """A checkpoint file that is truncated or not a torch checkpoint; the message names the file."""


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` to ``path`` through a temporary file beside it: the old file stays whole until
    the new one is complete on disk."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def check_checkpoint_file(path: str) -> None:
    """Cheap integrity check of a torch checkpoint: its zip directory (written last) must be present.

    :raises UnreadableCheckpointError: naming ``path``, for a truncated or non-checkpoint file.
    """
    size = os.path.getsize(path)
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise UnreadableCheckpointError(
            f"checkpoint {path} is unreadable ({size:,} bytes; truncated or not a torch checkpoint: {err})"
        ) from err


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`~lightning.pytorch.plugins.io.TorchCheckpointIO` with atomic local writes and loads
    that name the broken file. Remote (fsspec) paths keep Lightning's own writer."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, os.fspath(path))

    def load_checkpoint(self, path: Any, map_location: Optional[Callable] = lambda storage, loc: storage,
                        weights_only: Optional[bool] = None) -> dict[str, Any]:
        if isinstance(get_filesystem(path), LocalFileSystem) and os.path.isfile(os.fspath(path)):
            check_checkpoint_file(os.fspath(path))
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
