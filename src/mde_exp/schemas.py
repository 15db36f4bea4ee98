"""Typed configs: a structured-config schema (a dataclass, registered in Hydra's ConfigStore as
`schema_<group>_<option>`) for every option of every config group, against which each composed config is
checked before anything runs.

Configs mirror the code, so the schema of an option with a `_target_` is read off its target's signature:
each constructor argument becomes a field of the type its annotation gives (int, float, bool, str, lists
and optionals of these; anything else is left untyped), and a key the target does not take is refused.
The groups without a target (init, norm, profile) and the run's own keys (seed, store, ...) have
hand-written dataclasses. Ranges (a dropout rate in [0, 1), a positive learning rate) are checked in
validate.py; a type or key error found here names the key, the value and the type it needs.
"""

import functools
import inspect
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Optional, Union

from hydra.core.config_store import ConfigStore
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from mde_exp.errors import ConfigError
from mde_exp.paths import config_dir

PRIMITIVES = (int, float, bool, str)
# Keys that Hydra's instantiate reads, not the target.
HYDRA_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_")


@dataclass
class InitConf:
    """conf/init: the initialisation scheme (book section 5.5) and its scale."""

    scheme: str = "default"
    std: Optional[float] = None  # noqa: UP045 (OmegaConf reads Optional, not X | None, on Python 3.11)
    value: Optional[float] = None  # noqa: UP045
    gain: Optional[float] = None  # noqa: UP045


@dataclass
class NormConf:
    """conf/norm: the normalisation layers (book section 5.6)."""

    kind: str = "none"
    momentum: Optional[float] = None  # noqa: UP045
    eps: Optional[float] = None  # noqa: UP045


@dataclass
class ProfileConf:
    """conf/profile: how much each recipe trains (tiny, quick, full)."""

    name: str = "quick"
    max_epochs: int = 10


@dataclass
class SpeedConf:
    """conf/speed: torch.compile, the float32 matmul precision and the Trainer's precision (mde_exp.speed)."""

    compile: bool = False
    compile_mode: Optional[str] = None  # noqa: UP045
    matmul_precision: str = "highest"
    precision: Optional[str] = None  # noqa: UP045


@dataclass
class StoreConf:
    """The run store: where runs go, and whether finished runs are skipped and interrupted ones resumed."""

    root: str = "runs"
    skip_finished: bool = True
    resume: bool = True
    checkpoint_every_n_steps: Optional[int] = None  # noqa: UP045


@dataclass
class EnsembleConf:
    """A vectorised ensemble (mde_exp.ensemble): size, the members' seeds, one key varied with its values."""

    size: int = 1
    seeds: Optional[list[int]] = None  # noqa: UP045
    vary: Optional[str] = None  # noqa: UP045
    values: Optional[list[Any]] = None  # noqa: UP045


@dataclass
class RunConf:
    """The run's own keys (conf/config.yaml), beside the config groups."""

    experiment: str = "default"
    seed: int = 0
    tags: list[str] = field(default_factory=list)
    book_section: Optional[str] = None  # noqa: UP045
    figure_id: Optional[str] = None  # noqa: UP045
    store: StoreConf = field(default_factory=StoreConf)
    ensemble: EnsembleConf = field(default_factory=EnsembleConf)


HAND_WRITTEN = {"init": InitConf, "norm": NormConf, "profile": ProfileConf, "speed": SpeedConf}
TARGET_GROUPS = ("data", "model", "optimizer", "scheduler")


def field_type(annotation: Any) -> Any:
    """The OmegaConf field type for a Python annotation: primitives, lists and optionals of them are
    kept; anything else (unions, callables, tensors, modules) is Any."""
    if annotation in PRIMITIVES:
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and len(inner) < len(args):
            kept = field_type(inner[0])
            return Optional[kept] if kept is not Any else Any  # noqa: UP045
        return Any
    if origin in (list, Sequence, typing.Sequence) and len(args) == 1 and args[0] in PRIMITIVES:
        return list[args[0]]
    return Any


def _parameters(obj: Any) -> list[tuple[inspect.Parameter, Any]] | None:
    """The named parameters of a function, or of a class's constructor together with those of the
    parents that its **kwargs are passed on to, each with its annotation; None when **kwargs reach a
    constructor that takes any keyword."""
    owners = [c for c in obj.__mro__ if "__init__" in vars(c)] if inspect.isclass(obj) else [obj]
    found: dict[str, tuple[inspect.Parameter, Any]] = {}
    for owner in owners:
        function = owner.__init__ if inspect.isclass(owner) else owner
        try:
            parameters = inspect.signature(function).parameters
            hints = typing.get_type_hints(function)
        except Exception:  # a builtin signature, or annotations that do not resolve: untyped
            return None
        for name, p in parameters.items():
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name not in found:
                found[name] = (p, hints.get(name, Any))
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            return list(found.values())
    return None


