"""Autoencoder: the shallow and deep autoencoders of book section 3.5 (squared reconstruction error)."""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mde_exp.models.base import OptimizerFactory, RegressorModule, SchedulerFactory
from mde_exp.nn.activations import make_activation
from mde_exp.nn.init import apply_init


def _stack(width: int, sizes: Sequence[int], activations: Sequence[str]) -> tuple[list[nn.Module], int]:
    if len(sizes) != len(activations):
        raise ValueError(f"{len(sizes)} layer sizes but {len(activations)} activations")
    layers: list[nn.Module] = []
    for size, activation in zip(sizes, activations, strict=True):
        if int(size) < 1:
            raise ValueError(f"layer sizes must be positive integers, got {list(sizes)}")
        layers += [nn.Linear(width, int(size)), make_activation(activation)]
        width = int(size)
    return layers, width


class Autoencoder(RegressorModule):
    """Autoencoder (book section 3.5): an encoder to a code of size `encoder_sizes[-1]` and a decoder
    back to the input, trained on the mean squared reconstruction error.

    Shallow: encoder_sizes [30] with tanh and a sigmoid output (fig-3.12's 784-30-784). Deep:
    encoder [50, 10] with [tanh, identity], decoder [50] with [tanh] (784-50-10-50-784). Inputs are
    flattened; labels in the batch, if any, are ignored.
    """

    def __init__(
        self,
        input_dim: int,
        encoder_sizes: Sequence[int] = (30,),
        encoder_activations: Sequence[str] = ("tanh",),
        decoder_sizes: Sequence[int] = (),
        decoder_activations: Sequence[str] = (),
        output_activation: str = "sigmoid",
        init: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        if not encoder_sizes:
            raise ValueError("encoder_sizes must name at least the code size")
        encoder, code = _stack(input_dim, encoder_sizes, encoder_activations)
        decoder, width = _stack(code, decoder_sizes, decoder_activations)
        self.encoder = nn.Sequential(nn.Flatten(), *encoder)
        self.decoder = nn.Sequential(
            *decoder, nn.Linear(width, input_dim), make_activation(output_activation)
        )
        self.net = nn.Sequential(self.encoder, self.decoder)
        apply_init(self.net, init)
        self.save_hyperparameters(
            {
                "input_dim": input_dim,
                "encoder_sizes": list(encoder_sizes),
                "encoder_activations": list(encoder_activations),
                "decoder_sizes": list(decoder_sizes),
                "decoder_activations": list(decoder_activations),
                "output_activation": output_activation,  # so load_from_checkpoint rebuilds the same net
                "code_dim": code,
            }
        )

    def targets(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return batch[0].reshape(len(batch[0]), -1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code)
