"""Typed configuration: one frozen dataclass per command, shared pieces nested.

Keys are unique across the nesting, so the CLI and TOML files use flat names (`--lr 3e-4`,
`lr = 3e-4`); TOML may also group them in tables (`[loop] lr = 3e-4`). An unknown key fails and
lists the valid ones; the resolved config is written into every run folder.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ptft.errors import ConfigError

C = TypeVar("C")


def skip_budget(value: object) -> int:
    """`value` checked as a --skip-bad budget (bad records - undecodable or malformed lines/rows, unreadable
    images - to skip and count): a whole number >= 0; True/False are refused, not read as 1/0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"option 'skip_bad' is the number of bad records to skip and count (0 = stop at the first), a whole "
            f"number, not negative: got {value!r}; pass --skip-bad N (skip_bad=N) with N >= 0"
        )
    return value


@dataclass(frozen=True)
class ModelConfig:
    encoder: str = "auto"  # auto (cnn for images, transformer for text) | cnn | vit | mlp | transformer
    activation: str = "gelu"  # linear | sigmoid | relu | tanh | gelu
    dim: int = 128  # feature width D of the (B, T, D) output
    depth: int = 4  # transformer blocks / conv stages / MLP layers
    heads: int = 4  # attention heads (transformer only)
    patch_size: int = 4  # ViT patch side in pixels; also the MAE mask patch
    dropout: float = 0.0  # dropout rate inside the encoder


@dataclass(frozen=True)
class DataConfig:
    """How data is read and cleaned, for every modality (text columns and tokenizer, table columns)."""

    text_column: str = "text"  # JSONL/CSV/TSV/Parquet column holding the text
    label_column: str = "label"  # column holding the label (fine-tuning, evaluation)
    id_column: str = ""  # table: column naming each row (kept out of the features; keys `predict`'s CSV)
    drop_columns: tuple[str, ...] = ()  # table: columns to leave out (ids, leaky columns), comma-separated
    categorical: tuple[str, ...] = ()  # table: columns read as categories whatever their values
    numeric: tuple[str, ...] = ()  # table: columns read as numbers (a value that is not one is a bad record)
    min_frequency: int = 2  # table: a category seen fewer times at fit is read as unknown
    skip_bad: int = 0  # bad lines/rows or unreadable images to skip and count before stopping; 0 = stop at the first
    tokenizer: str = "wordpiece"  # wordpiece | bpe, trained on the pre-training corpus
    vocab_size: int = 8000  # subword vocabulary size
    max_length: int = 128  # tokens per text, [CLS] and [SEP] included; longer texts are truncated
    clean: bool = True  # NFKC, mojibake repair, control characters, whitespace; drop empty/garbled texts
    dedup: str = "exact"  # exact | near | none: de-duplicate the pre-training corpus
    holdout: str = ""  # labelled validation/test texts to keep out of the pre-training corpus (leakage check)

    def __post_init__(self) -> None:
        skip_budget(self.skip_bad)
        if self.dedup not in ("exact", "near", "none"):
            raise ConfigError(f"option 'dedup' is exact, near or none, got {self.dedup!r}")
        if self.max_length < 3:
            raise ConfigError(f"option 'max_length' needs room for [CLS] and [SEP]: use >= 3, not {self.max_length}")
        if self.min_frequency < 1:
            raise ConfigError(f"option 'min_frequency' must be at least 1, got {self.min_frequency}")
        both = sorted(set(self.categorical) & set(self.numeric))
        if both:
            raise ConfigError(f"column(s) {', '.join(both)} given to both --categorical and --numeric; choose one")


