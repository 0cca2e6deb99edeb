"""Import a local Hugging Face BERT-family folder (config.json, model.safetensors, tokenizer.json) into ptft.

The weights become a `bert` encoder (`ptft.models.bert`, Devlin et al. 2019) and the tokenizer a fitted
`TextTokenizer`, so a pre-trained checkpoint such as all-MiniLM-L6-v2 can be fine-tuned like a ptft bundle.
Nothing here imports `transformers`: config.json is read as JSON and the weights with safetensors
(never a pickle: a folder holding only `pytorch_model.bin` is refused).

Tensor names: Hugging Face's (with or without a `bert.` prefix) are renamed to `BertEncoder`'s, one tensor
to one tensor (q, k and v stay separate linears):

    embeddings.word_embeddings.weight              -> token_embedding.weight
    embeddings.position_embeddings.weight          -> position_embedding.weight
    embeddings.token_type_embeddings.weight        -> token_type_embedding.weight
    embeddings.LayerNorm.{weight,bias}             -> embedding_norm.{weight,bias}
    encoder.layer.{i}.attention.self.query.*       -> blocks.{i}.query.*      (also key, value)
    encoder.layer.{i}.attention.output.dense.*     -> blocks.{i}.attention_output.*
    encoder.layer.{i}.attention.output.LayerNorm.* -> blocks.{i}.attention_norm.*
    encoder.layer.{i}.intermediate.dense.*         -> blocks.{i}.intermediate.*
    encoder.layer.{i}.output.dense.*               -> blocks.{i}.output.*
    encoder.layer.{i}.output.LayerNorm.*           -> blocks.{i}.output_norm.*

`pooler.*`, `cls.*` (pre-training heads) and the `position_ids` / `token_type_ids` buffers are dropped;
old TensorFlow-converted LayerNorm `gamma`/`beta` are read as `weight`/`bias`. Floating tensors become float32.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ptft.errors import BundleError, DataError
from ptft.models.bert import ACTIVATIONS, BertEncoder
from ptft.preprocess.text import TextTokenizer

MODEL_TYPES = ("bert",)  # config.json model_type values whose weights have exactly the BERT layout
_EMBEDDINGS = {
    "word_embeddings": "token_embedding",
    "position_embeddings": "position_embedding",
    "token_type_embeddings": "token_type_embedding",
    "LayerNorm": "embedding_norm",
}
_LAYER = {
    "attention.self.query": "query",
    "attention.self.key": "key",
    "attention.self.value": "value",
    "attention.output.dense": "attention_output",
    "attention.output.LayerNorm": "attention_norm",
    "intermediate.dense": "intermediate",
    "output.dense": "output",
    "output.LayerNorm": "output_norm",
}
_DROPPED = re.compile(r"^(pooler|cls)\.|(^|\.)(position_ids|token_type_ids)$")
_PARAMETER = re.compile(r"^(?:encoder\.layer\.(\d+)|embeddings)\.(.+)\.(weight|bias|gamma|beta)$")
_CONVERT_HINT = (
    "convert it once with transformers: AutoModel.from_pretrained(folder).save_pretrained(folder, "
    "safe_serialization=True)"
)


@dataclass(frozen=True)
class HFImport:
    """What a Hugging Face folder becomes: the `bert` encoder spec, its weights, the tokenizer, where from."""

    spec: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    tokenizer: TextTokenizer
    source: str


def load_hf_folder(path: str | Path, max_length: int = 128) -> HFImport:
    """Read a local BERT-family model folder; `max_length` is capped by the model's max_position_embeddings.

    Load the result with `build_encoder(result.spec).load_state_dict(result.tensors)` (strict)."""
    folder = Path(path)
    if not folder.is_dir():
        raise BundleError(
            f"{folder}: no such folder; pass a local Hugging Face model folder holding config.json, "
            "model.safetensors and tokenizer.json"
        )
    config = _read_config(folder)
    spec = _encoder_spec(folder, config)
    tokenizer_path = folder / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise BundleError(
            f"{folder}: no tokenizer.json; write one with transformers: "
            "AutoTokenizer.from_pretrained(folder).save_pretrained(folder) (a 'fast' tokenizer writes it)"
        )
    tokenizer = TextTokenizer.from_tokenizer_json(tokenizer_path, min(max_length, spec["max_positions"]))
    if tokenizer.vocab_size_ > spec["vocab_size"]:
        raise BundleError(
            f"{tokenizer_path}: {tokenizer.vocab_size_} tokens but config.json vocab_size is {spec['vocab_size']}; "
            "the tokenizer does not belong to these weights"
        )
    spec["pad_id"] = tokenizer.pad_id_  # the id padding has in the inputs, whatever config.json says
    tensors = _map_tensors(folder, _read_weights(folder), spec)
    return HFImport(spec=spec, tensors=tensors, tokenizer=tokenizer, source=str(folder.resolve()))


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise BundleError(
            f"{folder}: no config.json; this is not a Hugging Face model folder (save_pretrained writes one)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(config, dict):
        raise BundleError(f"{path}: expected a JSON object, got {type(config).__name__}")
    return config


def _encoder_spec(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """config.json -> the `bert` encoder spec, less `pad_id`, which is the tokenizer's."""
    path = folder / "config.json"
    model_type = config.get("model_type")
    if model_type not in MODEL_TYPES:
        raise BundleError(
            f"{path}: model_type {model_type!r} is not supported; ptft imports: {', '.join(MODEL_TYPES)} "
            "(BERT-family encoders saved as BertModel, such as BERT and MiniLM)"
        )
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise BundleError(
            f"{path}: position_embedding_type {config['position_embedding_type']!r} is not supported; "
            "ptft's bert encoder has absolute positions only"
        )
    activation = config.get("hidden_act", "gelu")
    if activation not in ACTIVATIONS:
        raise BundleError(f"{path}: hidden_act {activation!r} is not supported; use one of: {', '.join(ACTIVATIONS)}")
    required = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    missing = [key for key in (*required, "max_position_embeddings") if not isinstance(config.get(key), int)]
    if missing:
        raise BundleError(f"{path}: missing or non-integer {missing}; a BERT config.json has them all")
    return {
        "name": "bert",
        "vocab_size": config["vocab_size"],
        "dim": config["hidden_size"],
        "depth": config["num_hidden_layers"],
        "heads": config["num_attention_heads"],
        "intermediate": config["intermediate_size"],
        "max_positions": config["max_position_embeddings"],
        "type_vocab_size": int(config.get("type_vocab_size", 2)),
        "layer_norm_eps": float(config.get("layer_norm_eps", 1e-12)),
        "activation": activation,
        "dropout": float(config.get("hidden_dropout_prob", 0.1)),
    }


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """model.safetensors, or the shards named by model.safetensors.index.json."""
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    try:
        if single.is_file():
            return load_file(single)
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            return {name: tensor for shard in shards for name, tensor in load_file(folder / shard).items()}
    except Exception as exc:  # truncated file, bad header, bad index JSON, missing shard
        raise BundleError(f"{folder}: the safetensors weights are unreadable ({exc}); download them again") from None
    if (folder / "pytorch_model.bin").is_file():
        raise BundleError(
            f"{folder}: only pytorch_model.bin, a pickle, which ptft never loads (unpickling runs code); "
            + _CONVERT_HINT
        )
    raise BundleError(f"{folder}: no model.safetensors; ptft reads weights from safetensors only")


