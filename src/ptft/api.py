"""Python API in the manner of scikit-learn: `Pretrainer(...).fit()`, `FineTuner(...).fit().predict()`,
`load(path)`. The CLI is a thin layer over these.
"""

from __future__ import annotations

import difflib
import json
import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ptft
from ptft.config import FinetuneConfig, ModelConfig, PretrainConfig, build, flatten, to_dict
from ptft.data.images import read_images
from ptft.data.splits import label_budget
from ptft.data.types import ImageSet
from ptft.errors import BundleError, ConfigError, DataError, PtftError
from ptft.evaluate.metrics import classification_report
from ptft.finetune import Interrupted, LabelledTensors, finetune, predict_proba
from ptft.finetune.strategies import STRATEGIES
from ptft.models import ClassificationHead, Classifier, Encoder, build_encoder, mean_pool
from ptft.objectives import OBJECTIVES, build_objective
from ptft.preprocess import ImageNormalizer, Preprocessor, preprocessor_from_state
from ptft.train import Dist, init_distributed, train
from ptft.train.batches import BatchStream
from ptft.train.checkpoint import MANIFEST, prepare_run_dir, read_bundle, write_bundle
from ptft.train.distributed import on_rank0

DataLike = str | ImageSet


class RunInterrupted(PtftError):
    """A run stopped early (SIGTERM / pre-emption) after saving a resumable checkpoint."""


def _versions() -> dict[str, str]:
    return {"ptft": ptft.__version__, "torch": torch.__version__, "python": platform.python_version()}


def _images(data: DataLike, data_dir: str, size: tuple[int, int] | None = None) -> ImageSet:
    return data if isinstance(data, ImageSet) else read_images(data, data_dir=data_dir, size=size)


def encoder_spec(model: ModelConfig, input_shape: tuple[int, int, int]) -> dict[str, Any]:
    return {
        "name": model.encoder,
        "input_shape": list(input_shape),
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
            changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
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
        OBJECTIVES.get(self.config.objective)  # fail early on an unknown name

    def fit(self, data: DataLike | None = None, stop_at: int = 0) -> Pretrainer:
        cfg = self.config
        info = init_distributed()
        torch.manual_seed(cfg.loop.seed + 1000 * info.rank)  # distinct augmentation streams per rank
        images = _images(data if data is not None else cfg.data, cfg.data_dir)
        normalizer = ImageNormalizer().fit(images.images)
        x = normalizer.transform(images.images)
        spec = encoder_spec(cfg.model, normalizer.input_shape)
        encoder = build_encoder(spec)
        objective = build_objective(
            cfg.objective,
            encoder,
            input_shape=normalizer.input_shape,
            patch_size=cfg.model.patch_size,
            mask_ratio=cfg.mask_ratio,
            temperature=cfg.temperature,
        )
        run_dir = _start_run(cfg.out, cfg.overwrite, cfg.resume, cfg, info)  # inputs are valid: now touch --out
        stream = BatchStream(x, None, cfg.loop.batch_size, cfg.loop.seed, info.rank, info.world)
        result = train(objective, stream, cfg.loop, run_dir, info, resume=cfg.resume, stop_at=stop_at, desc="pretrain")
        if result.stopped == "interrupted":
            raise _interrupted("pretrain", run_dir, result.steps, result.total_steps)
        meta = {
            "kind": "pretrain",
            "modality": "image",
            "config": to_dict(cfg),
            "preprocessor": normalizer.state_dict(),
            "encoder": spec,
            "objective": cfg.objective,
            "label_names": [],
            "data": {"source": images.source, "n": len(images), "fingerprint": images.fingerprint()},
            "metrics": {
                "final_loss": result.last_loss,
                "steps": result.steps,
                "seconds": round(result.seconds, 2),
                "stopped": result.stopped,
                "items_seen": result.steps * stream.global_batch * cfg.loop.accumulate,
            },
        }
        _finish_run(run_dir, meta, {f"encoder.{k}": v for k, v in encoder.state_dict().items()}, info)
        self.run_dir, self.result = run_dir, result
        return self


class Model:
    """A loaded bundle: its preprocessing, encoder, optional head and label names."""

    def __init__(
        self,
        meta: dict[str, Any],
        preprocessor: Preprocessor,
        encoder: Encoder,
        head: ClassificationHead | None,
        path: Path,
    ) -> None:
        self.meta, self.path, self.preprocessor = meta, path, preprocessor
        self.encoder, self.head = encoder, head
        self.label_names: list[str] = list(meta.get("label_names", []))
        self.module: torch.nn.Module = (encoder if head is None else Classifier(encoder, head)).eval().cpu()

    @classmethod
    def from_bundle(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor], path: Path) -> Model:
        encoder = build_encoder(meta["encoder"])
        head = ClassificationHead(encoder.dim, int(meta["head"]["num_classes"])) if meta.get("head") else None
        model = cls(meta, preprocessor_from_state(meta["preprocessor"]), encoder, head, path)
        prefix = "encoder." if head is None else ""
        try:
            model.module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
        except RuntimeError as exc:
            raise BundleError(f"{path}: weights do not match the stored model spec: {exc}") from None
        return model

    def transform(self, data: DataLike | np.ndarray) -> torch.Tensor:
        if isinstance(data, np.ndarray):
            return self.preprocessor.transform(data)
        return self.preprocessor.transform(_images(data, "").images)

    @torch.no_grad()
    def embed(self, data: DataLike | np.ndarray) -> np.ndarray:
        x = self.transform(data)
        return torch.cat([mean_pool(self.encoder(x[i : i + 512])) for i in range(0, len(x), 512)]).numpy()

    def predict_proba(self, data: DataLike | np.ndarray) -> np.ndarray:
        if self.head is None:
            raise BundleError(f"{self.path} is a pre-trained encoder without a head; fine-tune it first")
        return predict_proba(self.module, self.transform(data)).numpy()

    def predict(self, data: DataLike | np.ndarray) -> list[str]:
        return [self.label_names[i] for i in self.predict_proba(data).argmax(1)]

    def evaluate(self, data: DataLike) -> dict[str, Any]:
        if self.head is None:
            raise BundleError(f"{self.path} is a pre-trained encoder without a head; fine-tune it first")
        images = _images(data, "")
        y_true = map_labels(images, self.label_names)
        y_pred = self.predict_proba(images).argmax(1)
        return classification_report(y_true, y_pred, self.label_names)


