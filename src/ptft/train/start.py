"""Where an encoder starts: a ptft bundle (its run folder) or a Hugging Face folder (`hf:PATH`), read into its
preprocessing, encoder spec and weights. Fine-tuning starts from one (`ptft finetune --from`), and so does
continued pre-training (`ptft pretrain --from`: domain- and task-adaptive pre-training on the user's pool)."""

from __future__ import annotations

from pathlib import Path

from ptft.config import DataConfig
from ptft.errors import BundleError
from ptft.modalities import Imported, Modality
from ptft.preprocess import preprocessor_from_state
from ptft.train.checkpoint import META, read_bundle, read_meta


def read_start(source: str, modality: Modality, data_source: str, options: DataConfig) -> Imported:
    """The preprocessing, spec and weights (keys `encoder.*`) of `source`, refused when it holds another
    modality than the data it is to train on."""
    if source.startswith("hf:"):
        return modality.import_encoder(source[3:], options)
    meta, tensors = read_bundle(source)
    preprocessor = preprocessor_from_state(meta["preprocessor"])
    if preprocessor.kind != modality.name:
        raise BundleError(
            f"{source} was pre-trained on {preprocessor.kind}, but {data_source} holds {modality.name}; "
            f"start from an encoder pre-trained on {modality.name}, or from scratch"
        )
    encoder = {k: v for k, v in tensors.items() if k.startswith("encoder.")}
    origin = {"path": str(source), "kind": meta.get("kind"), "data": meta.get("data")}
    if meta.get("pretrained_from"):  # the chain: e.g. MiniLM -> pre-training continued on the pool -> here
        origin["pretrained_from"] = meta["pretrained_from"]
    return Imported(preprocessor, meta["encoder"], encoder, origin)


def from_hf(source: str) -> bool:
    """Whether the encoder at `source` is a Hugging Face one: `hf:PATH`, or a ptft bundle whose chain of starts
    (`pretrained_from`) begins at one, e.g. MiniLM with pre-training continued on the pool. Such an encoder
    fine-tunes at a Hugging Face model's rate, not at that of a small model ptft pre-trained itself."""
    if source.startswith("hf:"):
        return True
    if not (Path(source) / META).is_file():
        return False  # not a bundle (yet): reading it as a start says what is wrong
    origin = read_meta(Path(source)).get("pretrained_from") or {}
    while origin.get("pretrained_from"):
        origin = origin["pretrained_from"]
    return origin.get("kind") == "huggingface"
