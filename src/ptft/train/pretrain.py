"""Self-supervised pre-training as one job: read the pool (or a prepared corpus), fit the preprocessing
once, build the encoder and objective the modality and options call for, run the shared loop, and commit
the bundle (config, preprocessing, encoder spec, resolved objective options, data report, metrics)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptft.config import OBJECTIVE_OPTIONS, DataConfig, ModelConfig, PretrainConfig, to_dict
from ptft.data.types import Examples, note_skips, skip_report
from ptft.errors import BundleError, ConfigError
from ptft.modalities import Modality, PretrainInputs, modality_for, modality_of, read_data
from ptft.models import build_encoder
from ptft.notes import recorded
from ptft.objectives import OBJECTIVES, Objective, build_objective
from ptft.objectives.registry import resolve_options
from ptft.train.batches import BatchStream
from ptft.train.distributed import Dist, init_distributed, json_from_rank0
from ptft.train.estimate import Estimate, estimate
from ptft.train.loop import Evaluate, TrainResult, train
from ptft.train.probe import knn_probe, probe_split
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


def given_options(cfg: PretrainConfig) -> dict[str, Any]:
    """The objective options set in `cfg` (None = left to the objective's default)."""
    return {k: getattr(cfg, k) for k in OBJECTIVE_OPTIONS if getattr(cfg, k) is not None}


def check_options(cfg: PretrainConfig) -> None:
    """Fail early (before any data is read) on an unknown objective, an option it does not take, a value
    no objective that takes it accepts, or a shape option beside --from."""
    check_start(cfg)
    given = given_options(cfg)
    if cfg.objective != "auto":
        resolve_options(cfg.objective, given)
        return
    for key, value in given.items():
        for name in OBJECTIVES.names():
            if key in {f.name for f in dataclasses.fields(OBJECTIVES.get(name).Options)}:
                resolve_options(name, {key: value})


@dataclass
class Pretrained:
    run_dir: Path
    result: TrainResult
    data: dict[str, Any]  # the bundle's data report
    meta: dict[str, Any]


def pretraining_inputs(cfg: PretrainConfig, data: str | Examples, info: Dist) -> tuple[Modality, PretrainInputs]:
    """-> (the modality, what pre-training reads). A source the modality reads lazily (a prepared corpus,
    a memory-mapped array) stays on disk; otherwise the examples are read, made into the pre-training
    corpus (cleaned, de-duplicated, without the --holdout texts), and the preprocessing is fitted once."""
    if isinstance(data, str):
        modality = modality_for(data, cfg.reader)
        prepared = modality.prepared_source(data, cfg.loop.seed, lambda value: json_from_rank0(value, info))
        if prepared is not None:
            if cfg.pretrained:
                raise ConfigError(f"{data} is a prepared corpus, tokenized with its own tokenizer; --from "
                                  f"{cfg.pretrained} brings another: give the raw texts instead")  # fmt: skip
            return modality, prepared
        raw = modality.read(data, cfg.data_dir, cfg.reader, labels=False)
    else:
        modality, raw = modality_of(data), data
    start = read_start(cfg.pretrained, modality, raw.source, cfg.reader) if cfg.pretrained else None
    options = modality.start_options(start.preprocessor, cfg.reader) if start else cfg.reader
    held = read_data(cfg.reader.holdout, cfg.data_dir, cfg.reader, labels=False) if cfg.reader.holdout else None
    examples, corpus = modality.corpus(raw, options, held)
    preprocessor = start.preprocessor if start else fitted_once(
        cfg.out, cfg.resume, info, lambda: modality.fit_preprocessor(examples, cfg.reader, cleaned=True)
    )  # fmt: skip
    rows = modality.batch(preprocessor, examples, cleaned=True)
    corpus.update(modality.corpus_counts(preprocessor, rows))
    about = {"source": raw.source, "n": len(examples), "fingerprint": examples.fingerprint(), **skip_report(raw)}
    return modality, PretrainInputs(preprocessor, rows, about, corpus, start)


def probe_hook(cfg: PretrainConfig, modality: Modality, preprocessor: Any, encoder: Any) -> Evaluate | None:
    """The k-NN probe's evaluation hook (`--probe`), or None without one."""
    if not cfg.probe:
        return None
    examples = read_data(cfg.probe, cfg.data_dir, cfg.reader)
    if examples.labels is None or modality_of(examples) is not modality:
        raise ConfigError(f"--probe {cfg.probe}: give labelled {modality.name} data, like the data pre-trained on")
    memory, queries = probe_split(examples, cfg.probe_size, cfg.loop.seed)
    order = np.concatenate([memory, queries])
    x = modality.batch(preprocessor, examples.subset(order))
    return knn_probe(encoder, x, torch.as_tensor(np.asarray(examples.labels)[order]), len(memory))


def check_start(cfg: PretrainConfig) -> None:
    """With --from, the encoder's shape and tokenizer are the start's: an option that would set them is an error."""
    if not cfg.pretrained:
        return
    given = [k for k, v in dataclasses.asdict(cfg.model).items() if v != getattr(ModelConfig(), k)]
    given += [k for k in ("tokenizer", "vocab_size") if getattr(cfg.reader, k) != getattr(DataConfig(), k)]
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{flags}: pre-training continues from {cfg.pretrained}, whose shape and tokenizer it "
                          "keeps; leave these options out (or drop --from to build a new encoder)")  # fmt: skip


