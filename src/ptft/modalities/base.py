"""The modality surface: everything that differs between kinds of data, declared once per kind.

A modality says how a data spec is recognised and read, its examples type, its preprocessing, its default
encoder and objective, the encoder spec built from the model options, the context its objectives need,
its fine-tuning augmentations, its baselines, and how examples become a `Batch`. The shared code (api,
finetune, train, evaluate) asks the modality and never tests which one it holds; a kind of data nobody
recognises is an error that lists the known kinds.

To add a modality: write `ptft/modalities/<name>.py` with a `Modality` subclass registered in MODALITIES
(`@MODALITIES.register(name)`), an `Examples` subclass for its content in `ptft/data/`, a preprocessor
registered in `ptft.preprocess.PREPROCESSORS` under the same name, encoders whose `modality` is that name,
and objectives that list it in `modalities`; import the file in `ptft/modalities/__init__.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ptft.config import DataConfig, ModelConfig
from ptft.data.batch import Batch
from ptft.data.types import Examples
from ptft.errors import ConfigError, DataError
from ptft.preprocess import Preprocessor
from ptft.registry import Registry

Augment = Callable[[Batch], Batch]
SURE, MAYBE, NOT_MINE = 2, 1, 0  # how strongly a modality claims a data spec


@dataclass(frozen=True)
class Baseline:
    """A method a user would pick instead of training a network: features + logistic regression (or another
    classifier). `features(train, test, context)` -> (train matrix, test matrix); `c`: the regression's inverse
    strength. A `peer` is another tool's own method run as that tool runs it (SetFit for text, LightGBM for
    tables): reports mark it, and compare's verdict says whether ptft's best beat the best peer."""

    features: Callable[[Examples, Examples, dict[str, Any]], tuple[Any, Any]]
    c: float
    about: str
    needs: str = ""  # a context key it cannot run without (e.g. hf_path: the encoder whose features it uses)
    classifier: Callable[[int, dict[str, Any]], Any] | None = None  # (seed, context) -> an unfitted classifier
    regressor: Callable[[int, dict[str, Any]], Any] | None = None  # (seed, context) -> a regressor; None = ridge
    peer: bool = False
    missing: Callable[[], str] | None = None  # why it cannot run here ('' when it can), e.g. a package not installed
    classes_only: bool = False  # no regression form


@dataclass
class Imported:
    """An existing encoder to start from (e.g. a Hugging Face folder): its preprocessing, spec and weights."""

    preprocessor: Preprocessor
    spec: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    origin: dict[str, Any]


@dataclass
class PretrainInputs:
    """What pre-training reads: the fitted preprocessing, every example as model input (a Batch, or rows read
    when asked for), what the data is (source, n, fingerprint, skipped) and the corpus report."""

    preprocessor: Preprocessor
    rows: Any  # Batch | a Rows source (ptft.train.batches.Rows)
    about: dict[str, Any]
    corpus: dict[str, Any] = field(default_factory=dict)
    start: Imported | None = None  # the encoder pre-training continues from (`--from`); None = a new one


class Modality(ABC):
    name: ClassVar[str]
    examples: ClassVar[type[Examples]]
    default_encoder: ClassVar[str]
    default_objective: ClassVar[str]
    forms: ClassVar[str]  # the data specs it reads, for messages
    baselines: ClassVar[dict[str, Baseline]] = {}

    def __init__(self, finetune_augment: Augment | None = None, views: tuple[Augment, Augment] | None = None) -> None:
        self.finetune_augment = finetune_augment  # light augmentation of labelled batches; None = none
        self.views = views  # (weak, strong) views of unlabeled batches for FixMatch; None = none

    @abstractmethod
    def claim(self, spec: str, options: DataConfig) -> int:
        """SURE (a built-in name, a file of its kind), MAYBE (a form it would read if no modality is sure,
        such as a folder) or NOT_MINE."""

    @abstractmethod
    def builtin_names(self) -> list[str]:
        """Its built-in datasets."""

    @abstractmethod
    def read(self, spec: str, data_dir: str, options: DataConfig, labels: bool) -> Examples:
        """The examples behind `spec` (labels only where `labels`)."""

    @abstractmethod
    def from_memory(self, data: Any) -> Examples | None:
        """In-memory raw content (uint8 images, a list of strings, ...) as examples; None if not its kind."""

    @abstractmethod
    def fit_preprocessor(self, examples: Examples, options: DataConfig, cleaned: bool = False) -> Preprocessor:
        """A new preprocessing fitted on `examples`; `cleaned`: they went through `corpus` already."""

    @abstractmethod
    def content(self, examples: Examples) -> Any:
        """The raw content a preprocessor reads (uint8 images, texts)."""

    @abstractmethod
    def encoder_spec(self, model: ModelConfig, preprocessor: Preprocessor) -> dict[str, Any]:
        """The encoder spec (plain JSON) for `model`'s options over this preprocessing."""

    @abstractmethod
    def objective_context(self, model: ModelConfig, preprocessor: Preprocessor) -> dict[str, Any]:
        """What its objectives must know about the data (mask token, image shape); never a user option."""

    def batch(self, preprocessor: Preprocessor, examples: Examples, cleaned: bool = False) -> Batch:
        """`examples` as model input through the fitted `preprocessor`."""
        if not isinstance(examples, self.examples):
            theirs = modality_of(examples).name
            raise DataError(
                f"{examples.source}: is {theirs} data, but this model was trained on {self.name}; give {self.name} data"
            )
        return preprocessor.batch(self.content(examples), cleaned=cleaned)

    def leakage_keys(self, examples: Examples) -> list[str] | None:
        """Strings equal for duplicates (for the pool's leakage check against labelled and test examples);
        None: this modality has no such check yet."""
        return None

    def start_options(self, preprocessor: Preprocessor, options: DataConfig) -> DataConfig:
        """The options that make the pre-training corpus for an existing preprocessing (`--from`), so that the
        corpus is cleaned as that preprocessing cleans what it is given."""
        return options

    def corpus(self, examples: Examples, options: DataConfig, held: Examples | None) -> tuple[Examples, dict[str, Any]]:
        """The pre-training corpus made from `examples` (cleaned, de-duplicated, without `held`-out ones)
        and its report; by default the examples as they are."""
        if held is not None:
            raise ConfigError(f"--holdout removes held-out texts from a text corpus; {examples.source} is {self.name}")
        return examples, {}

    def corpus_counts(self, preprocessor: Preprocessor, rows: Batch) -> dict[str, Any]:
        """Counts for the corpus report once the corpus is model input (tokens, truncated texts)."""
        return {}

    def preprocessing_report(self, preprocessor: Preprocessor) -> dict[str, Any]:
        """What the last transform changed (texts truncated), for a fine-tuning report."""
        return {}

    def prepared_source(self, spec: str, seed: int, share: Callable[[Any], Any]) -> PretrainInputs | None:
        """A source pre-training reads without loading it into memory (a prepared corpus, a memory-mapped
        array); `share` sends rank 0's JSON to every rank. None: `spec` is not one."""
        return None

    def inspection(self, spec: str, data_dir: str, options: DataConfig) -> str | None:
        """`ptft data inspect`'s report on `spec`, or None where the modality leaves it to the text inspection
        (which streams a corpus through the cleaning steps)."""
        return None

    def import_encoder(self, path: str, options: DataConfig) -> Imported:
        """An existing encoder of another library (`--pretrained hf:PATH`)."""
        raise ConfigError(f"--pretrained hf:{path} imports a Hugging Face text encoder; this data is {self.name}")