def _map_tensors(folder: Path, weights: dict[str, torch.Tensor], spec: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Rename Hugging Face tensors to BertEncoder's and check the set and every shape against the spec."""
    tensors: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for hf_name, tensor in weights.items():
        name = hf_name.removeprefix("bert.")
        if _DROPPED.search(name):
            continue
        ours = _rename(name)
        if ours is None:
            unexpected.append(hf_name)
            continue
        tensors[ours] = tensor.float() if tensor.dtype.is_floating_point else tensor
    try:
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            encoder = BertEncoder(**{key: value for key, value in spec.items() if key != "name"})
    except ValueError as exc:
        raise BundleError(f"{folder / 'config.json'}: not a valid BERT configuration: {exc}") from None
    expected = {name: tuple(value.shape) for name, value in encoder.state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    unexpected += sorted(set(tensors) - set(expected))
    wrong = [
        f"{n} {tuple(t.shape)}, expected {expected[n]}"
        for n, t in tensors.items()
        if t.shape != expected.get(n, t.shape)
    ]
    problems = [
        f"{label} ({len(items)}): {', '.join(items[:4])}{', ...' if len(items) > 4 else ''}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shapes", wrong))
        if items
    ]
    if problems:
        raise DataError(
            f"{folder}: the weights do not match config.json as a BERT encoder: {'; '.join(problems)}. "
            "Check that config.json and model.safetensors come from the same BertModel checkpoint"
        )
    return tensors


def _rename(name: str) -> str | None:
    """A Hugging Face parameter name (no `bert.` prefix) -> BertEncoder's, or None if it is not BERT's."""
    match = _PARAMETER.match(name)
    if match is None:
        return None
    layer, module, kind = match.groups()
    kind = {"gamma": "weight", "beta": "bias"}.get(kind, kind)
    ours = _EMBEDDINGS.get(module) if layer is None else _LAYER.get(module)
    if ours is None:
        return None
    return f"{ours}.{kind}" if layer is None else f"blocks.{layer}.{ours}.{kind}"
