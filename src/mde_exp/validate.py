"""Checks of a composed configuration that Hydra cannot make: values in range, choices that fit together,
data that exist. Each failure is a ConfigError with one line naming the key, the value and what is allowed."""

import inspect
import logging
import math
from numbers import Real
from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from mde_exp import speed
from mde_exp.distributed import check_run_on
from mde_exp.errors import ConfigError
from mde_exp.loggers import WANDB_MODES
from mde_exp.nn.activations import ACTIVATIONS
from mde_exp.nn.init import SCHEMES
from mde_exp.nn.layers import NORM_KINDS
from mde_exp.paths import config_dir
from mde_exp.schemas import check_types


def _is_number(value) -> bool:
    """A finite real number (not a bool, nan or inf)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value) -> bool:
    """An integer that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


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
        not isinstance(hidden, ListConfig) or any(not _is_count(h) or h < 1 for h in hidden)
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
    if "value" in cfg.init and not _is_number(cfg.init.value):
        raise ConfigError(f"init.value={cfg.init.value}: must be a finite number")
    if "momentum" in cfg.norm and (not _is_number(cfg.norm.momentum) or not 0 <= cfg.norm.momentum <= 1):
        raise ConfigError(f"norm.momentum={cfg.norm.momentum}: must be a number in [0, 1]")
    for name, spec in (cfg.get("callbacks") or {}).items():
        every = (spec or {}).get("every_n_epochs")
        if every is not None and (not _is_count(every) or every < 1):
            raise ConfigError(f"callbacks.{name}.every_n_epochs={every}: must be a positive integer")
        patience = (spec or {}).get("patience")
        if patience is not None and (not _is_count(patience) or patience < 0):
            raise ConfigError(f"callbacks.{name}.patience={patience}: must be an integer >= 0")
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
    if opt.get("line_search_fn") not in (None, "strong_wolfe"):  # L-BFGS's only line search
        raise ConfigError(f"optimizer.line_search_fn={opt.line_search_fn}: choose strong_wolfe or null")
    scheduler = cfg.get("scheduler") or {}
    for key in ("step_size", "T_max"):
        if key in scheduler and (not _is_count(scheduler[key]) or scheduler[key] < 1):
            raise ConfigError(f"scheduler.{key}={scheduler[key]}: must be a positive integer")
    if "gamma" in scheduler and (not _is_number(scheduler.gamma) or scheduler.gamma <= 0):
        raise ConfigError(f"scheduler.gamma={scheduler.gamma}: must be a positive number")


# Top-level keys that every run reads.
_RUN_KEYS = ("data", "model", "optimizer", "scheduler", "init", "norm", "trainer", "logger", "callbacks")
_RUN_KEYS += ("dropout", "experiment", "seed", "tags", "store")


def _check_run(cfg: DictConfig) -> None:
    """The seed, the store and the W&B mode, which the run reads before it trains."""
    for key in _RUN_KEYS:
        if key not in cfg:
            raise ConfigError(f"the configuration has no '{key}' (removed with ~{key}?); the run needs it")
    seed = cfg.get("seed")
    if not _is_count(seed) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed={seed}: must be an integer in [0, 2^32)")
    root = cfg.get("store", {}).get("root")
    if not isinstance(root, str) or not root:
        raise ConfigError(f"store.root={root}: must be a folder path")
    every = cfg.store.get("checkpoint_every_n_steps")
    if every is not None and (not _is_count(every) or every < 1):
        raise ConfigError(f"store.checkpoint_every_n_steps={every}: must be a positive integer, or null")
    for key in ("book_section", "figure_id"):
        if cfg.get(key) is not None and not isinstance(cfg.get(key), str | int | float):
            raise ConfigError(f"{key}={cfg.get(key)}: must be a name (or null)")
    tags = cfg.get("tags")
    if not isinstance(tags, ListConfig) or any(not isinstance(t, str | int | float) for t in tags):
        raise ConfigError(f"tags={tags}: must be a list of names")
    wandb = (cfg.get("logger") or {}).get("wandb") or {}
    if wandb.get("mode", "auto") not in WANDB_MODES:
        raise ConfigError(f"logger.wandb.mode={wandb.get('mode')}: choose one of {', '.join(WANDB_MODES)}")


