"""Expanding a sweep into its jobs' overrides, as Hydra's basic sweeper does (for checks and recipes)."""

from collections.abc import Sequence
from functools import cache

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from mde_exp.paths import config_dir


@cache
def _config_loader() -> ConfigLoaderImpl:
    """Hydra's loader over the project's configs: it lists a group's options for `glob(...)` sweeps."""
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(config_dir())))


def override_parser() -> OverridesParser:
    """A parser of command-line overrides that can expand `glob(...)` over a group's options."""
    return OverridesParser.create(config_loader=_config_loader())


def sweep_params(hydra_cfg: DictConfig) -> list[str]:
    """The `hydra.sweeper.params` of a composed config as override strings (`key=a,b,c`)."""
    params = hydra_cfg.get("sweeper", {}).get("params") or {}
    return [f"{key}={value}" for key, value in params.items()]


def expand(overrides: Sequence[str], params: Sequence[str] = ()) -> list[list[str]]:
    """Every job of a sweep: the cartesian product of the sweep overrides, command line over config
    params for the same key, each job as a list of plain overrides."""
    by_key: dict[str, str] = {}
    parser = override_parser()
    for text in [*params, *overrides]:
        override = parser.parse_override(text)
        by_key[override.get_key_element()] = text
    parsed = parser.parse_overrides(list(by_key.values()))
    batches = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for batch in batches for job in batch]