@dataclass(frozen=True)
class LoopConfig:
    steps: int = 0  # optimiser steps; 0 = derive from epochs (or from max_minutes)
    epochs: float = 1.0  # passes over the data when steps = 0
    max_minutes: float = 0.0  # time budget; 0 = none
    batch_size: int = 256  # examples per step and process (x accumulate); auto (or 0) = the largest that fits
    accumulate: int = 1  # gradient accumulation micro-batches per step
    lr: float = 1e-3  # peak learning rate (AdamW)
    weight_decay: float = 0.05  # AdamW weight decay (not on norms and biases)
    warmup: float = 0.05  # fraction of steps with linear warm-up
    clip_norm: float = 1.0  # 0 = no clipping
    ema: float = 0.0  # validate, keep and save a moving average of the weights with this decay (e.g. 0.999); 0 = off
    precision: str = "auto"  # auto | fp32 | bf16
    seed: int = 0  # seeds the weights, batches, augmentations and label split
    log_every: int = 20  # steps between log lines (metrics.jsonl, TensorBoard)
    eval_every: int = 0  # steps between evaluations; 0 = once per epoch
    patience: int = 0  # evaluations without improvement before stopping; 0 = never
    target: float = 0.0  # stop once the validation metric reaches this; 0 = off
    checkpoint_every: int = 0  # steps between resumable checkpoints; 0 = only on SIGTERM
    on_nonfinite: str = "halt"  # halt | skip: a NaN/inf loss or gradient stops the run, or skips that step
    max_skips: int = 10  # skip: consecutive non-finite steps after which the run stops anyway
    threads: int = 0  # torch CPU threads; 0 = torch's default
    workers: int = 0  # loader processes gathering batches ahead of the model; 0 = in the training process
    compile: bool = False  # torch.compile the model (its compile time is logged as compile_s)
    progress: bool = True  # show a progress bar

    def __post_init__(self) -> None:
        if self.batch_size < 0:
            raise ConfigError(f"option 'batch_size' must be at least 1, or auto (0), got {self.batch_size}")
        for name in ("accumulate", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"option '{name}' must be at least 1, got {getattr(self, name)}")
        for name in (
            "steps", "epochs", "max_minutes", "lr", "weight_decay", "clip_norm", "eval_every", "patience", "workers"
        ):  # fmt: skip
            if getattr(self, name) < 0:
                raise ConfigError(f"option '{name}' must not be negative, got {getattr(self, name)}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"option 'ema' is a decay in [0, 1) (e.g. 0.999; 0 = off), got {self.ema}")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"option 'warmup' is a fraction of the steps in [0, 1), got {self.warmup}")
        if self.on_nonfinite not in ("halt", "skip"):
            raise ConfigError(f"option 'on_nonfinite' is halt or skip, got {self.on_nonfinite!r}")


OBJECTIVE_OPTIONS = ("mask_ratio", "temperature", "projection_dim", "momentum")  # keys objectives declare


def check_prior(prior: str, task: str) -> None:
    if prior not in ("labels", "pool"):
        raise ConfigError(f"option 'prior' is labels or pool, got {prior!r}")
    if prior == "pool" and task == "regression":
        raise ConfigError("--prior pool moves a classifier to the pool's class shares; regression has no classes")


@dataclass(frozen=True)
class PretrainConfig:
    data: str = "fashion-mnist"  # built-in name (fashion-mnist, digits, wordnet-[verb-]supersenses) or a path
    data_dir: str = ""  # where built-in datasets live ('' = $PTFT_DATA_DIR or the Debian package path)
    out: str = "runs/pretrain"  # run folder to create
    overwrite: bool = False  # replace an existing run folder
    resume: bool = False  # continue the run in --out from its last checkpoint
    dry_run: bool = False  # print parameters, FLOPs, memory and the estimated time, then exit (writes nothing)
    objective: str = "auto"  # auto (simclr for images, mlm for text) | simclr | byol | mae | mlm | electra | simcse
    pretrained: str = ""  # continue pre-training: a ptft run folder or hf:PATH (its preprocessing and shape kept)
    probe: str = ""  # labelled data whose k-NN accuracy on the embedding is logged at each evaluation (watched only)
    probe_size: int = 2000  # labelled examples the probe draws: half the memory, half classified by 20 neighbours
    # Objective options: None = the objective's own default. Each objective declares which it takes (its
    # Options dataclass, ptft/objectives/); one it does not take is an error listing those it does.
    mask_ratio: float | None = None  # mae, mlm, electra, simcse: fraction hidden (simcse: masked in each view)
    temperature: float | None = None  # simclr, simcse: InfoNCE temperature
    projection_dim: int | None = None  # simclr, byol: width of the projection head (dropped after pre-training)
    momentum: float | None = None  # byol: the target network's starting EMA momentum (rising to 1)
    model: ModelConfig = field(default_factory=ModelConfig)
    reader: DataConfig = field(default_factory=DataConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)


@dataclass(frozen=True)
class FinetuneConfig:
    data: str = "fashion-mnist"  # labelled source; its unlabelled rest is the self-training pool
    data_dir: str = ""  # where built-in datasets live ('' = $PTFT_DATA_DIR or the Debian package path)
    pretrained: str = ""  # run folder of `ptft pretrain`, or hf:PATH (a Hugging Face BERT folder); '' = scratch
    out: str = "runs/finetune"  # run folder to create
    overwrite: bool = False  # replace an existing run folder
    resume: bool = False  # continue the run in --out from its last checkpoint
    strategy: str = "full"  # full|linear|llrd|lp-ft|gradual-unfreeze|lora|setfit|self-train|label-prop|fixmatch
    task: str = "classification"  # classification | regression (numeric labels, MSE loss, RMSE/MAE/R²/Spearman)
    labels_per_class: int = 10  # label budget K (stratified); regression: K labels in all; 0 = use every label
    val_per_class: int = 0  # validation examples per class (regression: in all); 0 = same as labels_per_class
    folds: int = 0  # k-fold selection: the labels_per_class examples are cut into this many folds; 0 = val_per_class
    fold: int = 0  # with --folds: the fold that validates (0 .. folds-1); -1 = none, train on all for --steps
    stage_steps: tuple[int, ...] = ()  # steps per stage of a staged strategy, comma-separated (k-fold's final fit)
    test: str = ""  # optional test set evaluated at the end (e.g. fashion-mnist:test)
    augment: bool = True  # random shifts/flips/erasing while fine-tuning
    head_lr_scale: float = 10.0  # head learning rate = lr x this
    layer_decay: float = 0.75  # llrd: each encoder block trains at this x the rate of the block above it
    lora_rank: int = 8  # lora: rank of the adapters
    lora_alpha: int = 16  # lora: scale of the adapters (alpha / rank multiplies their output)
    pseudo_threshold: float = 0.9  # self-train / label-prop / fixmatch: confidence needed to use a pseudo-label
    pool_ratio: int = 3  # fixmatch: unlabeled pool images per labelled image in each step
    pseudo_max_per_class: int = 3000  # self-train / label-prop: cap per class so classes stay balanced
    prior: str = "labels"  # labels: classes as common as in the labels | pool: their shares in the pool, by EM
    model: ModelConfig = field(default_factory=ModelConfig)
    reader: DataConfig = field(default_factory=DataConfig)
    loop: LoopConfig = field(
        default_factory=lambda: LoopConfig(steps=400, lr=3e-4, batch_size=64, patience=5, eval_every=25)
    )

    def __post_init__(self) -> None:
        if self.task not in ("classification", "regression"):
            raise ConfigError(f"option 'task' is classification or regression, got {self.task!r}")
        if any(n < 1 for n in self.stage_steps):
            raise ConfigError(f"option 'stage_steps' needs at least one step per stage, got {list(self.stage_steps)}")
        if self.folds == 1 or self.folds < 0 or (self.folds and not -1 <= self.fold < self.folds):
            raise ConfigError(
                f"options 'folds' (0, or at least 2) and 'fold' (-1 .. folds-1): got {self.folds}, {self.fold}"
            )
        if not 0 < self.layer_decay <= 1:
            raise ConfigError(f"option 'layer_decay' must lie in (0, 1], got {self.layer_decay}")
        if self.task == "regression" and self.strategy in ("self-train", "fixmatch", "setfit", "label-prop"):
            raise ConfigError(f"strategy '{self.strategy}' needs classes; for regression use full or linear")
        check_prior(self.prior, self.task)


@dataclass(frozen=True)
class CompareConfig:
    data: str = "fashion-mnist"  # labelled source (built-in name or path); its unlabelled rest is the pool
    test: str = ""  # test set; '' = a seeded, stratified part of --data (--test-fraction), said so in the report
    test_fraction: float = 0.2  # the part of --data held out as the test set when --test is not given
    task: str = "classification"  # classification (accuracy, macro-F1) | regression (R², RMSE; K = labels in all)
    data_dir: str = ""  # where built-in datasets live ('' = $PTFT_DATA_DIR or the Debian package path)
    pretrained: tuple[str, ...] = ()  # ptft run folders and/or hf:PATH, comma-separated; NAME=SOURCE names a start
    methods: tuple[str, ...] = ()  # () = baselines, scratch, default strategies; fixmatch[scratch]: from a random init
    labels_per_class: tuple[int, ...] = (10,)  # label budgets K: K labelled examples per class in all
    seeds: int = 5  # label draws per budget (every method sees the same K examples per seed)
    seed: int = 0  # the first seed
    select: str = "auto"  # holdout: a quarter picks the step | kfold: 5 folds + all K | fixed: all K | auto (README)
    scratch_lr: float = 3e-3  # learning rate of `scratch` (a random init wants a higher one than a pre-trained encoder)
    hf_lr: float = 1e-4  # the rate for an hf: encoder or a bundle continued from one (--lr: other ptft bundles)
    pseudo_threshold: float = 0.9  # self-train / label-prop / fixmatch: confidence needed to use a pseudo-label
    prior: str = "labels"  # fine-tuned rows: labels (as trained) | pool: moved to the pool's class shares (EM)
    out: str = "runs/compare"  # folder for the study (cells.jsonl, results.json, report.md, runs/)
    overwrite: bool = False  # replace an existing study folder
    resume: bool = False  # continue a study in --out, or grow it (more budgets, seeds, methods, starts); cells stay
    dry_run: bool = False  # print the cells and an estimated time, then exit (writes nothing)
    model: ModelConfig = field(default_factory=ModelConfig)
    reader: DataConfig = field(default_factory=DataConfig)
    loop: LoopConfig = field(
        default_factory=lambda: LoopConfig(steps=300, lr=3e-4, batch_size=64, patience=6, eval_every=25, progress=False)
    )

    def __post_init__(self) -> None:
        if not self.labels_per_class or min(self.labels_per_class) < 2:
            raise ConfigError(
                f"option 'labels_per_class' needs budgets of at least 2 per class (training and model selection), "
                f"got {self.labels_per_class}"
            )
        if self.seeds < 1:
            raise ConfigError(f"option 'seeds' must be at least 1, got {self.seeds}")
        if self.select not in ("auto", "holdout", "kfold", "fixed"):
            raise ConfigError(f"option 'select' is auto, holdout, kfold or fixed, got {self.select!r}")
        if self.task not in ("classification", "regression"):
            raise ConfigError(f"option 'task' is classification or regression, got {self.task!r}")
        if self.task == "regression" and self.select in ("kfold", "fixed"):
            raise ConfigError(
                f"--select {self.select} is for classification; for regression use --select holdout (or auto)"
            )
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"option 'test_fraction' must lie in (0, 1), got {self.test_fraction}")
        check_prior(self.prior, self.task)


