"""Checks of a composed configuration that Hydra cannot make: values in range, choices that fit together,
data that exist. Each failure is a ConfigError with one line naming the key, the value and what is allowed."""

import inspect
from numbers import Real
from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from mde_exp.errors import ConfigError
from mde_exp.nn.activations import ACTIVATIONS
from mde_exp.nn.init import SCHEMES
from mde_exp.nn.layers import NORM_KINDS
from mde_exp.paths import config_dir


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_dropout(cfg: DictConfig) -> None:
    dropout = cfg.get("dropout", 0.0)
    rates = list(dropout) if isinstance(dropout, ListConfig | list | tuple) else [dropout]
    for p in rates:
        if not _is_number(p) or not 0.0 <= p < 1.0:
            shown = list(dropout) if isinstance(dropout, ListConfig) else dropout
            raise ConfigError(f"dropout={shown}: each dropout rate must be a number in [0, 1)")
    model = cfg.model
    if "dropout" not in model and any(p > 0 for p in rates):
        own = [key for key in model if str(key).endswith("_dropout")]
        hint = f" (its own rate is model.{own[0]})" if own else ""
        raise ConfigError(
            f"dropout={dropout}: model {model._target_.rsplit('.', 1)[-1]} has no dropout layers "
            f"that the dropout choice sets{hint}"
        )
    # How many rates a list needs is the model's own check (an MLP: one per hidden layer; a ConvNet: one
    # more, for its flattened features), reported by _check_model_builds before anything runs.


def _check_model(cfg: DictConfig) -> None:
    model = cfg.model
    hidden = model.get("hidden_sizes")
    if hidden is not None and (
        not isinstance(hidden, ListConfig) or any(not isinstance(h, int) or h < 1 for h in hidden)
    ):
        raise ConfigError(f"model.hidden_sizes={hidden}: must be a list of positive integers")
    activation = model.get("activation")  # one name, or a list (the MLP's: one per hidden layer)
    names = list(activation) if isinstance(activation, ListConfig) else [activation]
    for name in names if activation is not None else []:
        if name not in ACTIVATIONS:
            raise ConfigError(f"model.activation={name}: choose one of {', '.join(ACTIVATIONS)}")
    if cfg.init.get("scheme") not in SCHEMES:
        raise ConfigError(f"init.scheme={cfg.init.get('scheme')}: choose one of {', '.join(SCHEMES)}")
    if "std" in cfg.init and (not _is_number(cfg.init.std) or cfg.init.std <= 0):
        raise ConfigError(f"init.std={cfg.init.std}: must be a positive number")
    if cfg.norm.get("kind") not in NORM_KINDS:
        raise ConfigError(f"norm.kind={cfg.norm.get('kind')}: choose one of {', '.join(NORM_KINDS)}")
    if "norm" not in model and cfg.norm.kind != "none":
        raise ConfigError(
            f"norm={cfg.norm.kind}: model {model._target_.rsplit('.', 1)[-1]} has no normalisation layers"
        )


def _check_optimizer(cfg: DictConfig) -> None:
    opt = cfg.optimizer
    for key in ("lr",):
        if key in opt and (not _is_number(opt[key]) or opt[key] <= 0):
            raise ConfigError(f"optimizer.{key}={opt[key]}: the learning rate must be a positive number")
    for key in ("momentum", "weight_decay"):
        if key in opt and (not _is_number(opt[key]) or opt[key] < 0):
            raise ConfigError(f"optimizer.{key}={opt[key]}: must be a number >= 0")
    if "momentum" in opt and opt.momentum >= 1:
        raise ConfigError(f"optimizer.momentum={opt.momentum}: must be below 1")


# Data configurations already loaded and split once in this process (a sweep checks each once),
# with what they offer a model: (data class name, task, model inputs).
_DATA_CHECKED: dict[str, tuple[str, str, dict[str, Any]]] = {}

