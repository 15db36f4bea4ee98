"""Property-based tests (hypothesis) of bad command lines: generated from the real config (its keys, their
types, the options of each config group), each malformed command line is refused by the preflight with
one clear line naming the key or value, and through the CLI with exit code 2 and no run folder."""

import functools
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, ListConfig, OmegaConf

from mde_exp import store
from mde_exp.errors import UserError
from mde_exp.nn.activations import ACTIVATIONS
from mde_exp.paths import config_dir
from mde_exp.preflight import check_command_line, group_options
from mde_exp.schemas import schema_for_target

from .conftest import run_cli

# Group choices whose configs add keys of their own (optimiser momentum, init.std, a scheduler, ...): the
# keys of each are fuzzed, not only those of the default config.
CONTEXTS = (
    (),
    ("optimizer=adamw",),
    ("optimizer=momentum",),
    ("init=normal",),
    ("norm=batch",),
    ("scheduler=step",),
    ("callbacks=early_stopping",),
)
# The project's config groups (conf/hydra/ holds presets of Hydra's own groups: launchers).
GROUPS = sorted(p.name for p in config_dir().iterdir() if p.is_dir() and p.name != "hydra")
# Words that Hydra's override grammar reads as something other than a string.
RESERVED = {"true", "false", "null", "nan", "inf"}
# Keys that take more than one kind of value by design (Lightning's devices: 1, "auto", [0, 1]).
ANY_TYPE = {"trainer.devices"}


@dataclass(frozen=True)
class Malformed:
    """A command line that must be refused, and a text the one-line error must contain."""

    argv: tuple[str, ...]
    names: str


@functools.cache
def composed(context: tuple[str, ...]) -> DictConfig:
    """The config that the group choices `context` compose."""
    return store.compose(list(context))


@functools.cache
def leaves(context: tuple[str, ...]) -> dict[str, object]:
    """The value keys of the config that `context` composes (dotted, not Hydra's own), with their
    resolved values; interpolations to whole sections (model.init: ${init}) are left out."""
    cfg = composed(context)
    out: dict[str, object] = {}

    def walk(node: DictConfig, prefix: str) -> None:
        for key in node:
            path = f"{prefix}{key}"
            if OmegaConf.is_interpolation(node, key):
                value = OmegaConf.select(cfg, path)
                if not isinstance(value, DictConfig | ListConfig):
                    out[path] = value
            elif isinstance(node[key], DictConfig):
                walk(node[key], f"{path}.")
            else:
                value = node[key]
                out[path] = OmegaConf.to_container(value) if isinstance(value, ListConfig) else value

    walk(cfg, "")
    return out