@functools.cache
def schema_for_target(target: str) -> type | None:
    """A dataclass with one optional field per argument of `target` (a class or a function), typed by its
    annotations; None when it takes any keyword (**kwargs that no constructor resolves)."""
    parameters = _parameters(get_object(target))
    if parameters is None:
        return None
    fields = [(key, Any, field(default=None)) for key in HYDRA_KEYS]
    for p, annotation in parameters:
        kept = field_type(annotation)
        fields.append((p.name, Any if kept is Any else Optional[kept], field(default=None)))  # noqa: UP045
    return make_dataclass(f"{target.rsplit('.', 1)[-1]}Conf", fields)


def _group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


@functools.cache
def register() -> dict[str, type]:
    """Put every option's schema in Hydra's ConfigStore as `schema_<group>_<option>` (and the run's as
    `schema_run`; primary-config names, so that they stay out of the config groups `--help` lists);
    returns them by name."""
    schemas: dict[str, type] = {"schema_run": RunConf}
    for group, schema in HAND_WRITTEN.items():
        for option in _group_options(group):
            schemas[f"schema_{group}_{option}"] = schema
    for group in TARGET_GROUPS:
        for option in _group_options(group):
            target = option_config(group, option).get("_target_")
            schema = schema_for_target(target) if target else None
            if schema is not None:
                schemas[f"schema_{group}_{option}"] = schema
    cs = ConfigStore.instance()
    for name, schema in schemas.items():
        cs.store(name=name, node=schema)
    return schemas


def option_config(group: str, option: str) -> DictConfig:
    """An option's YAML merged over the options of its group that its defaults list names."""
    own = OmegaConf.load(config_dir() / group / f"{option}.yaml")
    parents = [str(d) for d in own.pop("defaults", []) if str(d) != "_self_"]
    merged = [option_config(group, p.split("@")[0]) for p in parents if "override" not in p]
    return OmegaConf.merge(*merged, own)


def _describe(kind: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return f"{_describe(inner[0])} or null"
    if origin is list:
        plural = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}
        return f"a list of {plural[args[0]]}"
    return names.get(kind, str(kind))


def _check(prefix: str, schema: type, values: DictConfig, owner: str) -> None:
    """Merge the resolved `values` into `schema`; a type or key error becomes one ConfigError line."""
    plain = OmegaConf.create(OmegaConf.to_container(values, resolve=True))
    try:
        OmegaConf.merge(OmegaConf.structured(schema), plain)
    except ConfigKeyError as err:
        key = err.key if err.key is not None else str(err).split("'")[1]
        allowed = ", ".join(n for n in schema.__dataclass_fields__ if n not in HYDRA_KEYS)
        raise ConfigError(f"{prefix}{key}: {owner} has no such key; its keys: {allowed}") from None
    except ValidationError as err:
        key = str(err.full_key or err.key)
        kind: Any = schema
        for part in key.split("."):  # down nested dataclasses to the field, and into a list's items
            kind = kind.__dataclass_fields__[part.split("[")[0]].type
            if "[" in part:
                kind = next(a for a in typing.get_args(kind) if a is not type(None))
                kind = typing.get_args(kind)[0]
        value = OmegaConf.select(plain, key)
        raise ConfigError(f"{prefix}{key}={value}: must be {_describe(kind)} ({owner})") from None


def check_types(cfg: DictConfig) -> None:
    """Check the composed `cfg` against the schemas of its options and the run's own keys."""
    run_keys = {k: cfg[k] for k in RunConf.__dataclass_fields__ if k in cfg}
    _check("", RunConf, OmegaConf.create(run_keys), "the run")
    for group, schema in HAND_WRITTEN.items():
        if group in cfg and isinstance(cfg[group], DictConfig):
            _check(f"{group}.", schema, cfg[group], f"the {group} options")
    for group in TARGET_GROUPS:
        section = cfg.get(group)
        if not isinstance(section, DictConfig) or not section.get("_target_"):
            continue
        schema = schema_for_target(section._target_)
        if schema is not None:
            _check(f"{group}.", schema, section, section._target_.rsplit(".", 1)[-1])