MODALITIES: Registry[Modality] = Registry("modality")


def modality_of(examples: Examples) -> Modality:
    """The modality whose examples type `examples` is."""
    for name in MODALITIES.names():
        modality = MODALITIES.get(name)
        if isinstance(examples, modality.examples):
            return modality
    raise ConfigError(f"{type(examples).__name__} is no modality's examples; known: {', '.join(MODALITIES.names())}")


def modality_for(spec: str, options: DataConfig | None = None) -> Modality:
    """The modality that reads data spec `spec`: the one that claims it most surely."""
    options = options or DataConfig()
    claims = sorted(((m.claim(spec, options), name) for name in MODALITIES.names() if (m := MODALITIES.get(name))),
                    reverse=True)  # fmt: skip
    best, name = claims[0]
    if best == NOT_MINE or (len(claims) > 1 and claims[1][0] == best):
        known = "; ".join(f"{n}: {MODALITIES.get(n).forms}" for n in MODALITIES.names())
        builtins = ", ".join(b for n in MODALITIES.names() for b in MODALITIES.get(n).builtin_names())
        if best != NOT_MINE:
            what = f"could be {' or '.join(n for c, n in claims if c == best)} data"
        else:
            what = "is no kind of data ptft reads" if Path(spec).expanduser().exists() else "does not exist"
        raise DataError(f"{spec} {what}; give {known}; or a built-in dataset: {builtins}")
    return MODALITIES.get(name)


def read_data(spec: str, data_dir: str = "", options: DataConfig | None = None, labels: bool = True) -> Examples:
    """The examples behind a data spec (a built-in name or a path), read by the modality that claims it."""
    options = options or DataConfig()
    return modality_for(spec, options).read(spec, data_dir, options, labels)
