"""Evaluate a checkpoint: ``python eval.py ckpt_path=<file or bundle> [overrides]`` (same as ``zoo-eval``)."""

from zoo.console import eval_main as main

if __name__ == "__main__":
    main()