def map_labels(images: ImageSet, label_names: list[str]) -> np.ndarray:
    """The data's labels as indices into the model's `label_names`, matched by name."""
    if images.labels is None or (images.labels < 0).all():
        raise DataError(f"{images.source}: has no labels to evaluate against")
    index = {name: i for i, name in enumerate(label_names)}
    lookup = np.full(max(len(images.label_names), 1), -1, dtype=np.int64)
    for k, name in enumerate(images.label_names):
        if name not in index:
            close = difflib.get_close_matches(name, label_names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise DataError(
                f"{images.source}: label '{name}' is not among the {len(label_names)} labels the model was "
                f"trained on{hint}: {', '.join(label_names)}"
            )
        lookup[k] = index[name]
    labelled = images.labels >= 0
    if not labelled.all():
        raise DataError(f"{images.source}: {int((~labelled).sum())} images have no label; evaluate needs labels")
    return lookup[images.labels]


def load(path: str | Path) -> Model:
    """Load a ptft run folder (checks its MANIFEST; never unpickles)."""
    meta, tensors = read_bundle(path)
    return Model.from_bundle(meta, tensors, Path(path))


class FineTuner:
    """Fine-tune a pre-trained bundle (or a fresh encoder: the scratch baseline) on a label budget."""

    def __init__(self, config: FinetuneConfig | None = None, **overrides: Any) -> None:
        self.config = build(FinetuneConfig, overrides, base=config)
        STRATEGIES.get(self.config.strategy)

    def _start(self, images: ImageSet) -> tuple[Preprocessor, dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
        cfg = self.config
        if not cfg.pretrained:
            normalizer = ImageNormalizer().fit(images.images)
            return normalizer, encoder_spec(cfg.model, normalizer.input_shape), {}, {}
        meta, tensors = read_bundle(cfg.pretrained)
        origin = {"path": str(cfg.pretrained), "kind": meta.get("kind"), "data": meta.get("data")}
        return preprocessor_from_state(meta["preprocessor"]), meta["encoder"], tensors, origin

    def fit(self, data: DataLike | None = None, stop_at: int = 0) -> FineTuner:
        cfg = self.config
        info = init_distributed()
        torch.manual_seed(cfg.loop.seed + 1000 * info.rank)
        images = _images(data if data is not None else cfg.data, cfg.data_dir)
        if not images.has_labels:
            raise DataError(f"{images.source}: no labels found; fine-tuning needs labelled images")
        assert images.labels is not None
        if cfg.pretrained and Path(cfg.out).resolve() == Path(cfg.pretrained).resolve():
            raise ConfigError(f"--out {cfg.out} is the pre-trained bundle itself; choose another --out")
        preprocessor, spec, tensors, origin = self._start(images)  # read every input before touching --out
        split = label_budget(
            images.labels,
            cfg.labels_per_class,
            cfg.val_per_class or cfg.labels_per_class or 10,
            cfg.loop.seed,
            images.source,
        )
        run_dir = _start_run(cfg.out, cfg.overwrite, cfg.resume, cfg, info)
        x = preprocessor.transform(images.images)
        y = torch.from_numpy(images.labels)
        tensors_in = LabelledTensors(x[split.train], y[split.train], x[split.val], y[split.val], x[split.pool])
        encoder = build_encoder(spec)
        model = Classifier(encoder, ClassificationHead(encoder.dim, len(images.label_names)))
        if tensors:
            _load_encoder_strictly(model, tensors, cfg.pretrained)
        try:
            summary = finetune(model, tensors_in, cfg, run_dir, info, cfg.resume, stop_at)
        except Interrupted as stop:
            raise _interrupted("finetune", run_dir, stop.result.steps, stop.result.total_steps) from None
        metrics: dict[str, Any] = {**summary, "train_labels": len(split.train), "val_labels": len(split.val)}
        self.model_ = Model({"label_names": images.label_names}, preprocessor, model.encoder, model.head, run_dir)
        if cfg.test:
            metrics["test"] = self.model_.evaluate(read_images(cfg.test, data_dir=cfg.data_dir))
        meta = {
            "kind": "finetune",
            "modality": "image",
            "config": to_dict(cfg),
            "preprocessor": preprocessor.state_dict(),
            "encoder": spec,
            "head": {"type": "classification", "num_classes": len(images.label_names)},
            "label_names": images.label_names,
            "pretrained_from": origin or None,
            "data": {"source": images.source, "n": len(images), "fingerprint": images.fingerprint()},
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

    def predict(self, data: DataLike | np.ndarray) -> list[str]:
        return self._fitted().predict(data)

    def predict_proba(self, data: DataLike | np.ndarray) -> np.ndarray:
        return self._fitted().predict_proba(data)

    def evaluate(self, data: DataLike) -> dict[str, Any]:
        return self._fitted().evaluate(data)


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