@dataclass(frozen=True)
class ReportConfig:
    folder: str = ""  # the folder of a finished ptft compare (holding results.json)


@dataclass(frozen=True)
class EvaluateConfig:
    run: str = ""  # fine-tuned run folder
    data: str = "fashion-mnist:test"  # labelled images or texts to evaluate on (built-in name or path)
    data_dir: str = ""  # where built-in datasets live ('' = $PTFT_DATA_DIR or the Debian package path)
    text_column: str = ""  # JSONL/CSV/TSV/Parquet column holding the text; '' = as in training
    label_column: str = ""  # column holding the label; '' = as in training
    out: str = ""  # JSON report path; '' = <run>/eval-<data>.json
    skip_bad: int = 0  # bad records to skip and count before stopping (listed in the output); 0 = stop at the first

    def __post_init__(self) -> None:
        skip_budget(self.skip_bad)


@dataclass(frozen=True)
class PredictConfig:
    run: str = ""  # run folder of a fine-tuned model
    data: str = "fashion-mnist:test"  # images or texts to predict (built-in name or path)
    data_dir: str = ""  # where built-in datasets live ('' = $PTFT_DATA_DIR or the Debian package path)
    text_column: str = ""  # JSONL/CSV/TSV/Parquet column holding the text; '' = as in training
    id_column: str = ""  # table: the column whose values key the CSV's rows; '' = as in training (else file:line)
    out: str = "predictions.csv"  # CSV file to write
    overwrite: bool = False  # replace an existing CSV
    skip_bad: int = 0  # bad records to skip and count before stopping (listed in the output); 0 = stop at the first

    def __post_init__(self) -> None:
        skip_budget(self.skip_bad)


