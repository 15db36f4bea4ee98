"""The recurrent cells written out from the book's equations (mde_exp.nn.recurrent) against torch's
nn.RNN / nn.LSTM / nn.GRU on the same weights, and the recurrent language model built on them."""

import functools

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from mde_exp import store, sweep
from mde_exp.data.sequence_tasks import SequenceTaskDataModule
from mde_exp.errors import ConfigError
from mde_exp.models.rnn import RecurrentLanguageModel, masked_cross_entropy
from mde_exp.nn.recurrent import (
    BookRecurrent,
    copy_torch_weights,
    make_recurrent,
    open_forget_gates,
)
from mde_exp.validate import check_config

CELLS = ("rnn", "lstm", "gru")
SHAPES = [(layers, bi) for layers in (1, 2) for bi in (False, True)]


def _pair(cell: str, layers: int, bidirectional: bool, batch_first: bool = True):
    """torch's module and the book's, the book's weights copied from torch's (drawn from another seed)."""
    torch.manual_seed(1)
    reference = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](
        5, 6, layers, batch_first=batch_first, bidirectional=bidirectional
    )
    torch.manual_seed(2)
    book = BookRecurrent(cell, 5, 6, layers, bidirectional, batch_first=batch_first)
    assert not torch.equal(book.cells[0].weight_ih, reference.weight_ih_l0)
    return reference, copy_torch_weights(reference, book)


def _initial_state(cell: str, layers: int, bidirectional: bool, batch: int):
    shape = (layers * (2 if bidirectional else 1), batch, 6)
    if cell == "lstm":
        return torch.randn(shape, requires_grad=True), torch.randn(shape, requires_grad=True)
    return torch.randn(shape, requires_grad=True)


def _flat(state) -> torch.Tensor:
    return torch.cat(state) if isinstance(state, tuple) else state


