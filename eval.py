"""Evaluate a checkpoint: ``python eval.py ckpt_path=<file or bundle> [overrides]``. See README.md.

``data.*``/``model.*`` overrides (and ``data=``/``model/net=`` group choices) apply to the
checkpoint's own config, so they are taken off the command line before Hydra composes ``eval.yaml``.
"""

import sys

import hydra
from omegaconf import DictConfig

from zoo import cli

RUN_OVERRIDES: list[str] = []


@hydra.main(version_base="1.3", config_path="conf", config_name="eval.yaml")
def main(cfg: DictConfig) -> None:
    cli.evaluate(cfg, overrides=RUN_OVERRIDES)


if __name__ == "__main__":
    RUN_OVERRIDES, rest = cli.split_run_overrides(sys.argv[1:])
    sys.argv = [sys.argv[0], *rest]
    main()
