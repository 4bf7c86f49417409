"""Ships the Hydra config tree (``conf/``) inside the wheel as ``zoo/conf``.

Everything else is declared in pyproject.toml. In a checkout the tree stays at the top level (the
tests and ``train.py`` read it there); ``zoo.console.config_dir`` finds whichever is present.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONF = Path(__file__).resolve().parent / "conf"


class BuildPyWithConfigs(build_py):
    """``build_py`` that also copies every ``conf/**/*.yaml`` to ``<build_lib>/zoo/conf``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads conf/ of the checkout
        if not (CONF / "train.yaml").is_file():
            raise FileNotFoundError(f"{CONF}/train.yaml is missing: the wheel needs the config tree")
        target = Path(self.build_lib) / "zoo" / "conf"
        shutil.rmtree(target, ignore_errors=True)
        for source in sorted(CONF.rglob("*.yaml")):
            if source.relative_to(CONF).parts[0] == "local":  # machine-specific, git-ignored
                continue
            dest = target / source.relative_to(CONF)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)


setup(cmdclass={"build_py": BuildPyWithConfigs})