@dataclass(frozen=True)
class DemoConfig:
    task: str = "fashion-mnist"  # fashion-mnist | wordnet-supersenses | wordnet-verb-supersenses | letter | income
    data_dir: str = ""  # where built-in datasets live ('' = $PTFT_DATA_DIR or the Debian package path)
    out: str = ""  # output folder; empty = the task's own (runs/demo-fashion-mnist, runs/demo-wordnet); kept: -2, ...
    overwrite: bool = False  # replace an existing run folder
    pretrain_minutes: float = 0.0  # pre-training's time budget in minutes; 0 = the task's (images 8, text 15, tables 8)
    labels_per_class: int = 0  # labels per class in all; 0 = the task's (fashion-mnist 20, wordnet 64/32, tables 10)
    seed: int = 0  # first seed
    seeds: int = 5  # label draws (seeds) per method, paired across methods

    def __post_init__(self) -> None:
        if self.pretrain_minutes < 0:
            raise ConfigError(f"option 'pretrain_minutes' is a time budget: use > 0, or 0 for the task's own, "
                              f"not {self.pretrain_minutes:g}")  # fmt: skip


@dataclass(frozen=True)
class InspectConfig:
    data: str = ""  # text file or folder (txt, JSONL, CSV, TSV, Parquet), or a table file
    text_column: str = "text"  # JSONL/CSV/TSV/Parquet column holding the text
    label_column: str = ""  # column holding the label; '' = `label` when the file has one, else none
    skip_bad: int = 0  # bad lines/rows or unreadable images to skip and count before stopping; 0 = stop at the first
    near: bool = True  # also count near duplicates (MinHash; slower)

    def __post_init__(self) -> None:
        skip_budget(self.skip_bad)


