"""Recurrent units written out from the book's equations (book sections 7.2 and 7.3): the basic RNN, LSTM
and GRU cells, a layer that runs them over a sequence (stacked, optionally bidirectional) with the call
signature and returns of torch's nn.RNN / nn.LSTM / nn.GRU, and the copy of a torch module's weights.

Each cell holds its parameters as torch does (`weight_ih`: the G*H x input matrix of all G gates'
input weights stacked, `weight_hh`: G*H x H, and the two bias vectors `bias_ih`, `bias_hh`, in torch's
gate order), so torch's weights copy in one to one; the book's single bias of each gate is the sum
bias_ih + bias_hh. The input products W x_t of a whole sequence are computed at once before the time
loop; only the recurrent products W h_{t-1} run step by step.
"""

import math
from collections.abc import Sequence

import torch
from torch import nn

CELL_KINDS = ("rnn", "lstm", "gru")
IMPLEMENTATIONS = ("book", "torch")
TORCH_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# The state a cell carries from step to step: h (RNN, GRU) or the pair (h, c) (LSTM).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class RecurrentCell(nn.Module):
    """What the three cells share: `gates` stacked affine maps of the input x_t (`weight_ih`,
    `bias_ih`) and of the previous hidden state h_{t-1} (`weight_hh`, `bias_hh`)."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        if int(input_size) < 1 or int(hidden_size) < 1:
            raise ValueError(f"input_size={input_size}, hidden_size={hidden_size}: must be positive integers")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        rows = self.gates * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, self.input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, self.hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias uniform on [-1/sqrt(H), 1/sqrt(H)], as torch initialises its own."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """W_x x_t + b for every step at once: ... x input -> ... x G*H (with bias_hh folded in where the
        cell adds it to the recurrent product unchanged)."""
        return nn.functional.linear(x, self.weight_ih, self.bias_ih + self.bias_hh)

    def initial_state(self, batch: int, like: torch.Tensor) -> State:
        return like.new_zeros(batch, self.hidden_size)

    def hidden(self, state: State) -> torch.Tensor:
        """h_t, the part of the state that is the cell's output."""
        return state

    def step(self, projected: torch.Tensor, state: State) -> State:
        """The state at t from the projected input at t (`project_inputs`) and the state at t - 1."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: State | None = None) -> State:
        """One step: the state after input x_t (N x input) from `state` (None: zeros)."""
        state = self.initial_state(len(x), x) if state is None else state
        return self.step(self.project_inputs(x), state)


class RNNCell(RecurrentCell):
    """The basic recurrent unit of book section 7.2: h_t = tanh(W_hh h_{t-1} + W_hx x_t + b), with
    W_hx = weight_ih, W_hh = weight_hh and b = bias_ih + bias_hh."""

    gates = 1

    def step(self, projected: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return torch.tanh(projected + state @ self.weight_hh.T)


class LSTMCell(RecurrentCell):
    """Long short-term memory, book section 7.3. With z_t^g = W_gx x_t + W_gh h_{t-1} + b_g for each
    gate g (rows in torch's order: input i, forget f, candidate c~, output o):
        i_t = sigmoid(z^i), f_t = sigmoid(z^f), c~_t = tanh(z^c), o_t = sigmoid(z^o),
        c_t = f_t * c_{t-1} + i_t * c~_t        (the cell state: the forget gate keeps, the input gate adds)
        h_t = o_t * tanh(c_t)                    (the output gate decides what the state shows)."""

    gates = 4

    def initial_state(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = like.new_zeros(batch, self.hidden_size)
        return zeros, zeros

    def hidden(self, state: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return state[0]

    def step(
        self, projected: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        z_input, z_forget, z_candidate, z_output = (projected + h @ self.weight_hh.T).chunk(4, dim=-1)
        input_gate, forget_gate = torch.sigmoid(z_input), torch.sigmoid(z_forget)
        output_gate, candidate = torch.sigmoid(z_output), torch.tanh(z_candidate)
        c = forget_gate * c + input_gate * candidate
        return output_gate * torch.tanh(c), c


class GRUCell(RecurrentCell):
    """The gated recurrent unit, book section 7.3 (rows in torch's order: reset r, update u, candidate):
        r_t = sigmoid(W_rx x_t + W_rh h_{t-1} + b_r),   u_t = sigmoid(W_ux x_t + W_uh h_{t-1} + b_u),
        h~_t = tanh(W_hx x_t + b_hx + r_t * (W_hh h_{t-1} + b_hh)),
        h_t = (1 - u_t) * h~_t + u_t * h_{t-1}    (u_t near 1 keeps the old state).
    The reset gate acts on W_hh h_{t-1} + b_hh, after the product, as in torch and cuDNN (Cho et al.'s
    first form puts it on h_{t-1}, before); so the candidate's two biases do not merge into one."""

    gates = 3

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.hidden_size  # the candidate's recurrent bias sits inside the reset gate's product
        bias = torch.cat(
            [self.bias_ih[: 2 * hidden] + self.bias_hh[: 2 * hidden], self.bias_ih[2 * hidden :]]
        )
        return nn.functional.linear(x, self.weight_ih, bias)

    def step(self, projected: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        hidden = self.hidden_size
        x_reset, x_update, x_candidate = projected.chunk(3, dim=-1)
        recurrent = state @ self.weight_hh.T
        reset = torch.sigmoid(x_reset + recurrent[:, :hidden])
        update = torch.sigmoid(x_update + recurrent[:, hidden : 2 * hidden])
        candidate = torch.tanh(
            x_candidate + reset * (recurrent[:, 2 * hidden :] + self.bias_hh[2 * hidden :])
        )
        return (1 - update) * candidate + update * state


CELLS: dict[str, type[RecurrentCell]] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


class BookRecurrent(nn.Module):
    """A recurrent layer of book sections 7.2-7.3 run over whole sequences, as torch's nn.RNN / nn.LSTM /
    nn.GRU: `num_layers` stacked layers (layer l reads the hidden states of layer l - 1), each in one
    direction or, `bidirectional`, in both (a second cell reads the sequence backwards and the two hidden
    states are concatenated, 2H features).

    forward(input, hx=None) takes N x T x input (`batch_first`; T x N x input otherwise; or one
    unbatched T x input sequence) and the initial state hx (num_layers * directions x N x H, or the pair
    (h_0, c_0) for the LSTM; None: zeros), and returns (output, h_n) or (output, (h_n, c_n)) as torch
    does: output N x T x directions*H, the last layer's hidden state at every step; h_n the final state
    of every layer and direction, in torch's order (layer 0 forward, layer 0 backward, layer 1, ...).
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell={cell!r}: choose one of {', '.join(CELL_KINDS)}")
        if int(num_layers) < 1:
            raise ValueError(f"num_layers={num_layers}: must be a positive integer")
        self.mode = cell
        self.input_size, self.hidden_size, self.num_layers = (
            int(input_size),
            int(hidden_size),
            int(num_layers),
        )
        self.bidirectional, self.batch_first = bool(bidirectional), bool(batch_first)
        self.directions = 2 if self.bidirectional else 1
        # Created in torch's order (layer by layer, forward before backward; within a cell weight_ih,
        # weight_hh, bias_ih, bias_hh), so that from the same random state both draw the same weights.
        self.cells = nn.ModuleList(
            CELLS[cell](
                self.input_size if layer == 0 else self.directions * self.hidden_size, self.hidden_size
            )
            for layer in range(self.num_layers)
            for _ in range(self.directions)
        )

    def _initial(self, hx: State | None, batch: int, like: torch.Tensor) -> list[State]:
        """The initial state of each cell, from hx (stacked as torch stacks it) or zeros."""
        if hx is None:
            return [cell.initial_state(batch, like) for cell in self.cells]
        expected = (len(self.cells), batch, self.hidden_size)
        parts = hx if isinstance(hx, tuple | list) else (hx,)
        if self.mode == "lstm" and len(parts) != 2:
            raise ValueError("hx: the LSTM's initial state is the pair (h_0, c_0)")
        for part in parts:
            if tuple(part.shape) != expected:
                raise ValueError(f"hx of shape {tuple(part.shape)}: expected {expected}")
        if self.mode == "lstm":
            return list(zip(parts[0].unbind(0), parts[1].unbind(0), strict=True))
        return list(parts[0].unbind(0))

    def run_states(
        self, inputs: torch.Tensor, hx: State | None = None
    ) -> tuple[torch.Tensor, State, list[list[torch.Tensor]]]:
        """forward's (output, h_n) and, for each cell (layer by layer, forward then backward), its hidden
        states h_t for t = 0..T-1 as the very tensors the recursion continues from: after
        `h.retain_grad()` and a backward pass, h.grad is the total derivative d loss / d h_t."""
        unbatched = inputs.dim() == 2
        x = inputs.unsqueeze(0) if unbatched else (inputs if self.batch_first else inputs.transpose(0, 1))
        if unbatched and hx is not None:
            hx = tuple(h.unsqueeze(1) for h in hx) if isinstance(hx, tuple | list) else hx.unsqueeze(1)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"input of shape {tuple(inputs.shape)}: expected N x T x {self.input_size}")
        batch, steps = x.shape[0], x.shape[1]
        states = self._initial(hx, batch, x)
        finals: list[State] = []
        history: list[list[torch.Tensor]] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                index = layer * self.directions + direction
                cell, state = self.cells[index], states[index]
                projected = cell.project_inputs(x)  # N x T x G*H: every input product at once
                hidden: list = [None] * steps  # h_t, filled in the direction's order
                order = range(steps - 1, -1, -1) if direction == 1 else range(steps)
                for t in order:
                    state = cell.step(projected[:, t], state)
                    hidden[t] = cell.hidden(state)
                finals.append(state)
                history.append(hidden)
                outputs.append(torch.stack(hidden, dim=1))
            x = torch.cat(outputs, dim=-1) if self.directions == 2 else outputs[0]
        if self.mode == "lstm":
            h_n = torch.stack([s[0] for s in finals])
            c_n = torch.stack([s[1] for s in finals])
            final: State = (h_n[:, 0], c_n[:, 0]) if unbatched else (h_n, c_n)
        else:
            h_n = torch.stack(finals)
            final = h_n[:, 0] if unbatched else h_n
        output = x[0] if unbatched else (x if self.batch_first else x.transpose(0, 1))
        return output, final, history

    def forward(self, inputs: torch.Tensor, hx: State | None = None) -> tuple[torch.Tensor, State]:
        output, final, _ = self.run_states(inputs, hx)
        return output, final

    def extra_repr(self) -> str:
        return (
            f"{self.mode}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"bidirectional={self.bidirectional}, batch_first={self.batch_first}"
        )


def _bias_pairs(module: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(bias_ih, bias_hh) of every layer and direction of a BookRecurrent or a torch nn.RNNBase."""
    if isinstance(module, BookRecurrent):
        return [(cell.bias_ih, cell.bias_hh) for cell in module.cells]
    directions = 2 if module.bidirectional else 1
    names = [_torch_names(layer, d) for layer in range(module.num_layers) for d in range(directions)]
    return [(getattr(module, n[2]), getattr(module, n[3])) for n in names]


@torch.no_grad()
def open_forget_gates(module: nn.Module, forget_bias: float) -> nn.Module:
    """Set an LSTM's (book or torch) gate biases so that at the start its cells keep what they hold:
    forget-gate bias b_f = forget_bias and input-gate bias b_i = -forget_bias (bias_hh's parts zero).
    With b = 5 the forget gate is sigmoid(5) = 0.993 and the input gate 0.007 wherever W x + W h is
    small, so c_t = f c_{t-1} + i c~ keeps its content for about e^b steps instead of halving at each
    (the default's sigmoid(0) = 1/2) and does not fill up with what the steps add. This is Tallec and
    Ollivier's (2018) chrono initialisation with one time scale; Gers et al. (2000) and Jozefowicz et
    al. (2015) open the forget gate alone (b_f = 1). Returns the module."""
    if not (isinstance(module, nn.LSTM) or isinstance(module, BookRecurrent) and module.mode == "lstm"):
        raise ValueError(f"module {type(module).__name__}: only an LSTM has forget and input gates")
    hidden = module.hidden_size
    for bias_ih, bias_hh in _bias_pairs(module):  # torch's gate order: input, forget, candidate, output
        bias_ih[:hidden], bias_ih[hidden : 2 * hidden] = -float(forget_bias), float(forget_bias)
        bias_hh[: 2 * hidden] = 0.0
    return module


def make_recurrent(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    implementation: str = "book",
    forget_bias: float | None = None,
) -> nn.Module:
    """A batch-first recurrent layer of `cell` (rnn: the basic tanh RNN, lstm, gru): the book's
    equations written out (`implementation="book"`, BookRecurrent) or torch's own nn.RNN / nn.LSTM /
    nn.GRU (`"torch"`: fused kernels, cuDNN on a GPU). Both are called alike and return alike, and from
    the same random state both draw the same initial weights. `forget_bias` (LSTM only; the cells
    without a forget gate ignore it): see `open_forget_gates`; None keeps torch's initialisation."""
    if cell not in CELL_KINDS:
        raise ValueError(f"cell={cell!r}: choose one of {', '.join(CELL_KINDS)}")
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation={implementation!r}: choose one of {', '.join(IMPLEMENTATIONS)}")
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if int(value) < 1:
            raise ValueError(f"{name}={value}: must be a positive integer")
    if forget_bias is not None and not math.isfinite(float(forget_bias)):
        raise ValueError(f"forget_bias={forget_bias}: must be a finite number (or None)")
    if implementation == "torch":
        module = TORCH_MODULES[cell](
            int(input_size), int(hidden_size), int(num_layers), batch_first=True, bidirectional=bidirectional
        )
    else:
        module = BookRecurrent(cell, input_size, hidden_size, num_layers, bidirectional, batch_first=True)
    if forget_bias is not None and cell == "lstm":
        open_forget_gates(module, forget_bias)
    return module


def _torch_names(layer: int, direction: int) -> Sequence[str]:
    suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
    return tuple(f"{name}{suffix}" for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


@torch.no_grad()
def copy_torch_weights(source: nn.RNNBase, target: BookRecurrent) -> BookRecurrent:
    """Copy the weights of torch's nn.RNN / nn.LSTM / nn.GRU `source` into the book's `target` of the
    same cell, sizes, layers and directions (a tanh RNN with biases and no projection); returns target."""
    kind = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}.get(type(source))
    if kind is None or kind != target.mode:
        raise ValueError(f"source {type(source).__name__}: expected the torch module of cell {target.mode!r}")
    if kind == "rnn" and source.nonlinearity != "tanh":
        raise ValueError(f"nonlinearity={source.nonlinearity!r}: the book's RNN cell is the tanh one")
    if not source.bias or getattr(source, "proj_size", 0):
        raise ValueError("source: the book's cells have biases and no projection (bias=True, proj_size=0)")
    for name in ("input_size", "hidden_size", "num_layers", "bidirectional"):
        if getattr(source, name) != getattr(target, name):
            raise ValueError(f"{name}: source has {getattr(source, name)}, target {getattr(target, name)}")
    for layer in range(target.num_layers):
        for direction in range(target.directions):
            cell = target.cells[layer * target.directions + direction]
            mine = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
            for parameter, name in zip(mine, _torch_names(layer, direction), strict=True):
                parameter.copy_(getattr(source, name))
    return target
