"""Train a zoo model: ``python train.py experiment=<name> [overrides]``. See README.md."""

from typing import Optional

import hydra
from omegaconf import DictConfig

from zoo import cli


@hydra.main(version_base="1.3", config_path="conf", config_name="train.yaml")
def main(cfg: DictConfig) -> Optional[float]:
    metrics, _ = cli.train(cfg)
    # the value Optuna / other sweepers optimise
    return cli.metric_value(metrics, cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
