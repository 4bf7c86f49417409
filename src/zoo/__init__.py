"""zoo: a PyTorch Lightning model zoo driven by Hydra configs.

Five research model families share datamodules, objectives and one training entry point:

* ``python train.py experiment=<name> [key=value ...]`` trains, then tests with the best checkpoint.
* ``python eval.py ckpt_path=<file or bundle>`` rebuilds a run from its checkpoint and reports test
  metrics; ``eval.split=predict`` writes predictions, ``eval.export=DIR`` a shareable bundle.

In Python::

    import zoo

    zoo.list_experiments()                 # ['capsule_blitzer', ..., 'transe_nations']
    loaded = zoo.load("logs/gcn_cora/runs/<run>/checkpoints/last.ckpt")   # or an exported bundle dir
    loaded.task                            # the trained LightningModule, in eval mode
    loaded.config.data                     # the datamodule config it was trained with
    datamodule = loaded.datamodule         # built from that config (not set up yet)

Importing :mod:`zoo` is cheap: it registers the OmegaConf resolvers the config tree uses; the
rest (Lightning, the model families) is imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.utils.resolvers import register_resolvers

if TYPE_CHECKING:  # pragma: no cover
    from zoo.checkpoints import LoadedCheckpoint

register_resolvers()

__version__ = "0.1.0"
__all__ = ["__version__", "load", "list_experiments"]


def load(path: str, key: str = "path") -> "LoadedCheckpoint":
    """Load a trained zoo model, ready for inference, from a checkpoint or an exported bundle.

    Nothing is unpickled: the checkpoint is read with ``torch.load(weights_only=True)`` (a bundle's
    weights from ``model.safetensors``), and every ``_target_`` of its stored config is checked
    against zoo's allowlist before the datamodule and task are built from it.

    :param path: a ``.ckpt`` file written by ``train.py``, or a directory written by
        ``eval.py ... eval.export=DIR``.
    :param key: how errors name ``path``.
    :returns: a :class:`~zoo.checkpoints.LoadedCheckpoint` with ``task`` (the LightningModule with
        the trained weights, in eval mode), ``datamodule`` (built from the stored config, not set up),
        ``config`` (the composed config; ``config.data`` is the datamodule config) and ``path``.
        ``trainer.test(loaded.task, datamodule=loaded.datamodule)`` reproduces the checkpoint's metrics.
    :raises FileNotFoundError: ``path`` does not exist.
    :raises zoo.checkpoints.CheckpointError: the file needs unpickling (convert old checkpoints once
        with ``python -m zoo.checkpoints convert OLD NEW --trust-pickle``), or its config names a
        target outside the allowlist.
    """
    import zoo.cli  # noqa: F401 - registers the resolvers and schemas the stored configs use
    from zoo.checkpoints import load_checkpoint

    return load_checkpoint(path, key)


def list_experiments() -> list[str]:
    """The experiment presets (``conf/experiment/*.yaml``), for ``train.py experiment=<name>``."""
    from zoo.checkpoint_targets import conf_dir

    return sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))
