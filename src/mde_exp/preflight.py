"""Checks a command line before Hydra runs it: every job it asks for is composed and validated, so that a
bad override ends with one clear line and a non-zero exit before anything is trained or written."""

import difflib
from collections.abc import Sequence

from hydra.errors import HydraException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

from mde_exp import store, sweep
from mde_exp.errors import ConfigError
from mde_exp.paths import config_dir
from mde_exp.validate import check_config

# Flags after which Hydra runs nothing (help, printing the config): left to Hydra.
_INFO_FLAGS = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "--shell-completion", "-sc")
_RUN_FLAGS = ("-m", "--multirun")


def group_options(group: str) -> list[str]:
    """The options of a config group of this app (the YAML files in conf/<group>/)."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def _groups() -> list[str]:
    return sorted(p.name for p in config_dir().iterdir() if p.is_dir())


def _check_group_choices(overrides: Sequence[str]) -> None:
    groups = _groups()
    for override in sweep.override_parser().parse_overrides(list(overrides)):
        group = override.key_or_group
        if group not in groups or override.package is not None or override.is_delete():
            continue
        values = (
            list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        )
        for value in values:
            if not isinstance(value, str) or value not in group_options(group):
                raise ConfigError(
                    f"unknown {group} '{value}'; choose one of: {', '.join(group_options(group))}"
                )


def _is_trainer_argument(name: str) -> bool:
    """Whether `name` is an argument of lightning.Trainer (e.g. precision: ++trainer.precision=bf16-mixed)."""
    import inspect

    from lightning import Trainer

    return name in inspect.signature(Trainer).parameters


def _check_keys(base: DictConfig, overrides: Sequence[str]) -> None:
    """A value override of a key that the composed config lacks is a misspelling unless it starts with +."""
    groups = _groups()
    for override in sweep.override_parser().parse_overrides(list(overrides)):
        key = override.key_or_group
        if override.is_add() or override.is_force_add() or key in groups or key.startswith("hydra"):
            continue
        if OmegaConf.select(base, key, default="__missing__") != "__missing__":
            continue
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(base, parent_key) if parent_key else base
        if not isinstance(parent, DictConfig):
            raise ConfigError(f"unknown key '{key}': '{parent_key}' has no keys")
        known = [str(k) for k in parent]
        if parent_key == "trainer" and _is_trainer_argument(leaf):
            raise ConfigError(
                f"'{key}' is a Lightning Trainer argument that the trainer config does not set; "
                f"add it with '++{override.input_line}'"
            )
        close = difflib.get_close_matches(leaf, known, n=1)
        hint = f"did you mean '{parent_key + '.' if parent_key else ''}{close[0]}'? " if close else ""
        where = f"'{parent_key}'" if parent_key else "the top level"
        raise ConfigError(f"unknown key '{key}'; {hint}keys at {where}: {', '.join(known)}")


def check_command_line(argv: Sequence[str]) -> int:
    """Validate every job of the command line `argv` (without the program name); return the job count.

    Raises ConfigError (or DataNotFoundError) naming the first problem.
    """
    if any(a in _INFO_FLAGS or a.split("=")[0] in _INFO_FLAGS for a in argv):
        return 0
    unknown_flags = [a for a in argv if a.startswith("-") and a not in _RUN_FLAGS]
    if unknown_flags:
        return 0  # Hydra's own flags (--config-dir, ...): Hydra checks them
    overrides = [a for a in argv if not a.startswith("-")]
    try:
        parsed = sweep.override_parser().parse_overrides(overrides)
    except OverrideParseException as err:
        raise ConfigError(f"cannot read the override: {str(err).splitlines()[0]}") from None
    _check_group_choices(overrides)
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    try:
        base = store.compose(plain, return_hydra_config=True)
    except HydraException as err:
        _check_keys(store.compose([o for o in plain if "=" in o and o.split("=")[0] in _groups()]), plain)
        raise ConfigError(str(err).splitlines()[0]) from None
    _check_keys(base, plain)
    multirun = "-m" in argv or "--multirun" in argv or str(base.hydra.mode) == "RunMode.MULTIRUN"
    params = sweep.sweep_params(base.hydra) if multirun else []
    sweeping = [o.input_line for o in parsed if o.is_sweep_override()]
    if sweeping and not multirun:
        raise ConfigError(
            f"'{sweeping[0]}' sweeps over several values: add -m (or use an experiment that sweeps)"
        )
    jobs = sweep.expand(overrides, params) if multirun else [overrides]
    for job in jobs:
        _check_group_choices(job)
        try:
            cfg = store.compose(job)
        except HydraException as err:
            raise ConfigError(str(err).splitlines()[0]) from None
        _check_keys(cfg, job)
        try:
            check_config(cfg)
        except ConfigError as err:
            raise ConfigError(f"{err} (in job {' '.join(job)})" if len(jobs) > 1 else str(err)) from None
    return len(jobs)
