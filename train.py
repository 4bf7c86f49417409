"""Train a zoo model: ``python train.py experiment=<name> [overrides]`` (same as ``zoo-train``)."""

from zoo.console import train_main as main

if __name__ == "__main__":
    main()
