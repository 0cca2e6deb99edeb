"""Encoder specifications built from the model options (`ModelConfig`) and the facts a fitted preprocessing
knows (image shape; vocabulary, pad id, context length). A spec is plain JSON stored in the bundle, and
`build_encoder(spec)` makes the encoder again. The modality files choose which of these to call."""

from __future__ import annotations

from typing import Any

from ptft.config import ModelConfig


def image_encoder_spec(
    model: ModelConfig, input_shape: tuple[int, int, int] | list[int], default: str
) -> dict[str, Any]:
    return {
        "name": default if model.encoder == "auto" else model.encoder,
        "input_shape": list(input_shape),
        "dim": model.dim,
        "depth": model.depth,
        "heads": model.heads,
        "patch_size": model.patch_size,
        "activation": model.activation,
        "dropout": model.dropout,
    }


def text_encoder_spec(
    model: ModelConfig, vocab_size: int, pad_id: int, max_length: int, default: str
) -> dict[str, Any]:
    name = default if model.encoder == "auto" else model.encoder
    shape = {"dim": model.dim, "depth": model.depth, "heads": model.heads}
    if name == "bert":  # BERT's post-norm layout, trained from scratch here
        return {
            "name": name,
            "vocab_size": vocab_size,
            "pad_id": pad_id,
            "max_positions": max_length,
            **shape,
            "intermediate": 4 * model.dim,
            "type_vocab_size": 1,
            "layer_norm_eps": 1e-12,
            "activation": model.activation,
            "dropout": model.dropout,
        }
    return {
        "name": name,
        "vocab_size": vocab_size,
        "pad_id": pad_id,
        "max_length": max_length,
        **shape,
        "activation": model.activation,
        "dropout": model.dropout,
    }