@dataclass(frozen=True)
class CleanCommandConfig:
    data: str = ""  # text file or folder (txt, JSONL, CSV, TSV, Parquet)
    out: str = ""  # where to write the cleaned texts (.jsonl, or .txt without labels)
    overwrite: bool = False  # replace an existing output file
    text_column: str = "text"  # JSONL/CSV/TSV/Parquet column holding the text
    label_column: str = ""  # column holding the label (kept in the output); '' = none
    skip_bad: int = 0  # bad lines/rows or unreadable images to skip and count before stopping; 0 = stop at the first
    dedup: str = "exact"  # exact | near | none
    min_chars: int = 1  # drop texts shorter than this (after the transforms)
    max_chars: int = 0  # drop texts longer than this; 0 = no maximum
    garble_filter: bool = True  # drop texts that are mostly non-letters or one repeated character

    def __post_init__(self) -> None:
        skip_budget(self.skip_bad)


@dataclass(frozen=True)
class PrepareConfig:
    data: str = ""  # text file or folder (txt, JSONL, CSV, TSV, Parquet) to tokenize
    out: str = ""  # folder for the token shards (read by `ptft pretrain --data FOLDER`)
    text_column: str = "text"  # JSONL/CSV/TSV/Parquet column holding the text
    skip_bad: int = 0  # bad lines/rows or unreadable images to skip and count before stopping; 0 = stop at the first
    tokenizer: str = "wordpiece"  # wordpiece | bpe, trained on the first --fit-texts texts
    vocab_size: int = 8000  # subword vocabulary size
    max_length: int = 128  # tokens per text, [CLS] and [SEP] included; longer texts are truncated
    fit_texts: int = 200_000  # texts the tokenizer is trained on (the start of the corpus)
    texts_per_shard: int = 1_000_000  # texts per shard file
    workers: int = 0  # processes that clean and tokenize; 0 = one per core, at most 8 (the shards are the same)

    def __post_init__(self) -> None:
        skip_budget(self.skip_bad)
        if self.workers < 0:
            raise ConfigError(f"option 'workers' must not be negative, got {self.workers}")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def flat_fields(cls: type) -> dict[str, tuple[tuple[str, ...], Any, Any]]:
    """Map each flat key to (path through nested dataclasses, type, default)."""
    out: dict[str, tuple[tuple[str, ...], Any, Any]] = {}
    hints = _hints(cls)
    default = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(tp):
            for key, (path, sub_tp, sub_default) in flat_fields(tp).items():  # type: ignore[arg-type]
                out[key] = ((f.name, *path), sub_tp, getattr(value, key, sub_default))
        else:
            out[f.name] = ((f.name,), tp, value)
    return out


