"""Activation functions selectable by name."""

from __future__ import annotations

from torch import nn

from ptft.registry import Registry

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")
ACTIVATIONS.register("linear")(nn.Identity)
ACTIVATIONS.register("sigmoid")(nn.Sigmoid)
ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("tanh")(nn.Tanh)
ACTIVATIONS.register("gelu")(nn.GELU)


def make_activation(name: str) -> nn.Module:
    return ACTIVATIONS.get(name)()
