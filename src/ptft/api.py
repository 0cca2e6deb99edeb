"""Python API in the manner of scikit-learn: `Pretrainer(...).fit()`, `FineTuner(...).fit().predict()`,
`load(path)`. The CLI is a thin layer over these.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import platform
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ptft
from ptft.config import FinetuneConfig, LoopConfig, ModelConfig, PretrainConfig, TextConfig, build, flatten, to_dict
from ptft.data.corpus import prepare_corpus
from ptft.data.dedup import leakage
from ptft.data.load import read_data
from ptft.data.mapped import MappedImages
from ptft.data.shards import INDEX as SHARD_INDEX
from ptft.data.shards import TokenShards
from ptft.data.splits import label_budget, random_budget
from ptft.data.types import ImageSet, TextSet, skip_report
from ptft.errors import BundleError, ConfigError, DataError, PtftError
from ptft.evaluate.metrics import classification_report, regression_report
from ptft.finetune import Interrupted, LabelledTensors, finetune, predict_proba
from ptft.finetune.predict import predict_values, token_counts
from ptft.finetune.strategies import STRATEGIES
from ptft.models import ClassificationHead, Classifier, Encoder, build_encoder, mean_pool
from ptft.models.heads import RegressionHead
from ptft.objectives import OBJECTIVES, build_objective
from ptft.objectives.supervised import SupervisedClassification, SupervisedRegression
from ptft.preprocess import ImageNormalizer, Preprocessor, TextPipeline, TextTokenizer, preprocessor_from_state
from ptft.preprocess.pipeline import CHARS_PER_TOKEN_BOUND
from ptft.preprocess.pipeline import STEPS as CLEAN_STEPS
from ptft.train import Dist, init_distributed, train
from ptft.train.autobatch import auto_batch_size
from ptft.train.batches import BatchStream
from ptft.train.checkpoint import MANIFEST, prepare_run_dir, read_bundle, write_bundle
from ptft.train.distributed import json_from_rank0, on_rank0, pick_device, resolve_precision
from ptft.train.estimate import estimate

DataLike = str | ImageSet | TextSet
Loaded = ImageSet | TextSet


class RunInterrupted(PtftError):
    """A run stopped early (SIGTERM / pre-emption) after saving a resumable checkpoint."""


def _versions() -> dict[str, str]:
    return {"ptft": ptft.__version__, "torch": torch.__version__, "python": platform.python_version()}


def _read(data: DataLike, data_dir: str = "", text: TextConfig | None = None, labels: bool = True) -> Loaded:
    """A data spec (built-in name or path) read as images or text; an in-memory set as it is."""
    if isinstance(data, ImageSet | TextSet):
        return data
    text = text or TextConfig()
    return read_data(data, data_dir, text.text_column, text.label_column if labels else None, text.skip_bad)


def _fit_preprocessor(data: Loaded, text: TextConfig, cleaned: bool = False) -> Preprocessor:
    """A new preprocessing fitted on `data` (normalisation statistics, or the subword vocabulary).
    `cleaned`: the texts already went through the cleaning transforms (`prepare_corpus`)."""
    if isinstance(data, ImageSet):
        return ImageNormalizer().fit(data.images)
    tokenizer = TextTokenizer(text.tokenizer, text.vocab_size, text.max_length)
    pipeline = TextPipeline(tokenizer, list(CLEAN_STEPS) if text.clean else [])
    return pipeline.fit(data.texts if cleaned else [pipeline.clean(t) for t in data.texts])


PREPROCESSOR_FILE = "preprocessor.json"  # the fitted preprocessing of a run in progress (for --resume)
AUTO_BATCH_FILE = "batch_size.json"  # the batch size --batch-size auto found (reused by --resume)
FREE_ON_RESUME = {"workers", "progress"}  # options that do not change what a run computes


def _once_per_run(out: str, name: str, resume: bool, info: Dist, decide: Callable[[], Any]) -> Any:
    """A JSON value decided once for a run and the same on every rank: rank 0 decides it (or, on --resume,
    reads back the one the run started with from `out/name`) and sends it to the others.
    `_keep_for_resume` writes it into the run folder once that exists."""
    value = None
    if info.rank == 0:
        saved = Path(out) / name
        value = json.loads(saved.read_text()) if resume and saved.is_file() else decide()
    return json_from_rank0(value, info)


def _keep_for_resume(run_dir: Path, name: str, value: Any, info: Dist) -> None:
    def work() -> None:
        (run_dir / name).write_text(json.dumps(value))

    on_rank0(work, info)


def _fitted_once(
    data: Loaded, text: TextConfig, out: str, resume: bool, info: Dist, cleaned: bool = False
) -> Preprocessor:
    """The run's preprocessing, identical on every rank and across --resume: fitted once, on rank 0, and
    shared as JSON (fitting it again would give the same result, but costs the time of a fit per rank)."""
    state = _once_per_run(
        out, PREPROCESSOR_FILE, resume, info, lambda: _fit_preprocessor(data, text, cleaned).state_dict()
    )
    return preprocessor_from_state(state, expect=None)


def _resolved_loop(
    loop: LoopConfig,
    objective: torch.nn.Module,
    x: Any,
    y: torch.Tensor | None,
    lengths: torch.Tensor | None,
    out: str,
    resume: bool,
    info: Dist,
) -> LoopConfig:
    """`loop` with --batch-size auto replaced by the largest batch that fits (found on rank 0, shared)."""
    if loop.batch_size:
        return loop

    def search() -> dict[str, int]:
        device = pick_device(info)
        precision = resolve_precision(loop.precision, device)
        return {"batch_size": auto_batch_size(objective, x, y, lengths, precision, device)}

    found = int(_once_per_run(out, AUTO_BATCH_FILE, resume, info, search)["batch_size"])
    print(f"--batch-size auto: {found} per process")
    return dataclasses.replace(loop, batch_size=found)


def _tensor(preprocessor: Preprocessor, data: Loaded, cleaned: bool = False) -> torch.Tensor:
    """The model input for every example: normalised (N, C, H, W) floats or (N, T) token ids."""
    if isinstance(preprocessor, ImageNormalizer):
        if not isinstance(data, ImageSet):
            raise DataError(f"{data.source}: is text, but this model was trained on images; give images")
        return preprocessor.transform(data.images)
    if not isinstance(data, TextSet):
        raise DataError(f"{data.source}: is images, but this model was trained on text; give texts")
    return preprocessor.transform(data.texts, cleaned=cleaned)


def _lengths(x: torch.Tensor, preprocessor: Preprocessor) -> torch.Tensor | None:
    """Token counts of text inputs (for length-bucketed batches); None for images."""
    if isinstance(preprocessor, TextPipeline):
        return x.ne(preprocessor.pad_id).sum(1)
    return None


def encoder_spec(model: ModelConfig, preprocessor: Preprocessor) -> dict[str, Any]:
    if isinstance(preprocessor, TextPipeline):
        name = "transformer" if model.encoder == "auto" else model.encoder
        tokenizer = preprocessor.tokenizer
        if name == "bert":  # BERT's post-norm layout, trained from scratch here
            return {
                "name": name,
                "vocab_size": tokenizer.vocab_size_,
                "pad_id": preprocessor.pad_id,
                "max_positions": tokenizer.max_length,
                "dim": model.dim,
                "depth": model.depth,
                "heads": model.heads,
                "intermediate": 4 * model.dim,
                "type_vocab_size": 1,
                "layer_norm_eps": 1e-12,
                "activation": model.activation,
                "dropout": model.dropout,
            }
        return {
            "name": name,
            "vocab_size": tokenizer.vocab_size_,
            "pad_id": preprocessor.pad_id,
            "max_length": tokenizer.max_length,
            "dim": model.dim,
            "depth": model.depth,
            "heads": model.heads,
            "activation": model.activation,
            "dropout": model.dropout,
        }
    return {
        "name": "cnn" if model.encoder == "auto" else model.encoder,
        "input_shape": list(preprocessor.input_shape),
        "dim": model.dim,
        "depth": model.depth,
        "heads": model.heads,
        "patch_size": model.patch_size,
        "activation": model.activation,
        "dropout": model.dropout,
    }


def _start_run(out: str, overwrite: bool, resume: bool, config: Any, info: Dist) -> Path:
    """Create the run folder (rank 0), write the resolved config, refuse a changed config on resume."""
    run_dir = Path(out)

    def work() -> None:
        prepare_run_dir(run_dir, overwrite, resume)
        path = run_dir / "config.json"
        current = {k: v for k, v in to_dict(config).items() if k not in ("resume", "overwrite")}
        if resume and (run_dir / MANIFEST).is_file() and not (run_dir / "resume").is_dir():
            raise BundleError(f"{run_dir} holds a finished run; there is nothing to resume (use another --out)")
        if resume and path.is_file():
            before, now = flatten(json.loads(path.read_text())), flatten(current)
            changed = sorted(
                k for k in set(before) | set(now) if before.get(k) != now.get(k) and k not in FREE_ON_RESUME
            )
            if changed:
                raise ConfigError(
                    f"--resume with a changed config ({', '.join(changed)}) in {run_dir}; resume with the "
                    f"options of the original run (stored in {path}) or start a new run with another --out"
                )
        path.write_text(json.dumps(current, indent=2, sort_keys=True))

    on_rank0(work, info)
    return run_dir


def _finish_run(run_dir: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor], info: Dist) -> None:
    def work() -> None:
        (run_dir / PREPROCESSOR_FILE).unlink(missing_ok=True)  # the bundle's ptft.json holds it now
        write_bundle(run_dir, {**meta, "versions": _versions()}, tensors)
        for folder in (run_dir / "resume", run_dir / "self-train" / "resume"):
            shutil.rmtree(folder, ignore_errors=True)  # finished: nothing left to resume

    on_rank0(work, info)


def _interrupted(command: str, run_dir: Path, steps: int, total: int) -> RunInterrupted:
    return RunInterrupted(
        f"stopped at step {steps} of {total}; a checkpoint is saved under {run_dir}. "
        f"Continue with the same options plus --resume: ptft {command} --out {run_dir} ... --resume"
    )


class Pretrainer:
    """Self-supervised pre-training of an encoder on unlabeled images; writes a bundle to `out`."""

    def __init__(self, config: PretrainConfig | None = None, **overrides: Any) -> None:
        self.config = build(PretrainConfig, overrides, base=config)
        if self.config.objective != "auto":
            OBJECTIVES.get(self.config.objective)  # fail early on an unknown name

    def fit(self, data: DataLike | None = None, stop_at: int = 0) -> Pretrainer:
        cfg = self.config
        info = init_distributed()
        torch.manual_seed(cfg.loop.seed + 1000 * info.rank)  # distinct augmentation streams per rank
        preprocessor, x, lengths, about, corpus = self._inputs(data, info)
        spec = encoder_spec(cfg.model, preprocessor)
        encoder = build_encoder(spec)
        objective_name = (
            cfg.objective if cfg.objective != "auto" else ("mlm" if encoder.modality == "text" else "simclr")
        )
        options: dict[str, Any] = {"temperature": cfg.temperature, "patch_size": cfg.model.patch_size}
        if cfg.mask_ratio:
            options["mask_ratio"] = cfg.mask_ratio
        if isinstance(preprocessor, TextPipeline):
            options.update(mask_id=preprocessor.tokenizer.mask_id_, special_ids=preprocessor.special_ids)
        else:
            options["input_shape"] = preprocessor.input_shape
        objective = build_objective(objective_name, encoder, **options)
        loop = _resolved_loop(cfg.loop, objective, x, None, lengths, cfg.out, cfg.resume, info)
        if cfg.dry_run:
            stream = BatchStream(x, None, loop.batch_size, loop.seed, info.rank, info.world, lengths, loop.workers)
            self.estimate_ = estimate(objective, stream, loop, info)
            return self
        run_dir = _start_run(cfg.out, cfg.overwrite, cfg.resume, cfg, info)  # inputs are valid: now touch --out
        _keep_for_resume(run_dir, PREPROCESSOR_FILE, preprocessor.state_dict(), info)
        if not cfg.loop.batch_size:
            _keep_for_resume(run_dir, AUTO_BATCH_FILE, {"batch_size": loop.batch_size}, info)
        stream = BatchStream(x, None, loop.batch_size, loop.seed, info.rank, info.world, lengths, loop.workers)
        result = train(objective, stream, loop, run_dir, info, resume=cfg.resume, stop_at=stop_at, desc="pretrain")
        if result.stopped == "interrupted":
            raise _interrupted("pretrain", run_dir, result.steps, result.total_steps)
        items = result.steps * stream.global_batch * loop.accumulate
        metrics: dict[str, Any] = {
            "final_loss": result.last_loss,
            "steps": result.steps,
            "seconds": round(result.seconds, 2),
            "stopped": result.stopped,
            "items_seen": items,
        }
        if "tokens" in corpus:
            tokens_per_text = corpus["tokens"] / max(len(x), 1)
            metrics["tokens_per_second"] = round(items * tokens_per_text / max(result.seconds, 1e-9))
        meta = {
            "kind": "pretrain",
            "modality": encoder.modality,
            "config": to_dict(cfg),
            "preprocessor": preprocessor.state_dict(),
            "encoder": spec,
            "objective": objective_name,
            "label_names": [],
            "data": {**about, **corpus},
            "metrics": metrics,
        }
        _finish_run(run_dir, meta, {f"encoder.{k}": v for k, v in encoder.state_dict().items()}, info)
        self.run_dir, self.result, self.corpus_ = run_dir, result, corpus
        self.data_: dict[str, Any] = {**about, **corpus}  # the bundle's data report
        return self

    def _inputs(
        self, data: DataLike | None, info: Dist
    ) -> tuple[Preprocessor, torch.Tensor | TokenShards | MappedImages, torch.Tensor | None, dict, dict]:
        """-> (preprocessing, model inputs, token counts, what the data is, corpus report).

        A folder made by `ptft data prepare` is read row by row with the tokenizer it was made with; a uint8
        `.npy` of images is memory-mapped (normalised batch by batch); texts are cleaned, de-duplicated and
        tokenized here; other images normalised in memory."""
        cfg = self.config
        spec = data if data is not None else cfg.data
        if isinstance(spec, str) and (Path(spec) / SHARD_INDEX).is_file():
            shards = TokenShards(spec)
            index = (Path(spec) / SHARD_INDEX).read_bytes()
            about = {"source": spec, "n": len(shards), "fingerprint": hashlib.sha256(index).hexdigest()}
            about.update(skip_report(shards))  # bad records `ptft data prepare --skip-bad N` skipped
            return (
                shards.pipeline,
                shards,
                shards.lengths,
                about,
                {"tokens": int(shards.lengths.sum()), "prepared": True},
            )
        if isinstance(spec, str) and spec.endswith(".npy"):
            images = MappedImages(spec)
            normalizer = ImageNormalizer.from_state(json_from_rank0(images.fit(cfg.loop.seed).state_dict(), info))
            images.normalizer = normalizer  # the same statistics on every rank
            about = {"source": spec, "n": len(images), "fingerprint": f"npy:{Path(spec).stat().st_size}"}
            return normalizer, images, None, about, {"memory_mapped": True}
        raw = _read(spec, cfg.data_dir, cfg.text, labels=False)
        skips = skip_report(raw)  # before the corpus steps replace `raw`
        corpus: dict[str, Any] = {}
        cleaned = isinstance(raw, TextSet)  # prepare_corpus applies the pipeline's cutting and cleaning
        if isinstance(raw, TextSet):
            held_out = _read(cfg.text.holdout, cfg.data_dir, cfg.text, labels=False) if cfg.text.holdout else None
            held = held_out.texts if isinstance(held_out, TextSet) else None
            limit = cfg.text.max_length * CHARS_PER_TOKEN_BOUND
            texts, corpus = prepare_corpus(raw.texts, cfg.text.clean, cfg.text.dedup, held, raw.source, limit)
            raw = TextSet(texts, source=raw.source)
        preprocessor = _fitted_once(raw, cfg.text, cfg.out, cfg.resume, info, cleaned)
        x = _tensor(preprocessor, raw, cleaned)
        lengths = _lengths(x, preprocessor)
        if isinstance(preprocessor, TextPipeline) and lengths is not None:
            corpus.update(tokens=int(lengths.sum()), truncated=preprocessor.truncated_count)
        about = {"source": raw.source, "n": len(raw), "fingerprint": raw.fingerprint(), **skips}
        return preprocessor, x, lengths, about, corpus


class Model:
    """A loaded bundle: its preprocessing, encoder, optional head and label names."""

    def __init__(
        self,
        meta: dict[str, Any],
        preprocessor: Preprocessor,
        encoder: Encoder,
        head: ClassificationHead | RegressionHead | None,
        path: Path,
    ) -> None:
        self.meta, self.path, self.preprocessor = meta, path, preprocessor
        self.encoder, self.head = encoder, head
        self.label_names: list[str] = list(meta.get("label_names", []))
        stored = meta.get("config", {}).get("text", {})
        # Text files are read with the columns the model was trained with, unless the caller sets others.
        self.text = TextConfig(**{k: stored[k] for k in ("text_column", "label_column") if k in stored})
        self.module: torch.nn.Module = (encoder if head is None else Classifier(encoder, head)).eval().cpu()

    @classmethod
    def from_bundle(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor], path: Path) -> Model:
        encoder = build_encoder(meta["encoder"])
        head: ClassificationHead | RegressionHead | None = None
        if meta.get("head", {}).get("type") == "regression":
            head = RegressionHead(encoder.dim)  # mean and std come with the weights
        elif meta.get("head"):
            head = ClassificationHead(encoder.dim, int(meta["head"]["num_classes"]))
        model = cls(meta, preprocessor_from_state(meta["preprocessor"], expect=None), encoder, head, path)
        prefix = "encoder." if head is None else ""
        try:
            model.module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
        except RuntimeError as exc:
            raise BundleError(f"{path}: weights do not match the stored model spec: {exc}") from None
        return model

    def read(self, data: DataLike | np.ndarray | list[str], labels: bool = False) -> Loaded:
        """Any accepted input as an ImageSet/TextSet: a spec, a set, uint8 images or a list of strings."""
        if isinstance(data, np.ndarray):
            return ImageSet(data)
        if isinstance(data, list):
            return TextSet(list(data), source="texts")
        return _read(data, "", self.text, labels)

    def transform(self, data: DataLike | np.ndarray | list[str]) -> torch.Tensor:
        return _tensor(self.preprocessor, self.read(data))

    @torch.no_grad()
    def embed(self, data: DataLike | np.ndarray | list[str]) -> np.ndarray:
        x = self.transform(data)
        chunks = []
        for i in range(0, len(x), 512):
            batch = x[i : i + 512]
            chunks.append(mean_pool(self.encoder(batch), self.encoder.padding(batch)))
        return torch.cat(chunks).numpy()

    @property
    def is_regression(self) -> bool:
        return isinstance(self.head, RegressionHead)

    def predict_proba(self, data: DataLike | np.ndarray | list[str]) -> np.ndarray:
        if self.head is None:
            raise BundleError(f"{self.path} is a pre-trained encoder without a head; fine-tune it first")
        if self.is_regression:
            raise BundleError(f"{self.path} is a regression model: it predicts values, not class probabilities")
        return predict_proba(self.module, self.transform(data)).numpy()

    def predict_values(self, data: DataLike | np.ndarray | list[str]) -> np.ndarray:
        """Regression predictions in the targets' units."""
        if not self.is_regression:
            raise BundleError(f"{self.path} is not a regression model; use predict or predict_proba")
        return predict_values(self.module, self.transform(data))

    def predict(self, data: DataLike | np.ndarray | list[str]) -> list[str] | list[float]:
        """Class names, or values for a regression model."""
        if self.is_regression:
            return [float(v) for v in self.predict_values(data)]
        return [self.label_names[i] for i in self.predict_proba(data).argmax(1)]

    def evaluate(self, data: DataLike) -> dict[str, Any]:
        if self.head is None:
            raise BundleError(f"{self.path} is a pre-trained encoder without a head; fine-tune it first")
        loaded = self.read(data, labels=True)
        if self.is_regression:
            targets = numeric_targets(loaded)
            if np.isnan(targets).any():
                raise DataError(f"{loaded.source}: {int(np.isnan(targets).sum())} examples have no label")
            return regression_report(targets, self.predict_values(loaded))
        y_true = map_labels(loaded, self.label_names)
        y_pred = self.predict_proba(loaded).argmax(1)
        return classification_report(y_true, y_pred, self.label_names)


