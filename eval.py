"""Evaluate a checkpoint: ``python eval.py ckpt_path=<file> [overrides]``. See README.md."""

import hydra
from omegaconf import DictConfig

from zoo import cli


@hydra.main(version_base="1.3", config_path="conf", config_name="eval.yaml")
def main(cfg: DictConfig) -> None:
    cli.evaluate(cfg)


if __name__ == "__main__":
    main()
