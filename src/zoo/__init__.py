"""zoo: a PyTorch Lightning model zoo driven by Hydra configs.

Five research model families share datamodules, objectives and one training entry point:

* ``python train.py experiment=<name> [key=value ...]`` trains, then tests with the best checkpoint.
* ``python eval.py ckpt_path=<file>`` rebuilds a run from its checkpoint and reports test metrics.

Importing :mod:`zoo` registers the OmegaConf resolvers the config tree uses.
"""

from zoo.utils.resolvers import register_resolvers

register_resolvers()

__version__ = "0.1.0"
__all__ = ["__version__"]
