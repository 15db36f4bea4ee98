"""Where the package finds its Hydra configs and recipes, from any working directory."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_or_source(name: str) -> Path:
    """`name` inside an installed wheel (mde_exp/<name>), else beside src/ in a source checkout."""
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parents[1] / name


def config_dir() -> Path:
    """The folder of Hydra configs (conf/)."""
    return _shipped_or_source("conf")


def experiments_dir() -> Path:
    """The folder of figure recipes (experiments/)."""
    return _shipped_or_source("experiments")
