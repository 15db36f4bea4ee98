"""Checks a command line before Hydra runs it: every job it asks for is composed and validated, so that a
bad override ends with one clear line and a non-zero exit before anything is trained or written."""

import difflib
import functools
from collections.abc import Sequence

from hydra.errors import HydraException, OverrideParseException
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from mde_exp import store, sweep
from mde_exp.distributed import check_multirun
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
        if override.is_delete():  # ~key: Hydra refuses an unknown key, check_config a needed one
            continue
        found = OmegaConf.select(base, key, default="__missing__", throw_on_resolution_failure=False)
        if found != "__missing__":
            continue
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(base, parent_key, throw_on_resolution_failure=False) if parent_key else base
        while parent is None and "." in parent_key:  # a misspelt section (mdoel.hidden_sizes): name it
            parent_key, _, leaf = parent_key.rpartition(".")
            parent = OmegaConf.select(base, parent_key, throw_on_resolution_failure=False)
        if parent is None:
            parent_key, leaf, parent = "", key.split(".")[0], base
        if not isinstance(parent, DictConfig):
            raise ConfigError(f"unknown key '{key}': '{parent_key}' has no keys")
        known = [str(k) for k in parent]
        if leaf in known:  # there, but set to ??? (missing): _check_resolves names it
            continue
        if parent_key == "trainer" and _is_trainer_argument(leaf):
            raise ConfigError(
                f"'{key}' is a Lightning Trainer argument that the trainer config does not set; "
                f"add it with '++{override.input_line}'"
            )
        close = difflib.get_close_matches(leaf, known, n=1)
        hint = f"did you mean '{parent_key + '.' if parent_key else ''}{close[0]}'? " if close else ""
        where = f"'{parent_key}'" if parent_key else "the top level"
        raise ConfigError(f"unknown key '{key}'; {hint}keys at {where}: {', '.join(known)}")


# Keys whose values Lightning also takes as text or lists where the config's default is a number.
_ANY_TYPE_KEYS = ("trainer.devices",)


def _kind_needed(default: object, value: object) -> str | None:
    """What kind of value replaces `default`, if `value` is not of that kind (None: it is, or any will do).
    A number may become a list (dropout=[0.4,0.3]) and a name a list (an activation per layer); null
    is left to the checks of each key."""
    if value is None or default is None or (isinstance(value, str) and "${" in value):
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int | float):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if number or isinstance(value, list) else "a number"
    if isinstance(default, ListConfig):
        return None if isinstance(value, list) else "a list"
    if isinstance(default, DictConfig):
        return None if isinstance(value, dict) else "a mapping"
    return "a name or a number" if isinstance(value, dict) else None


def _check_types(job: Sequence[str]) -> None:
    """Each value override must be of the kind its default is (a number for a number, ...): a wrong type
    is refused here rather than found by the code that reads the value mid-run."""
    parsed = sweep.override_parser().parse_overrides(list(job))
    groups = _groups()
    choices = [o.input_line for o in parsed if o.key_or_group in groups or o.is_add() or o.is_force_add()]
    defaults = _compose_defaults(tuple(choices))
    for override in parsed:
        key = override.key_or_group
        if key in groups or key in _ANY_TYPE_KEYS or key.startswith("hydra") or override.is_delete():
            continue
        if override.is_add() or override.is_force_add():
            continue
        default = OmegaConf.select(defaults, key, default=None, throw_on_resolution_failure=False)
        kind = _kind_needed(default, override.value())
        if kind is not None:
            shown = (
                OmegaConf.to_container(default) if isinstance(default, DictConfig | ListConfig) else default
            )
            raise ConfigError(
                f"{key}={override.get_value_element_as_str()}: must be {kind} (the default is {shown})"
            )


@functools.lru_cache(maxsize=64)
def _compose_defaults(choices: tuple[str, ...]) -> DictConfig:
    """The config that group choices (and +additions) give, before any value override."""
    return store.compose(list(choices))


def _check_resolves(cfg: DictConfig, job: Sequence[str]) -> None:
    """Every interpolation of the job's config resolves (`seed=${nope}` is found here)."""
    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"cannot resolve the configuration: {str(err).splitlines()[0]}") from None


def _without_hydra(cfg: DictConfig) -> DictConfig:
    """A copy of `cfg` without Hydra's own node: what composing the same overrides for a job gives."""
    job = cfg.copy()
    with open_dict(job):
        job.pop("hydra")
    return job


def _trainer_choice(base: DictConfig, job: Sequence[str]) -> str:
    """The trainer option a job runs with (its own override, else the composed default's)."""
    chosen = [o.split("=", 1)[1] for o in job if o.startswith("trainer=")]
    return chosen[-1] if chosen else str(base.hydra.runtime.choices.get("trainer", "default"))


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
    for override in parsed:
        if not override.key_or_group:
            raise ConfigError(f"cannot read the override '{override.input_line}': it names no key")
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
    if not jobs:
        raise ConfigError(f"the sweep {' '.join(sweeping or params)} has no jobs (an empty range or glob?)")
    for job in jobs:
        _check_group_choices(job)
        try:
            cfg = store.compose(job) if multirun else _without_hydra(base)  # one run: composed once
        except HydraException as err:
            raise ConfigError(str(err).splitlines()[0]) from None
        _check_keys(cfg, job)
        _check_types(job)
        _check_resolves(cfg, job)
        if multirun:  # DDP re-runs the command line per process: not inside a sweep's launcher
            check_multirun(cfg.trainer, base.hydra.launcher, _trainer_choice(base, job))
        try:
            check_config(cfg)
        except OmegaConfBaseException as err:  # a key the run needs, removed (~model) or set to null
            raise ConfigError(f"the configuration cannot run: {str(err).splitlines()[0]}") from None
        except ConfigError as err:
            raise ConfigError(f"{err} (in job {' '.join(job)})" if len(jobs) > 1 else str(err)) from None
    return len(jobs)