@pytest.mark.parametrize(("layers", "bidirectional"), SHAPES)
@pytest.mark.parametrize("cell", CELLS)
def test_book_cells_match_torch_outputs_states_and_gradients(cell, layers, bidirectional):
    reference, book = _pair(cell, layers, bidirectional)
    torch.manual_seed(3)
    x = torch.randn(4, 7, 5)
    hx = _initial_state(cell, layers, bidirectional, 4)
    directions = 2 if bidirectional else 1
    probe_out, probe_state = torch.randn(4, 7, directions * 6), torch.randn(_flat(hx).shape)
    gradients = []
    for module in (reference, book):
        inputs = x.clone().requires_grad_(True)
        start = tuple(h.detach().clone().requires_grad_(True) for h in hx) if cell == "lstm" else (
            hx.detach().clone().requires_grad_(True)
        )  # fmt: skip
        output, final = module(inputs, start)
        assert output.shape == (4, 7, directions * 6)
        ((output * probe_out).sum() + (_flat(final) * probe_state).sum()).backward()
        starts = start if cell == "lstm" else (start,)
        gradients.append((output, _flat(final), inputs.grad, [s.grad for s in starts]))
    (out_t, final_t, dx_t, dh_t), (out_b, final_b, dx_b, dh_b) = gradients
    torch.testing.assert_close(out_b, out_t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(final_b, final_t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dx_b, dx_t, atol=1e-5, rtol=1e-5)
    for g_b, g_t in zip(dh_b, dh_t, strict=True):
        torch.testing.assert_close(g_b, g_t, atol=1e-5, rtol=1e-5)
    # every weight's gradient, matched by torch's parameter names
    for layer in range(layers):
        for direction in range(directions):
            cell_module = book.cells[layer * directions + direction]
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                torch.testing.assert_close(
                    getattr(cell_module, name).grad,
                    getattr(reference, name + suffix).grad,
                    atol=1e-5,
                    rtol=1e-5,
                )


@pytest.mark.parametrize("cell", CELLS)
def test_time_major_and_unbatched_inputs_and_default_state_match_torch(cell):
    reference, book = _pair(cell, 2, True, batch_first=False)
    x = torch.randn(7, 3, 5)  # T x N x input
    torch.testing.assert_close(_flat(book(x)[1]), _flat(reference(x)[1]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(book(x)[0], reference(x)[0], atol=1e-5, rtol=1e-5)
    one = torch.randn(7, 5)  # one unbatched sequence
    out_b, final_b = book(one)
    out_t, final_t = reference(one)
    assert out_b.shape == out_t.shape == (7, 12)
    torch.testing.assert_close(out_b, out_t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(_flat(final_b), _flat(final_t), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_both_implementations_draw_the_same_initial_weights_from_one_seed(cell):
    torch.manual_seed(0)
    reference = make_recurrent(cell, 4, 8, 2, True, implementation="torch")
    torch.manual_seed(0)
    book = make_recurrent(cell, 4, 8, 2, True, implementation="book")
    assert isinstance(book, BookRecurrent) and type(reference).__name__ == cell.upper()
    pairs = list(zip(book.parameters(), reference.parameters(), strict=True))
    assert all(torch.equal(b, t) for b, t in pairs)


def test_the_hidden_states_that_run_states_returns_carry_the_total_derivative():
    """h_t.grad after a backward pass is d loss / d h_t through every later step: the same as the
    gradient with respect to the initial state of a run that starts at t + 1 from h_t."""
    torch.manual_seed(0)
    book = make_recurrent("rnn", 3, 5)
    x, probe = torch.randn(2, 9, 3), torch.randn(2, 5)
    output, _, history = book.run_states(x)
    assert len(history) == 1 and len(history[0]) == 9
    for h in history[0]:
        h.retain_grad()
    (output[:, -1] * probe).sum().backward()
    t = 3
    start = history[0][t].detach().clone().requires_grad_(True)
    rest, _ = book(x[:, t + 1 :], start[None])
    (rest[:, -1] * probe).sum().backward()
    torch.testing.assert_close(history[0][t].grad, start.grad)
    # and it shrinks going back in time (a small random tanh RNN contracts)
    norms = [h.grad.norm() for h in history[0]]
    assert norms[0] < norms[-1]


@pytest.mark.parametrize("implementation", ["book", "torch"])
def test_open_forget_gates_sets_the_lstm_gate_biases(implementation):
    lstm = make_recurrent("lstm", 3, 4, 2, True, implementation=implementation, forget_bias=5.0)
    if implementation == "book":
        biases = [(c.bias_ih, c.bias_hh) for c in lstm.cells]
    else:
        names = [f"_l{k}{s}" for k in (0, 1) for s in ("", "_reverse")]
        biases = [(getattr(lstm, f"bias_ih{n}"), getattr(lstm, f"bias_hh{n}")) for n in names]
    for bias_ih, bias_hh in biases:
        total = bias_ih + bias_hh  # the book's one bias per gate; torch's gate order i, f, g, o
        assert torch.all(total[:4] == -5.0) and torch.all(total[4:8] == 5.0)
    with pytest.raises(ValueError, match="only an LSTM"):
        open_forget_gates(make_recurrent("gru", 3, 4, implementation=implementation), 1.0)
    # the cells without a forget gate ignore the option, so a sweep over cells can set it for all
    torch.manual_seed(0)
    plain = make_recurrent("gru", 3, 4, implementation=implementation, forget_bias=5.0)
    torch.manual_seed(0)
    default = make_recurrent("gru", 3, 4, implementation=implementation)
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), default.parameters(), strict=True))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_recurrent("transformer", 3, 4), "cell='transformer'"),
        (lambda: make_recurrent("lstm", 3, 4, implementation="cuda"), "implementation='cuda'"),
        (lambda: make_recurrent("lstm", 3, 0), "hidden_size=0"),
        (lambda: make_recurrent("lstm", 3, 4, num_layers=0), "num_layers=0"),
        (lambda: make_recurrent("lstm", 3, 4, forget_bias=float("inf")), "forget_bias=inf"),
        (lambda: copy_torch_weights(nn.GRU(3, 4), make_recurrent("lstm", 3, 4)), "cell 'lstm'"),
        (lambda: copy_torch_weights(nn.LSTM(3, 4, 2), make_recurrent("lstm", 3, 4)), "num_layers"),
        (lambda: copy_torch_weights(nn.RNN(3, 4, nonlinearity="relu"), make_recurrent("rnn", 3, 4)), "tanh"),
        (lambda: make_recurrent("rnn", 3, 4)(torch.randn(2, 5, 7)), "expected N x T x 3"),
        (lambda: make_recurrent("lstm", 3, 4)(torch.randn(2, 5, 3), torch.zeros(1, 2, 4)), "pair"),
        (lambda: make_recurrent("gru", 3, 4)(torch.randn(2, 5, 3), torch.zeros(2, 2, 4)), "expected"),
    ],
)
def test_impossible_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the language model on the book's cells -----------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_the_language_model_computes_the_same_with_either_implementation(cell):
    models = {}
    for implementation in ("torch", "book"):
        torch.manual_seed(0)
        models[implementation] = RecurrentLanguageModel(
            vocab_size=12,
            embedding_dim=8,
            hidden_size=16,
            num_layers=2,
            cell=cell,
            implementation=implementation,
        )
    assert isinstance(models["book"].recurrent, BookRecurrent)
    assert models["book"].hparams.implementation == "book"
    tokens = torch.randint(0, 12, (3, 10))
    torch.testing.assert_close(models["book"](tokens), models["torch"](tokens), atol=1e-5, rtol=1e-5)
    # generation carries the state (the LSTM's pair included) from one call to the next
    out = models["book"].generate(tokens[:, :3], steps=4)
    assert torch.equal(out, models["torch"].generate(tokens[:, :3], steps=4))
    assert torch.equal(models["book"](out[:, :-1]).argmax(-1)[:, 2:], out[:, 3:])