# Constructor arguments that come from other config groups rather than from the data.
_FROM_OTHER_GROUPS = ("optimizer", "scheduler")


def _model_parameters(model: DictConfig) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(get_class(model._target_)).parameters)


def model_inputs_for(model: DictConfig, offered: dict[str, Any]) -> dict[str, Any]:
    """The sizes the data offer (input_dim, num_classes, ...) that the model's constructor takes and
    its config does not set."""
    params = _model_parameters(model)
    return {k: v for k, v in offered.items() if k in params and k not in model}


def _missing_inputs(model: DictConfig, offered: dict[str, Any]) -> list[str]:
    """The required constructor arguments of `model` that neither its config nor the data give."""
    return [
        name
        for name, p in _model_parameters(model).items()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and name not in model
        and name not in _FROM_OTHER_GROUPS
        and name not in offered
    ]


def _model_option(name: str) -> DictConfig:
    """A model option's YAML merged over the options its defaults list names (siamese_triplet: siamese)."""
    own = OmegaConf.load(config_dir() / "model" / f"{name}.yaml")
    parents = [str(d) for d in own.pop("defaults", []) if str(d) != "_self_"]
    return OmegaConf.merge(*(_model_option(p) for p in parents), own)


def _models_for(offered: dict[str, Any]) -> list[str]:
    """The model options (conf/model/*.yaml) that data offering `offered` can build."""
    return [
        path.stem
        for path in sorted((config_dir() / "model").glob("*.yaml"))
        if not _missing_inputs(_model_option(path.stem), offered)
    ]


def _check_model_fits_data(cfg: DictConfig, data_name: str, task: str, offered: dict[str, Any]) -> None:
    missing = _missing_inputs(cfg.model, offered)
    if missing:
        fitting = ", ".join(_models_for(offered)) or "none yet"
        raise ConfigError(
            f"model {cfg.model._target_.rsplit('.', 1)[-1]} needs {', '.join(missing)}, which {data_name} "
            f"({task} data) does not give; models for it: {fitting}"
        )


def _check_trainer_and_data(cfg: DictConfig) -> None:
    epochs = cfg.trainer.get("max_epochs")
    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"trainer.max_epochs={epochs}: must be a positive integer")
    batch = cfg.data.get("batch_size")
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise ConfigError(f"data.batch_size={batch}: must be a positive integer")
    key = OmegaConf.to_yaml(cfg.data, resolve=True)
    if key not in _DATA_CHECKED:
        try:
            datamodule = instantiate(cfg.data)
        except Exception as err:  # a constructor's own check (sizes, paths) is a configuration error here
            raise ConfigError(f"data: {_cause(err)}") from None
        datamodule.check_available()
        try:
            datamodule.setup()  # loads and splits: sizes that leave no data are found here
        except ValueError as err:
            raise ConfigError(f"data: {err}") from None
        _DATA_CHECKED[key] = (type(datamodule).__name__, datamodule.task, datamodule.model_inputs())
    _check_model_fits_data(cfg, *_DATA_CHECKED[key])
    _check_model_builds(cfg, _DATA_CHECKED[key][2])


def _check_model_builds(cfg: DictConfig, offered: dict[str, Any]) -> None:
    """Build the model for the data (without an optimiser): its constructor's own checks (an
    architecture that does not fit the images, an empty hidden layer list) fail here, before any run."""
    try:
        instantiate(cfg.model, **model_inputs_for(cfg.model, offered))
    except Exception as err:
        model = cfg.model._target_.rsplit(".", 1)[-1]
        raise ConfigError(f"model {model}: {_cause(err)}") from None


def _cause(err: BaseException) -> BaseException:
    """The innermost exception: Hydra wraps a constructor's own error in an InstantiationException."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError (or DataNotFoundError) for the first problem in `cfg`; return if it can run."""
    _check_model(cfg)
    _check_dropout(cfg)
    _check_optimizer(cfg)
    _check_trainer_and_data(cfg)