def _check_ensemble(cfg: DictConfig) -> None:
    """ensemble.size >= 1; its seeds and values, where given, one per member; `vary` an existing key that
    is not the run's own (seed, store, ensemble, ...)."""
    ens = cfg.get("ensemble") or {}
    size = ens.get("size", 1)
    if not _is_count(size) or size < 1:
        raise ConfigError(f"ensemble.size={size}: must be a positive integer (1: an ordinary run)")
    seeds, vary, values = ens.get("seeds"), ens.get("vary"), ens.get("values")
    if seeds is not None and (
        len(seeds) != size or any(not _is_count(s) or not 0 <= s < 2**32 for s in seeds)
    ):
        raise ConfigError(f"ensemble.seeds={seeds}: must be {size} integers in [0, 2^32), one per member")
    if (vary is None) != (values is None):
        raise ConfigError("ensemble.vary and ensemble.values go together: a key and one value per member")
    if vary is not None:
        if (
            vary.split(".")[0] in ("experiment", "seed", "tags", "store", "logger", "ensemble", "hydra")
            or OmegaConf.select(cfg, vary) is None
        ):
            raise ConfigError(f"ensemble.vary={vary}: must name a set config key such as optimizer.lr")
        if len(values) != size:
            raise ConfigError(f"ensemble.values has {len(values)} values for ensemble.size={size} members")
    if size > 1:  # what a vectorised ensemble cannot reproduce, refused here (before Hydra starts)
        from mde_exp.ensemble import check_supported, member_configs

        check_supported(cfg)
        member_configs(cfg)


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
    if not _is_count(epochs) or epochs < 1:
        raise ConfigError(f"trainer.max_epochs={epochs}: must be a positive integer")
    batch = cfg.data.get("batch_size")
    if batch is not None and (not _is_count(batch) or batch < 1):
        raise ConfigError(f"data.batch_size={batch}: must be a positive integer")
    for size in ("train_size", "val_size", "test_size"):
        value = cfg.data.get(size)
        if value is not None and not (
            (_is_count(value) and value >= 0) or (_is_number(value) and 0 < value < 1)
        ):
            raise ConfigError(f"data.{size}={value}: must be a count >= 0, a fraction in (0, 1), or null")
    split_seed = cfg.data.get("split_seed", 0)
    if not _is_count(split_seed) or not 0 <= split_seed < 2**32:
        raise ConfigError(f"data.split_seed={split_seed}: must be an integer in [0, 2^32)")
    classes = cfg.data.get("classes")
    if classes is not None and (
        not isinstance(classes, ListConfig) or not all(_is_count(c) for c in classes)
    ):
        raise ConfigError(f"data.classes={classes}: must be a list of integer labels, or null")
    eval_train = cfg.data.get("eval_train_size")
    if eval_train is not None and (not _is_count(eval_train) or eval_train < 1):
        raise ConfigError(f"data.eval_train_size={eval_train}: must be a positive integer")
    key = OmegaConf.to_yaml(cfg.data, resolve=True)
    if key not in _DATA_CHECKED:
        try:
            datamodule = instantiate(cfg.data)
        except Exception as err:  # a constructor's own check (sizes, paths) is a configuration error here
            raise ConfigError(f"data: {_cause(err)}") from None
        datamodule.check_available()
        try:
            datamodule.setup()  # loads and splits: sizes that leave no data are found here
        except (ValueError, TypeError) as err:
            raise ConfigError(f"data: {err}") from None
        _DATA_CHECKED[key] = (type(datamodule).__name__, datamodule.task, datamodule.model_inputs())
    quiet = logging.root.manager.disable
    logging.disable(logging.ERROR)  # Hydra logs a failed import before raising it
    try:
        get_class(cfg.model._target_)
    except Exception as err:
        raise ConfigError(
            f"model._target_={cfg.model._target_}: {str(_cause(err)).splitlines()[0]}"
        ) from None
    finally:
        logging.disable(quiet)
    _check_model_fits_data(cfg, *_DATA_CHECKED[key])
    _check_model_builds(cfg, _DATA_CHECKED[key][2])


def _check_model_builds(cfg: DictConfig, offered: dict[str, Any]) -> None:
    """Build the model for the data (without an optimiser): its constructor's own checks (an
    architecture that does not fit the images, an empty hidden layer list) fail here, before any run."""
    try:
        built = instantiate(cfg.model, **model_inputs_for(cfg.model, offered))
    except Exception as err:
        model = cfg.model._target_.rsplit(".", 1)[-1]
        raise ConfigError(f"model {model}: {_cause(err)}") from None
    _check_training_builds(cfg, built)


def _check_training_builds(cfg: DictConfig, model: Any) -> None:
    """Build the optimiser (on the model's parameters), the scheduler, the optional callbacks and the
    Trainer as the run will, so that their own argument checks (torch's 'Invalid learning rate',
    Lightning's accelerator and devices) fail here, before any run folder exists."""
    part = "optimizer"
    try:
        optimizer = None
        parameters = [p for p in model.parameters() if p.requires_grad]
        if parameters:
            optimizer = instantiate(cfg.optimizer)(parameters)
        part = "scheduler"
        if optimizer is not None and (cfg.get("scheduler") or {}).get("_target_"):
            instantiate(cfg.scheduler)(optimizer)
        part = "callbacks"
        for spec in (cfg.get("callbacks") or {}).values():
            instantiate(spec)
        part = "trainer"
        quiet = logging.root.manager.disable
        logging.disable(logging.WARNING)  # the Trainer's device lines belong to the run, not the check
        try:
            trainer = instantiate(
                cfg.trainer, logger=False, callbacks=[], enable_checkpointing=False, enable_progress_bar=False
            )
        finally:
            logging.disable(quiet)
    except Exception as err:
        raise ConfigError(
            f"{part}: {str(_cause(err)).splitlines()[0] or type(_cause(err)).__name__}"
        ) from None
    check_run_on(cfg, trainer.world_size)  # DDP: global batch divisible, data sharded (mde_exp.distributed)


def _cause(err: BaseException) -> BaseException:
    """The innermost exception: Hydra wraps a constructor's own error in an InstantiationException."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError (or DataNotFoundError) for the first problem in `cfg`; return if it can run."""
    _check_run(cfg)
    _check_ensemble(cfg)
    _check_model(cfg)
    _check_dropout(cfg)
    _check_optimizer(cfg)
    check_types(cfg)
    if problems := speed.problems(cfg.get("speed")):
        raise ConfigError(problems[0])
    _check_trainer_and_data(cfg)