def convert(key: str, tp: Any, value: Any) -> Any:
    """Convert a CLI string or TOML value to the field's type, with an error naming the key."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        if value is None and type(None) in typing.get_args(tp):
            return None  # an optional option left unset
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if key == "batch_size" and str(value).strip().lower() == "auto":
        return 0
    if typing.get_origin(tp) is tuple:  # `8,32,128` on the command line, [8, 32, 128] in TOML
        item = typing.get_args(tp)[0]
        parts = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value
        if not isinstance(parts, list | tuple):
            raise ConfigError(f"option '{key}': expected a comma-separated list, got {value!r}")
        return tuple(convert(key, item, part) for part in parts)
    if tp is str and not isinstance(value, str | Path):
        hint = "; pass in-memory data to fit(data) instead" if key in ("data", "test") else ""
        raise ConfigError(f"option '{key}': expected a string, got {type(value).__name__}{hint}")
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if key == "skip_bad" and isinstance(value, bool):
            raise ConfigError(f"option 'skip_bad' is a count, got {value!r}; write skip_bad = N (bad records to skip)")
        if tp in (int, float) and isinstance(value, bool):
            raise ValueError(value)
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return tp(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option '{key}': expected {tp.__name__}, got {value!r}") from None


def build(cls: type[C], values: dict[str, Any], base: C | None = None) -> C:
    """Build a config from flat key/values over `base` (or the defaults); unknown keys fail."""
    known = flat_fields(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for {cls.__name__}; valid: {', '.join(sorted(known))}"
        )
    result: Any = base if base is not None else cls()
    for key, value in values.items():
        path, tp, _ = known[key]
        result = _replace_path(result, path, convert(key, tp, value))
    return typing.cast(C, result)


def _replace_path(obj: Any, path: tuple[str, ...], value: Any) -> Any:
    if len(path) == 1:
        return dataclasses.replace(obj, **{path[0]: value})
    return dataclasses.replace(obj, **{path[0]: _replace_path(getattr(obj, path[0]), path[1:], value)})


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config; tables are flattened (keys are unique across them)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    return flatten(data)


def flatten(values: dict[str, Any]) -> dict[str, Any]:
    """Nested tables/dicts -> flat keys (keys are unique across the nesting)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        flat.update(flatten(value) if isinstance(value, dict) else {key: value})
    return flat


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Inverse of `to_dict` (used to read the config stored in a bundle)."""
    flat = flatten(data)
    known = flat_fields(cls)
    return build(cls, {k: v for k, v in flat.items() if k in known})