@pytest.mark.parametrize("cell", CELLS)
def test_book_language_model_never_looks_ahead(cell):
    """The prediction at position t depends on tokens 0..t only: changing tokens after t changes nothing
    at or before t (and does change later positions, so the check can fail)."""
    torch.manual_seed(0)
    model = RecurrentLanguageModel(vocab_size=12, embedding_dim=8, hidden_size=16, num_layers=2, cell=cell,
                                   implementation="book").eval()  # fmt: skip
    tokens = torch.randint(3, 12, (4, 12))
    t = 5
    changed = tokens.clone()
    changed[:, t + 1 :] = torch.randint(3, 12, (4, 12 - t - 1))
    changed[:, t + 1] = (tokens[:, t + 1] - 3 + 1) % 9 + 3  # certainly different at t + 1
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1], atol=0, rtol=0)
    assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])


def test_book_language_model_trains():
    """A few dozen Adam steps on the copy task lower the masked loss of the model on the book's cells."""
    torch.manual_seed(0)
    dm = SequenceTaskDataModule(task="copy", max_len=4, alphabet_size=4, train_size=256, val_size=8,
                                test_size=8, batch_size=32)  # fmt: skip
    dm.setup()
    model = RecurrentLanguageModel(
        vocab_size=dm.vocab_size, embedding_dim=8, hidden_size=32, cell="gru", implementation="book",
        optimizer=functools.partial(torch.optim.Adam, lr=0.01),
    )  # fmt: skip
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    inputs, targets, mask = dm.splits["train"]

    def loss() -> torch.Tensor:
        return masked_cross_entropy(model(inputs), targets, mask)[0]

    with torch.no_grad():
        first = float(loss())
    for step in range(40):
        rows = slice(32 * (step % 8), 32 * (step % 8 + 1))
        optimizer.zero_grad()
        masked_cross_entropy(model(inputs[rows]), targets[rows], mask[rows])[0].backward()
        optimizer.step()
    with torch.no_grad():
        last = float(loss())
    assert last < 0.7 * first, (first, last)


# -- configs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("implementation", ["torch", "book"])
@pytest.mark.parametrize("cell", CELLS)
def test_rnn_lm_config_composes_and_instantiates_each_cell_and_implementation(cell, implementation):
    cfg = store.compose(
        ["data=memory_task", "model=rnn_lm", f"model.cell={cell}", f"model.implementation={implementation}",
         "model.forget_bias=2.0", "data.gap=4", "data.train_size=16"]
    )  # fmt: skip
    check_config(cfg)
    dm = instantiate(cfg.data)
    dm.setup()
    model = instantiate(cfg.model, vocab_size=dm.vocab_size)
    assert isinstance(model.recurrent, BookRecurrent) == (implementation == "book")
    inputs = dm.splits["train"][0][:3]
    assert model(inputs).shape == (3, dm.seq_len, dm.vocab_size)
    assert store.compose(["model=rnn_lm"]).model.implementation == "torch"  # the default: stored runs alike


def test_an_unknown_implementation_in_the_config_is_refused_before_a_run():
    cfg = store.compose(
        ["data=memory_task", "model=rnn_lm", "model.implementation=fortran", "data.train_size=16"]
    )
    with pytest.raises(ConfigError, match="implementation='fortran': choose one of book, torch"):
        check_config(cfg)


def test_memory_sweep_expands_to_three_cells_at_three_gaps():
    cfg = store.compose(["+experiment=memory_sweep"], return_hydra_config=True)
    jobs = sweep.expand([], sweep.sweep_params(cfg.hydra))
    assert {tuple(j) for j in jobs} == {
        (f"model.cell={c}", f"data.gap={g}") for c in CELLS for g in (5, 20, 50)
    }
    cfg = store.compose(["+experiment=memory_sweep", "model.cell=lstm", "data.gap=50"])
    check_config(cfg)
    assert cfg.data.task == "memory" and cfg.model.forget_bias == 5.0 and cfg.figure_id == "abl-memory"
