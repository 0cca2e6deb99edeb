"""Fine-tuning as one job, shared by the API and the study: read the labelled data, pick the starting point
(a ptft bundle, an imported encoder, or scratch), split the label budget, keep leaked examples out of the
pool, build the head and load the encoder strictly, fine-tune, evaluate on the test set, commit the bundle."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptft.config import FinetuneConfig, to_dict
from ptft.data.dedup import pool_without_leakage
from ptft.data.labels import numeric_targets
from ptft.data.splits import Split, fold_split, ids_fingerprint, label_budget, random_budget
from ptft.data.types import Examples, note_skips, skip_report
from ptft.errors import BundleError, ConfigError, DataError
from ptft.finetune.model import Model
from ptft.finetune.run import Interrupted, LabelledBatches, finetune
from ptft.finetune.strategies import STRATEGIES
from ptft.modalities import Imported, Modality, modality_of, read_data
from ptft.models import Classifier, build_encoder
from ptft.models.heads import new_head
from ptft.notes import recorded
from ptft.objectives.supervised import SupervisedClassification, SupervisedRegression
from ptft.train.distributed import Dist, init_distributed
from ptft.train.run_folder import (
    AUTO_BATCH_FILE,
    PREPROCESSOR_FILE,
    finish_run,
    fitted_once,
    interrupted,
    keep_for_resume,
    resolved_loop,
    start_run,
)
from ptft.train.start import read_start


@dataclass
class Finetuned:
    model: Model
    metrics: dict[str, Any]
    run_dir: Path


def refuse_fixmatch_without_views(strategy: str, modality: Modality) -> None:
    """FixMatch needs two augmented views of a pool example; a modality without them (text) cannot run it."""
    if strategy == "fixmatch" and modality.views is None:
        raise ConfigError(
            f"strategy 'fixmatch' needs image augmentations; for {modality.name} use full, linear or self-train"
        )


def starting_point(cfg: FinetuneConfig, modality: Modality, data: Examples, info: Dist) -> Imported:
    """The preprocessing, encoder spec and weights to start from: a ptft bundle, a Hugging Face folder
    (`hf:PATH`), or nothing (scratch: a new preprocessing fitted on this data, random weights)."""
    if not cfg.pretrained:
        preprocessor = fitted_once(cfg.out, cfg.resume, info, lambda: modality.fit_preprocessor(data, cfg.reader))
        return Imported(preprocessor, modality.encoder_spec(cfg.model, preprocessor), {}, {})
    return read_start(cfg.pretrained, modality, data.source, cfg.reader)


def split_budget(cfg: FinetuneConfig, data: Examples) -> Split:
    """The training, validation and pool indices of `data` for this seed and label budget."""
    assert data.labels is not None
    if cfg.folds:  # k-fold selection: the labelled set, then one fold of it validates (or none)
        if cfg.task == "regression":
            raise ConfigError("k-fold selection (--folds) is for classification; for regression use --val-per-class")
        chosen = label_budget(data.labels, cfg.labels_per_class, 0, cfg.loop.seed, data.source)
        train, val = fold_split(data.labels, chosen.train, cfg.folds, cfg.fold, cfg.loop.seed)
        return Split(train, val, chosen.pool)
    n_val = cfg.val_per_class or cfg.labels_per_class or 10
    if cfg.task == "regression":
        return random_budget(data.labels >= 0, cfg.labels_per_class, n_val, cfg.loop.seed, data.source)
    return label_budget(data.labels, cfg.labels_per_class, n_val, cfg.loop.seed, data.source)


def unleaked_pool(
    modality: Modality, data: Examples, split: Split, test: Examples | None
) -> tuple[np.ndarray, int | None]:
    """The pool without examples that duplicate a labelled or test one -> (pool, how many were removed;
    None where the modality has no such check)."""
    keys = modality.leakage_keys(data)
    if keys is None or not len(split.pool):
        return split.pool, None if keys is None else 0
    held = [keys[i] for i in np.concatenate([split.train, split.val]).tolist()]
    test_keys = modality.leakage_keys(test) if test is not None and isinstance(test, modality.examples) else None
    return pool_without_leakage(keys, split.pool, held + (test_keys or []))


def build_model(
    start: Imported, cfg: FinetuneConfig, data: Examples, targets: np.ndarray | None
) -> tuple[Classifier, dict]:
    """Encoder (weights loaded strictly: only the new head's keys may be missing) + a new head
    -> (model, the bundle's head entry)."""
    encoder = build_encoder(start.spec)
    if targets is not None:
        head, head_meta = new_head(encoder, mean=float(targets.mean()), std=float(targets.std() or 1.0))
    else:
        head, head_meta = new_head(encoder, len(data.label_names))
    model = Classifier(encoder, head)
    if start.tensors:
        load_encoder_strictly(model, start.tensors, cfg.pretrained)
    return model, head_meta


def load_encoder_strictly(model: Classifier, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Pre-trained weights load strictly: the only missing keys may be the new head's."""
    try:
        result = model.load_state_dict(tensors, strict=False)
    except RuntimeError as exc:  # shapes differ
        raise BundleError(f"{source}: encoder weights do not fit the model spec stored with them: {exc}") from None
    head_keys = {f"head.{k}" for k in model.head.state_dict()}
    missing, unexpected = set(result.missing_keys) - head_keys, set(result.unexpected_keys)
    if missing or unexpected or set(result.missing_keys) != head_keys:
        raise BundleError(
            f"{source}: encoder weights do not fit the model (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}); was it saved by another ptft version?"
        )


def _read(spec: str | Examples, cfg: FinetuneConfig) -> Examples:
    return spec if isinstance(spec, Examples) else read_data(spec, cfg.data_dir, cfg.reader)


def _inputs(
    cfg: FinetuneConfig, data: str | Examples | None
) -> tuple[Examples, Modality, Examples | None, np.ndarray | None]:
    """-> (the labelled examples, their modality, the test set, regression targets), every input checked
    before anything touches --out."""
    loaded = _read(data if data is not None else cfg.data, cfg)
    if loaded.labels is None or not loaded.has_labels:
        raise DataError(f"{loaded.source}: no labels found; fine-tuning needs labelled examples")
    if cfg.pretrained and Path(cfg.out).resolve() == Path(cfg.pretrained).resolve():
        raise ConfigError(f"--out {cfg.out} is the pre-trained bundle itself; choose another --out")
    modality = modality_of(loaded)
    refuse_fixmatch_without_views(cfg.strategy, modality)
    test = _read(cfg.test, cfg) if cfg.test else None
    targets = numeric_targets(loaded) if cfg.task == "regression" else None  # bad values fail here
    return loaded, modality, test, targets


def _data_report(loaded: Examples, test: Examples | None) -> dict[str, Any]:
    report = {"source": loaded.source, "n": len(loaded), "fingerprint": loaded.fingerprint(), **skip_report(loaded)}
    if test is not None and test.skipped:
        report["test"] = {"source": test.source, "n": len(test), **skip_report(test)}
    return report


def run_finetune(cfg: FinetuneConfig, data: str | Examples | None = None, stop_at: int = 0) -> Finetuned:
    """Fine-tune as `cfg` says; raises RunInterrupted after saving a checkpoint when stopped early.
    The notes the run raises (ptft.notes) go into its bundle."""
    with recorded() as notes:
        return _run(cfg, data, stop_at, notes)


def _run(cfg: FinetuneConfig, data: str | Examples | None, stop_at: int, notes: list[str]) -> Finetuned:
    info = init_distributed()
    torch.manual_seed(cfg.loop.seed + 1000 * info.rank)
    loaded, modality, test, targets = _inputs(cfg, data)
    start = starting_point(cfg, modality, loaded, info)  # read every input before touching --out
    split = split_budget(cfg, loaded)
    pool, leaks = unleaked_pool(modality, loaded, split, test)
    if cfg.prior == "pool" and not len(pool):
        raise ConfigError(
            f"--prior pool estimates the classes' shares on the unlabeled pool, and {loaded.source} leaves none "
            "(every example is labelled and within the budget): add unlabeled examples, or use --prior labels"
        )
    model, head_meta = build_model(start, cfg, loaded, None if targets is None else targets[split.train])
    STRATEGIES.get(cfg.strategy)(model, cfg)  # a strategy that cannot apply to this model fails before --out
    run_dir = start_run(cfg.out, cfg.overwrite, cfg.resume, cfg, info)
    keep_for_resume(run_dir, PREPROCESSOR_FILE, start.preprocessor.state_dict(), info)
    x = modality.batch(start.preprocessor, loaded)
    y = torch.from_numpy(loaded.labels if targets is None else targets)
    train, val = torch.from_numpy(split.train), torch.from_numpy(split.val)
    batches = LabelledBatches(x.rows(train), y[train], x.rows(val), y[val], x.rows(torch.from_numpy(pool)))
    run_cfg = cfg
    if not cfg.loop.batch_size:  # --batch-size auto: probe with the fine-tuning loss on the training inputs
        probe = SupervisedRegression(model) if targets is not None else SupervisedClassification(model)
        loop = resolved_loop(cfg.loop, probe, batches.x_train, batches.y_train, cfg.out, cfg.resume, info)
        keep_for_resume(run_dir, AUTO_BATCH_FILE, {"batch_size": loop.batch_size}, info)
        run_cfg = dataclasses.replace(cfg, loop=loop)
    try:
        summary = finetune(model, batches, run_cfg, modality, run_dir, info, cfg.resume, stop_at)
    except Interrupted as stop:
        raise interrupted("finetune", run_dir, stop.result.steps, stop.result.total_steps) from None
    metrics: dict[str, Any] = {**summary, "train_labels": len(split.train), "val_labels": len(split.val)}
    metrics["labelled"] = ids_fingerprint([loaded.ids[i] for i in np.concatenate([split.train, split.val])])
    if leaks is not None:
        metrics["pool_leakage_removed"] = leaks
    metrics.update(modality.preprocessing_report(start.preprocessor))
    label_names = [] if targets is not None else loaded.label_names
    meta: dict[str, Any] = {"label_names": label_names, "config": to_dict(cfg), "head": head_meta}
    result = Model(meta, start.preprocessor, model.encoder, model.head, run_dir)
    if test is not None:
        metrics["test"] = result.evaluate(test)
    note_skips(_data_report(loaded, test), str(run_dir / "ptft.json"))
    meta.update(kind="finetune", modality=modality.name, preprocessor=start.preprocessor.state_dict(),
                encoder=start.spec, pretrained_from=start.origin or None, data=_data_report(loaded, test),
                metrics=metrics, notes=notes)  # fmt: skip
    finish_run(run_dir, meta, model.state_dict(), info)
    return Finetuned(result, metrics, run_dir)