def _objective(cfg: PretrainConfig, modality: Modality, inputs: PretrainInputs) -> tuple[dict[str, Any], Objective]:
    """-> (the encoder spec, the objective training that encoder)."""
    start = inputs.start
    spec = start.spec if start else modality.encoder_spec(cfg.model, inputs.preprocessor)
    name = modality.default_objective if cfg.objective == "auto" else cfg.objective
    context = modality.objective_context(cfg.model, inputs.preprocessor)
    encoder = build_encoder(spec)
    if start:
        weights = {k.removeprefix("encoder."): v for k, v in start.tensors.items()}
        try:
            encoder.load_state_dict(weights)
        except RuntimeError as exc:
            message = f"{cfg.pretrained}: its weights do not fit the encoder spec stored with them: {exc}"
            raise BundleError(message) from None
    return spec, build_objective(name, encoder, given_options(cfg), **context)


def dry_run(cfg: PretrainConfig, data: str | Examples) -> Estimate:
    """Parameters, FLOPs, memory and time of the run `cfg` describes; writes nothing."""
    info = init_distributed()
    torch.manual_seed(cfg.loop.seed + 1000 * info.rank)
    modality, inputs = pretraining_inputs(cfg, data, info)
    _, objective = _objective(cfg, modality, inputs)
    loop = resolved_loop(cfg.loop, objective, inputs.rows, None, cfg.out, cfg.resume, info)
    stream = BatchStream(inputs.rows, None, loop.batch_size, loop.seed, info.rank, info.world, workers=loop.workers)
    return estimate(objective, stream, loop, info)


def pretrain(cfg: PretrainConfig, data: str | Examples, stop_at: int = 0) -> Pretrained:
    """Pre-train as `cfg` says on `data`; raises RunInterrupted after saving a checkpoint when stopped early.
    The notes the run raises (ptft.notes) go into its bundle."""
    with recorded() as notes:
        return _pretrain(cfg, data, stop_at, notes)


def _pretrain(cfg: PretrainConfig, data: str | Examples, stop_at: int, notes: list[str]) -> Pretrained:
    info = init_distributed()
    torch.manual_seed(cfg.loop.seed + 1000 * info.rank)  # distinct augmentation streams per rank
    modality, inputs = pretraining_inputs(cfg, data, info)
    spec, objective = _objective(cfg, modality, inputs)
    hook = probe_hook(cfg, modality, inputs.preprocessor, objective.encoder)
    loop = resolved_loop(cfg.loop, objective, inputs.rows, None, cfg.out, cfg.resume, info)
    run_dir = start_run(cfg.out, cfg.overwrite, cfg.resume, cfg, info)  # inputs are valid: now touch --out
    keep_for_resume(run_dir, PREPROCESSOR_FILE, inputs.preprocessor.state_dict(), info)
    if not cfg.loop.batch_size:
        keep_for_resume(run_dir, AUTO_BATCH_FILE, {"batch_size": loop.batch_size}, info)
    stream = BatchStream(inputs.rows, None, loop.batch_size, loop.seed, info.rank, info.world, workers=loop.workers)
    result = train(objective, stream, loop, run_dir, info, evaluate=hook, monitor="", resume=cfg.resume,
                   stop_at=stop_at, desc="pretrain")  # fmt: skip
    if result.stopped == "interrupted":
        raise interrupted("pretrain", run_dir, result.steps, result.total_steps)
    items = result.steps * stream.global_batch * loop.accumulate
    metrics: dict[str, Any] = {
        "final_loss": result.last_loss,
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "stopped": result.stopped,
        "items_seen": items,
    }
    if result.last_eval:
        metrics["probe"] = result.last_eval  # the k-NN probe's last reading (--probe)
    if "tokens" in inputs.corpus:
        tokens_per_example = inputs.corpus["tokens"] / max(len(inputs.rows), 1)
        metrics["tokens_per_second"] = round(items * tokens_per_example / max(result.seconds, 1e-9))
    data_report = {**inputs.about, **inputs.corpus}
    note_skips(data_report, str(run_dir / "ptft.json"))
    meta = {
        "kind": "pretrain",
        "modality": modality.name,
        "config": to_dict(cfg),
        "preprocessor": inputs.preprocessor.state_dict(),
        "encoder": spec,
        "objective": objective.name,
        "objective_options": dataclasses.asdict(objective.options),
        "label_names": [],
        "data": data_report,
        "metrics": metrics,
        "notes": notes,
    }
    if inputs.start:
        meta["pretrained_from"] = inputs.start.origin
    finish_run(run_dir, meta, {f"encoder.{k}": v for k, v in objective.encoder.state_dict().items()}, info)
    return Pretrained(run_dir, result, data_report, meta)