def map_labels(data: Loaded, label_names: list[str]) -> np.ndarray:
    """The data's labels as indices into the model's `label_names`, matched by name."""
    if data.labels is None or (data.labels < 0).all():
        raise DataError(f"{data.source}: has no labels to evaluate against")
    index = {name: i for i, name in enumerate(label_names)}
    lookup = np.full(max(len(data.label_names), 1), -1, dtype=np.int64)
    for k, name in enumerate(data.label_names):
        if name not in index:
            close = difflib.get_close_matches(name, label_names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            with_it = np.flatnonzero(data.labels == k)
            first = f"; {len(with_it)} example(s) have it, first {data.ids[int(with_it[0])]}" if len(with_it) else ""
            raise DataError(
                f"{data.source}: label '{name}' is not among the {len(label_names)} labels the model was "
                f"trained on{hint}: {', '.join(label_names)}{first}; relabel those examples or leave them out"
            )
        lookup[k] = index[name]
    labelled = data.labels >= 0
    if not labelled.all():
        first = data.ids[int(np.flatnonzero(~labelled)[0])]
        raise DataError(
            f"{data.source}: {int((~labelled).sum())} examples have no label (first: {first}); evaluate needs labels"
        )
    return lookup[data.labels]


def read_as(
    model: Model,
    spec: str,
    data_dir: str = "",
    text_column: str = "",
    label_column: str | None = "",
    skip_bad: int = 0,
) -> Loaded:
    """Read `spec` for `model`; text columns left '' are those the model was trained with, and
    `label_column=None` reads no labels (prediction). `skip_bad`: this read's own budget of bad records to
    skip (not the one the model was trained with)."""
    text = dataclasses.replace(model.text, skip_bad=skip_bad)
    if text_column:
        text = dataclasses.replace(text, text_column=text_column)
    if label_column:
        text = dataclasses.replace(text, label_column=label_column)
    return _read(spec, data_dir, text, labels=label_column is not None)


def load(path: str | Path) -> Model:
    """Load a ptft run folder (checks its MANIFEST; never unpickles)."""
    meta, tensors = read_bundle(path)
    try:
        return Model.from_bundle(meta, tensors, Path(path))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        # The hashes matched, so the file is what was written - but not what this ptft writes.
        raise BundleError(f"{Path(path) / 'ptft.json'} does not describe a model ptft can build: {exc!r}") from None


class FineTuner:
    """Fine-tune a pre-trained bundle (or a fresh encoder: the scratch baseline) on a label budget."""

    def __init__(self, config: FinetuneConfig | None = None, **overrides: Any) -> None:
        self.config = build(FinetuneConfig, overrides, base=config)
        STRATEGIES.get(self.config.strategy)

    def _start(self, data: Loaded) -> tuple[Preprocessor, dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
        """The preprocessing, encoder spec and weights to start from: a ptft bundle, a Hugging Face folder
        (`hf:PATH`), or nothing (scratch: a new preprocessing fitted on this data, random weights)."""
        cfg = self.config
        modality = "text" if isinstance(data, TextSet) else "image"
        if not cfg.pretrained:
            preprocessor = _fitted_once(data, cfg.text, cfg.out, cfg.resume, self.info)
            return preprocessor, encoder_spec(cfg.model, preprocessor), {}, {}
        if cfg.pretrained.startswith("hf:"):
            if modality != "text":
                raise ConfigError(f"--pretrained {cfg.pretrained} is a text encoder, but {data.source} holds images")
            from ptft.models.hf import load_hf_folder

            imported = load_hf_folder(cfg.pretrained[3:], cfg.text.max_length)
            tensors = {f"encoder.{k}": v for k, v in imported.tensors.items()}
            origin: dict[str, Any] = {"path": cfg.pretrained, "kind": "huggingface", "source": imported.source}
            # No cleaning steps: the imported tokenizer normalises as the model was trained to expect.
            return TextPipeline(imported.tokenizer, []), imported.spec, tensors, origin
        meta, tensors = read_bundle(cfg.pretrained)
        origin = {"path": str(cfg.pretrained), "kind": meta.get("kind"), "data": meta.get("data")}
        preprocessor = preprocessor_from_state(meta["preprocessor"], expect=None)
        if preprocessor.kind != modality:
            raise BundleError(
                f"{cfg.pretrained} was pre-trained on {preprocessor.kind}, but {data.source} holds {modality}; "
                f"pre-train on {modality} data or fine-tune from scratch"
            )
        return preprocessor, meta["encoder"], tensors, origin

    def fit(self, data: DataLike | None = None, stop_at: int = 0) -> FineTuner:
        cfg = self.config
        info = self.info = init_distributed()
        torch.manual_seed(cfg.loop.seed + 1000 * info.rank)
        loaded = _read(data if data is not None else cfg.data, cfg.data_dir, cfg.text)
        if not loaded.has_labels:
            raise DataError(f"{loaded.source}: no labels found; fine-tuning needs labelled examples")
        assert loaded.labels is not None
        if cfg.pretrained and Path(cfg.out).resolve() == Path(cfg.pretrained).resolve():
            raise ConfigError(f"--out {cfg.out} is the pre-trained bundle itself; choose another --out")
        if isinstance(loaded, TextSet) and cfg.strategy == "fixmatch":
            raise ConfigError("strategy 'fixmatch' needs image augmentations; for text use full, linear or self-train")
        test = _read(cfg.test, cfg.data_dir, cfg.text) if cfg.test else None
        regression = cfg.task == "regression"
        targets = numeric_targets(loaded) if regression else None  # before touching --out: bad values fail here
        preprocessor, spec, tensors, origin = self._start(loaded)  # read every input before touching --out
        n_val = cfg.val_per_class or cfg.labels_per_class or 10
        if regression:
            split = random_budget(loaded.labels >= 0, cfg.labels_per_class, n_val, cfg.loop.seed, loaded.source)
        else:
            split = label_budget(loaded.labels, cfg.labels_per_class, n_val, cfg.loop.seed, loaded.source)
        pool, leaks = split.pool, 0
        if isinstance(loaded, TextSet) and len(pool):
            pool, leaks = _without_leakage(loaded, split.pool, np.concatenate([split.train, split.val]), test)
        run_dir = _start_run(cfg.out, cfg.overwrite, cfg.resume, cfg, info)
        _keep_for_resume(run_dir, PREPROCESSOR_FILE, preprocessor.state_dict(), info)
        x = _tensor(preprocessor, loaded)
        y = torch.from_numpy(loaded.labels if targets is None else targets)
        tensors_in = LabelledTensors(x[split.train], y[split.train], x[split.val], y[split.val], x[pool])
        encoder = build_encoder(spec)
        head: ClassificationHead | RegressionHead
        if targets is not None:
            train_targets = targets[split.train]
            head = RegressionHead(encoder.dim, float(train_targets.mean()), float(train_targets.std() or 1.0))
            head_meta: dict[str, Any] = {"type": "regression"}
        else:
            head = ClassificationHead(encoder.dim, len(loaded.label_names))
            head_meta = {"type": "classification", "num_classes": len(loaded.label_names)}
        model = Classifier(encoder, head)
        if tensors:
            _load_encoder_strictly(model, tensors, cfg.pretrained)
        run_cfg = cfg
        if not cfg.loop.batch_size:  # --batch-size auto: probe with the fine-tuning loss on the training inputs
            probe = SupervisedRegression(model) if regression else SupervisedClassification(model, False)
            x_train = tensors_in.x_train
            lengths = None if x_train.is_floating_point() else token_counts(model, x_train)
            loop = _resolved_loop(cfg.loop, probe, x_train, tensors_in.y_train, lengths, cfg.out, cfg.resume, info)
            _keep_for_resume(run_dir, AUTO_BATCH_FILE, {"batch_size": loop.batch_size}, info)
            run_cfg = dataclasses.replace(cfg, loop=loop)
        try:
            summary = finetune(model, tensors_in, run_cfg, run_dir, info, cfg.resume, stop_at)
        except Interrupted as stop:
            raise _interrupted("finetune", run_dir, stop.result.steps, stop.result.total_steps) from None
        metrics: dict[str, Any] = {**summary, "train_labels": len(split.train), "val_labels": len(split.val)}
        if isinstance(loaded, TextSet):
            metrics.update(pool_leakage_removed=leaks, truncated=preprocessor_truncated(preprocessor))
        label_names = [] if regression else loaded.label_names
        self.model_ = Model(
            {"label_names": label_names, "config": to_dict(cfg), "head": head_meta},
            preprocessor,
            model.encoder,
            model.head,
            run_dir,
        )
        if test is not None:
            metrics["test"] = self.model_.evaluate(test)
        data_report = {
            "source": loaded.source, "n": len(loaded), "fingerprint": loaded.fingerprint(), **skip_report(loaded)
        }  # fmt: skip
        if test is not None and test.skipped:
            data_report["test"] = {"source": test.source, "n": len(test), **skip_report(test)}
        meta = {
            "kind": "finetune",
            "modality": encoder.modality,
            "config": to_dict(cfg),
            "preprocessor": preprocessor.state_dict(),
            "encoder": spec,
            "head": head_meta,
            "label_names": label_names,
            "pretrained_from": origin or None,
            "data": data_report,
            "metrics": metrics,
        }
        _finish_run(run_dir, meta, model.state_dict(), info)
        self.model_.meta = meta
        self.metrics_, self.run_dir = metrics, run_dir
        return self

    def _fitted(self) -> Model:
        if not hasattr(self, "model_"):
            raise RuntimeError("FineTuner is not fitted: call fit() first")
        return self.model_

    def predict(self, data: DataLike | np.ndarray) -> list[str] | list[float]:
        return self._fitted().predict(data)

    def predict_proba(self, data: DataLike | np.ndarray) -> np.ndarray:
        return self._fitted().predict_proba(data)

    def evaluate(self, data: DataLike) -> dict[str, Any]:
        return self._fitted().evaluate(data)


def numeric_targets(data: Loaded) -> np.ndarray:
    """Regression targets (float32, NaN where unlabelled) from the label column's values."""
    assert data.labels is not None
    values = np.full(len(data.label_names) + 1, np.nan, dtype=np.float32)  # index -1 (unlabelled) -> NaN
    for k, name in enumerate(data.label_names):
        try:
            values[k] = float(name)
        except ValueError:
            first = data.ids[int(np.flatnonzero(data.labels == k)[0])]
            raise DataError(
                f"{first}: label {name!r} is not a number; regression needs numeric labels "
                "(or use --task classification)"
            ) from None
        if not np.isfinite(values[k]):
            first = data.ids[int(np.flatnonzero(data.labels == k)[0])]
            raise DataError(f"{first}: label {name!r} is not a finite number; regression needs finite targets")
    return values[data.labels]


def preprocessor_truncated(preprocessor: Preprocessor) -> int:
    return preprocessor.truncated_count if isinstance(preprocessor, TextPipeline) else 0


def _without_leakage(
    data: TextSet, pool: np.ndarray, labelled: np.ndarray, test: Loaded | None
) -> tuple[np.ndarray, int]:
    """Pool indices minus those whose text duplicates a train/validation/test text (exact, normalised)."""
    held = [data.texts[i] for i in labelled.tolist()] + (test.texts if isinstance(test, TextSet) else [])
    _, report = leakage((data.texts[i] for i in pool.tolist()), held, near=False)
    leaked = np.array(sorted(report.exact), dtype=np.int64)
    return np.delete(pool, leaked), len(leaked)


def _load_encoder_strictly(model: Classifier, tensors: dict[str, torch.Tensor], source: str) -> None:
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