def hydra_text(value: object) -> str:
    """A value written as an override's right-hand side."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(hydra_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_text(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, float) else str(value)


words = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(lambda w: w not in RESERVED)
contexts = st.sampled_from(CONTEXTS)


def _typed_keys(context: tuple[str, ...]) -> list[str]:
    return sorted(
        k
        for k, v in leaves(context).items()
        if v is not None and not isinstance(v, str) and "_target_" not in k and k not in ANY_TYPE
    )


@st.composite
def wrong_types(draw) -> Malformed:
    """A key of the config given a value of another kind: a word for a number, a number for a flag..."""
    context = draw(contexts)
    key = draw(st.sampled_from(_typed_keys(context)))
    default = leaves(context)[key]
    others = [words, st.builds(lambda w: {w: 1}, words)]
    if not isinstance(default, bool):
        others.append(st.booleans())
    if isinstance(default, bool | list):
        others.append(st.integers(-5, 500))
    if isinstance(default, list):
        others.append(st.floats(-1, 1, allow_nan=False))
    value = draw(st.one_of(others))
    return Malformed((*context, f"{key}={hydra_text(value)}"), key.rsplit(".", 1)[-1])


def _below(limit: float) -> st.SearchStrategy[float]:
    return st.floats(max_value=limit, exclude_max=True) | st.just(float("nan"))


# Keys with a range, under the group choices that have them: values outside it.
OUT_OF_RANGE = {
    ((), "dropout"): _below(0.0) | st.floats(min_value=1.0),
    ((), "optimizer.lr"): st.floats(max_value=0.0) | st.sampled_from([float("nan"), float("inf")]),
    (("optimizer=sgd",), "optimizer.lr"): st.floats(max_value=0.0),
    (("optimizer=rmsprop",), "optimizer.lr"): st.floats(max_value=0.0),
    (("optimizer=momentum",), "optimizer.momentum"): _below(0.0) | st.floats(min_value=1.0),
    (("optimizer=nesterov",), "optimizer.momentum"): _below(0.0) | st.floats(min_value=1.0),
    (("optimizer=adamw",), "optimizer.weight_decay"): _below(0.0) | st.just(float("inf")),
    ((), "model.hidden_sizes"): st.lists(st.integers(1, 64), max_size=3).flatmap(
        lambda good: st.integers(-100, 0).map(lambda bad: [*good, bad])
    )
    | st.just([]),
    ((), "trainer.max_epochs"): st.integers(max_value=0),
    ((), "data.batch_size"): st.integers(max_value=0),
    ((), "data.eval_train_size"): st.integers(max_value=0),
    ((), "seed"): st.integers(max_value=-1) | st.integers(min_value=2**32),
    (("init=normal",), "init.std"): st.floats(max_value=0.0) | st.just(float("nan")),
    (("scheduler=step",), "scheduler.step_size"): st.integers(max_value=0),
    (("scheduler=step",), "scheduler.gamma"): st.floats(max_value=0.0),
    (("scheduler=cosine",), "scheduler.T_max"): st.integers(max_value=0),
    ((), "model.activation"): words.filter(lambda w: w not in ACTIVATIONS),
    ((), "init.scheme"): words.filter(lambda w: w not in group_options("init")),
    ((), "norm.kind"): words.filter(lambda w: w not in ("none", "batch", "layer")),
    ((), "logger.wandb.mode"): words.filter(lambda w: w not in ("auto", "online", "offline", "disabled")),
}


@st.composite
def out_of_range(draw) -> Malformed:
    """A value of the right type outside what the key allows (dropout 1.5, a negative learning rate...)."""
    context, key = draw(st.sampled_from(sorted(OUT_OF_RANGE)))
    value = draw(OUT_OF_RANGE[context, key])
    if key == "dropout" and draw(st.booleans()):
        value = [0.1, value]  # one rate per hidden layer, one of them out of range
    return Malformed((*context, f"{key}={hydra_text(value)}"), key.rsplit(".", 1)[-1])


@st.composite
def misspelt(draw, word: str, min_edits: int = 1) -> str:
    """`word` with one or two edits (a letter deleted, inserted, replaced, or two swapped)."""
    letters = "abcdefghijklmnopqrstuvwxyz_"
    for _ in range(draw(st.integers(min_edits, 2))):
        i = draw(st.integers(0, max(len(word) - 1, 0)))
        edit = draw(st.sampled_from(["delete", "insert", "replace", "swap"] if len(word) > 1 else ["insert"]))
        c = draw(st.sampled_from(letters))
        word = {
            "delete": word[:i] + word[i + 1 :],
            "insert": word[:i] + c + word[i:],
            "replace": word[:i] + c + word[i + 1 :],
            "swap": word[:i] + word[i + 1 : i + 2] + word[i : i + 1] + word[i + 2 :],
        }[edit]
    return word


@st.composite
def misspelt_keys(draw) -> Malformed:
    """A real key with its last part misspelt (edit distance 1-2), with a valid value."""
    context = draw(contexts)
    known = leaves(context)
    key = draw(st.sampled_from(sorted(known)))
    parent, _, leaf = key.rpartition(".")
    wrong = draw(misspelt(leaf))
    siblings = {k.rpartition(".")[2] for k in known if k.rpartition(".")[0] == parent}
    cfg_parent = OmegaConf.select(composed(context), parent) if parent else None
    taken = siblings | (set(cfg_parent) if isinstance(cfg_parent, DictConfig) else set())
    top_level = set(GROUPS) | {"hydra"} | (set(composed(context)) if not parent else set())
    if not wrong or wrong[0] not in "abcdefghijklmnopqrstuvwxyz_" or wrong in taken or wrong in top_level:
        wrong = leaf + "_x"  # a misspelling that can never be a real key
    typo = f"{parent}.{wrong}" if parent else wrong
    value = known[key]
    return Malformed((*context, f"{typo}={hydra_text(value)}"), f"'{typo}'")


@st.composite
def added_keys(draw) -> Malformed:
    """A key added with + to a section built from a target (data, model, optimizer) that the target's
    constructor does not take: the typed schema refuses it, naming the key."""
    context = draw(contexts)
    group = draw(st.sampled_from(("data", "model", "optimizer")))
    word = draw(st.from_regex(r"[a-z][a-z_]{2,12}", fullmatch=True))
    taken = set(composed(context)[group]) | set(
        schema_for_target(composed(context)[group]._target_).__dataclass_fields__
    )
    if word in taken:
        word += "_zz"
    value = draw(st.sampled_from(["1", "0.5", "abc", "[1,2]", "true"]))
    return Malformed((*context, f"+{group}.{word}={value}"), f"{group}.{word}")


@st.composite
def unknown_options(draw) -> Malformed:
    """An option that no config group has: a near miss of a real one, or any word; alone or in a sweep."""
    group = draw(st.sampled_from(GROUPS))
    options = group_options(group)
    bad = draw(st.one_of(st.sampled_from(options).flatmap(misspelt), words))
    if bad in options or not bad:
        bad = f"{options[0]}_nope"
    form = draw(st.sampled_from(["plain", "added", "sweep"]))
    if form == "sweep":
        good = draw(st.sampled_from(options))
        return Malformed((f"{group}={good},{bad}", "-m"), f"'{bad}'")
    prefix = "+" if form == "added" and group not in ("data", "model", "optimizer") else ""
    return Malformed((f"{prefix}{group}={bad}",), f"'{bad}'")


@st.composite
def broken_syntax(draw) -> Malformed:
    """A valid override with its syntax broken: an unbalanced bracket, brace or quote, an empty key, a
    doubled '=', a stray character or space, a trailing comma."""
    key, value = draw(st.sampled_from(sorted(leaves(()).items())))
    text = hydra_text(value)
    i = draw(st.integers(0, len(text)))
    opener = draw(st.sampled_from(["[", "{", "'", '"', "${", "(", "(("]))
    closer = draw(st.sampled_from(["]", "}", ")"]))
    argv = draw(
        st.sampled_from(
            [
                f"{key}={text[:i]}{opener}{text[i:]}",
                f"{key}={text}{closer}",
                f"={text}",
                f"{key}=={text}",
                f"{key[:1]} {key[1:]}={text}",
                f"{key}={text},",
                f"{key}.={text}",
            ]
        )
    )
    return Malformed((argv,), "")


@st.composite
def bad_sweeps(draw) -> Malformed:
    """A sweep that cannot run: several values without -m, one bad value among good ones, or no jobs."""
    kind = draw(st.sampled_from(["no -m", "bad value", "empty range", "empty glob"]))
    if kind == "no -m":
        key, values = draw(
            st.sampled_from([("dropout", "0,0.2"), ("seed", "0,1"), ("optimizer", "adam,sgd")])
        )
        return Malformed((f"{key}={values}",), "-m")
    if kind == "bad value":
        key, good, bad = draw(
            st.sampled_from(
                [
                    ("dropout", "0.2", draw(st.sampled_from(["1.5", "-0.1", "abc"]))),
                    ("seed", "1", draw(st.sampled_from(["-3", "abc", "1.5"]))),
                    ("optimizer.lr", "0.01", draw(st.sampled_from(["-0.1", "0", "abc"]))),
                    ("model.activation", "relu", draw(words.filter(lambda w: w not in ACTIVATIONS))),
                ]
            )
        )
        values = [good, bad] if draw(st.booleans()) else [bad, good]
        return Malformed((f"{key}={','.join(values)}", "-m"), key.rsplit(".", 1)[-1])
    if kind == "empty range":
        start = draw(st.integers(0, 10))
        stop = start - draw(st.integers(0, 5))
        return Malformed((f"seed=range({start},{stop})", "-m"), "no jobs")
    group = draw(st.sampled_from(GROUPS))
    return Malformed((f"{group}=glob(zz_nothing_{draw(words)}*)", "-m"), "no jobs")


malformed = st.one_of(
    wrong_types(),
    out_of_range(),
    misspelt_keys(),
    added_keys(),
    unknown_options(),
    broken_syntax(),
    bad_sweeps(),
)

FUZZ = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def assert_refused(case: Malformed) -> None:
    """The preflight refuses the command line with one line that names the key or value."""
    with pytest.raises(UserError) as refused:
        check_command_line(list(case.argv))
    message = str(refused.value)
    assert message and "\n" not in message, (case.argv, message)
    assert case.names in message, (case.argv, message)


@FUZZ
@given(wrong_types())
def test_a_value_of_the_wrong_type_is_refused(case):
    assert_refused(case)


@FUZZ
@given(out_of_range())
def test_a_value_out_of_range_is_refused(case):
    assert_refused(case)


@FUZZ
@given(misspelt_keys())
def test_a_misspelt_key_is_refused(case):
    assert_refused(case)


@FUZZ
@given(added_keys())
def test_a_key_the_target_does_not_take_is_refused(case):
    assert_refused(case)


@settings(FUZZ, max_examples=60)
@given(unknown_options())
def test_an_unknown_option_of_a_group_is_refused(case):
    assert_refused(case)


@settings(FUZZ, max_examples=60)
@given(broken_syntax())
def test_broken_override_syntax_is_refused(case):
    assert_refused(case)


@settings(FUZZ, max_examples=20)
@given(bad_sweeps())
def test_a_bad_sweep_is_refused(case):
    assert_refused(case)


def assert_cli_refuses(argv: list[str], tmp_path: Path, monkeypatch) -> None:
    """Through `python -m mde_exp`: exit code 2, one 'mde_exp: error:' line and no traceback on stderr,
    and no run folder (nor the store itself) under store.root."""
    root = tmp_path / "runs"
    monkeypatch.setenv("MDE_EXP_RUNS", str(root))
    result = run_cli(argv, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (argv, result.stderr)
    assert lines and lines[-1].startswith("mde_exp: error: "), (argv, result.stderr)
    assert sum(line.startswith("mde_exp: error:") for line in lines) == 1, (argv, result.stderr)
    assert "Traceback" not in result.stderr, (argv, result.stderr)
    assert not root.exists(), (argv, list(root.rglob("*")))


# One of each kind, through the real CLI (the generated ones above run in-process).
CLI_SAMPLE = [
    ["store.resume=maybe"],  # wrong type
    ["trainer.devices=0"],  # out of range, found by building the Trainer
    ["mdoel.hidden_sizes=[8]"],  # misspelt key
    ["seed=range(3,3)", "-m"],  # a sweep with no jobs
]


@pytest.mark.parametrize("argv", CLI_SAMPLE, ids=[" ".join(a) for a in CLI_SAMPLE])
def test_the_cli_refuses_a_sample_in_one_line_with_no_run_folder(argv, tmp_path, monkeypatch):
    assert_cli_refuses(argv, tmp_path, monkeypatch)


@pytest.mark.slow
@settings(FUZZ, max_examples=40)
@given(case=malformed)
def test_the_cli_refuses_every_generated_command_line(case, tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_cli_refuses(list(case.argv), tmp_path_factory.mktemp("cli"), monkeypatch)
