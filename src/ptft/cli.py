"""Command line: `ptft pretrain | finetune | evaluate | predict | demo`, thin over `ptft.api`.

Options come from the typed config of each command (`ptft.config`); `--config FILE.toml` supplies
them from a file, and flags given on the command line win over it.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import inspect
import json
import os
import platform
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptft import config as cfgmod
from ptft.config import (
    OBJECTIVE_OPTIONS,
    CleanCommandConfig,
    CompareConfig,
    DemoConfig,
    EvaluateConfig,
    FinetuneConfig,
    InspectConfig,
    PredictConfig,
    PrepareConfig,
    PretrainConfig,
    ReportConfig,
)
from ptft.errors import PtftError
from ptft.notes import shown_once
from ptft.version import __version__

LABEL_COLUMN = "label"  # what `data inspect` reads as labels when the file has such a column

COMMANDS: dict[str, tuple[type, str]] = {
    "pretrain": (PretrainConfig, "self-supervised pre-training on unlabeled images or text; writes a bundle"),
    "finetune": (FinetuneConfig, "fine-tune a pre-trained bundle (or train from scratch) on a label budget"),
    "evaluate": (EvaluateConfig, "accuracy, macro-F1 and confusion matrix of a fine-tuned bundle"),
    "predict": (PredictConfig, "write a CSV of predictions and class probabilities"),
    "compare": (CompareConfig, "did pre-training help on this data? every method x label budget x seed, paired"),
    "report": (ReportConfig, "rebuild report.md and report.html of a ptft compare folder from its results.json"),
    "demo": (DemoConfig, "a built-in task (Fashion-MNIST or WordNet): pre-train, fine-tune on few labels, compare"),
    "data inspect": (InspectConfig, "a text corpus's counts, duplicates and cleaning; a table's columns"),
    "data clean": (CleanCommandConfig, "write a cleaned, de-duplicated copy of a text corpus"),
    "data prepare": (PrepareConfig, "tokenize a text corpus once into token shards on disk for pre-training"),
}
POSITIONAL = {"report": "folder", "evaluate": "run", "predict": "run"}
POSITIONAL |= {"data inspect": "data", "data clean": "data", "data prepare": "data"}
ALIASES = {"pretrained": ["--from"]}  # `ptft finetune --from hf:PATH`


def _comments(cls: type) -> dict[str, str]:
    """Field comments in ptft/config.py are the help texts (one source of truth)."""
    found: dict[str, str] = {}
    for match in re.finditer(r"^\s+(\w+): [^#\n]*#\s*(.+)$", inspect.getsource(cls), re.M):
        found.setdefault(match.group(1), match.group(2).strip())
    return found


def _nested(cls: type) -> list[type]:
    hints = cfgmod._hints(cls)
    return [hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])]


def version_line() -> str:
    """`ptft X (torch Y, Python Z)`, read from the installed packages (no torch import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = "not installed"
    return f"ptft {__version__} (torch {torch_version}, Python {platform.python_version()})"


def _default_text(key: str, default: Any, cls: type) -> str:
    """The default shown in --help; an objective option's is each objective's own (`mae 0.6, mlm 0.15`)."""
    if cls is not PretrainConfig or key not in OBJECTIVE_OPTIONS:
        return repr(default)
    from ptft.objectives.registry import OBJECTIVES, option_defaults

    own = [f"{name} {option_defaults(name)[key]!r}" for name in OBJECTIVES.names() if key in option_defaults(name)]
    return ", ".join(own)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ptft", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=version_line())
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data = subs.add_parser("data", help="inspect or clean a text corpus", description="inspect or clean a text corpus")
    data_subs = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    for name, (cls, help_text) in COMMANDS.items():
        group, _, action = name.rpartition(" ")
        where = data_subs if group == "data" else subs
        sub = where.add_parser(action, help=help_text, description=help_text)
        sub.add_argument("--config", metavar="FILE.toml", help="read options from a TOML file")
        comments = _comments(cls)
        for nested in _nested(cls):
            comments.update({k: v for k, v in _comments(nested).items() if k not in comments})
        for key, (_, tp, default) in cfgmod.flat_fields(cls).items():
            text = f"{comments.get(key, '')} (default: {_default_text(key, default, cls)})".strip()
            if POSITIONAL.get(name) == key:
                sub.add_argument(key, nargs="?", default=argparse.SUPPRESS, help=text)
                continue
            flag = "--" + key.replace("_", "-")
            flags = [flag, *ALIASES.get(key, [])]
            if tp is bool:
                sub.add_argument(*flags, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
            else:
                sub.add_argument(*flags, dest=key, metavar=key.upper(), default=argparse.SUPPRESS, help=text)
    return parser


def parse(argv: list[str]) -> tuple[str, Any]:
    args = vars(_parser().parse_args(argv))
    command = args.pop("command")
    if command == "data":
        command = f"data {args.pop('data_command')}"
    cls = COMMANDS[command][0]
    values: dict[str, Any] = cfgmod.read_toml(args.pop("config")) if args.get("config") else {}
    args.pop("config", None)
    values.update(args)
    return command, cfgmod.build(cls, values)


def _pretrain(cfg: PretrainConfig) -> None:
    from ptft.api import Pretrainer

    trainer = Pretrainer(cfg).fit()
    if cfg.dry_run:
        print(f"dry run ({cfg.objective}, {cfg.model.encoder}, batch {cfg.loop.batch_size}); nothing was written")
        print(trainer.estimate_.summary())
        return
    r = trainer.result
    print(
        f"pre-trained {r.steps} steps in {r.seconds / 60:.1f} min (final loss {r.last_loss:.4f}); "
        f"bundle: {trainer.run_dir}"
    )


def _finetune(cfg: FinetuneConfig) -> None:
    from ptft.api import FineTuner

    tuner = FineTuner(cfg).fit()
    m = tuner.metrics_
    if cfg.task == "regression":
        rmse = -(m["val_neg_rmse"] or 0)
        line = f"fine-tuned ({cfg.strategy}, regression) {m['steps']} steps; validation RMSE {rmse:.4g}"
        if "test" in m:
            line += f"; test RMSE {m['test']['rmse']:.4g}, Spearman {m['test']['spearman']:.3f}"
        print(f"{line}; bundle: {tuner.run_dir}")
        return
    line = f"fine-tuned ({cfg.strategy}) {m['steps']} steps; validation accuracy {100 * (m['val_accuracy'] or 0):.1f} %"
    if "test" in m:
        line += f"; test accuracy {100 * m['test']['accuracy']:.1f} %, macro-F1 {100 * m['test']['macro_f1']:.1f} %"
    print(f"{line}; bundle: {tuner.run_dir}")
    if "prior" in m:
        print(prior_line(m["prior"], tuner.model_.label_names))


def prior_line(prior: dict[str, Any], names: list[str]) -> str:
    """What --prior pool did, in a line: the classes it estimated commonest and rarest in the pool, beside their
    shares as the model trained, so the user can judge the estimate (it follows the model's own mistakes)."""
    pool, trained = prior["pool"], prior["trained"]
    common, rare = max(range(len(pool)), key=pool.__getitem__), min(range(len(pool)), key=pool.__getitem__)
    by = " (its teacher's estimate)" if prior.get("estimated_by") == "teacher" else ""
    if pool[common] - pool[rare] < 5e-4:  # equal shares to the printed digits: no commonest or rarest
        return f"moved to the pool's class shares{by}: all about {100 * pool[common]:.1f} %"
    return (f"moved to the pool's class shares{by}: commonest {names[common]} {100 * pool[common]:.1f} % "
            f"(trained at {100 * trained[common]:.1f} %), rarest {names[rare]} {100 * pool[rare]:.2f} % (trained "
            f"at {100 * trained[rare]:.1f} %); whether the move helps on your data: "
            "ptft compare --prior pool")  # fmt: skip


def _evaluate(cfg: EvaluateConfig) -> None:
    from ptft.api import load
    from ptft.data.types import note_skips, skip_report

    if not cfg.run:
        raise PtftError("evaluate needs the run folder: ptft evaluate RUN --data SPEC")
    model = load(cfg.run)
    data = _data(model, cfg.data, cfg.data_dir, cfg.text_column, cfg.label_column, cfg.skip_bad)
    report = model.evaluate(data)
    if data.skipped:
        report["data"] = {"source": cfg.data, **skip_report(data)}
    out = Path(cfg.out) if cfg.out else Path(cfg.run) / f"eval-{re.sub(r'[^A-Za-z0-9_.-]+', '_', cfg.data)}.json"
    out.write_text(json.dumps(report, indent=2))
    note_skips(report.get("data", {}), str(out))
    if model.is_regression:
        print(f"RMSE {report['rmse']:.4g}  MAE {report['mae']:.4g}  R² {report['r2']:.3f}  "
              f"Spearman {report['spearman']:.3f}  (n={report['n']})\nreport: {out}")  # fmt: skip
        return
    auc = f"  ROC-AUC {report['roc_auc']:.3f}" if "roc_auc" in report else ""
    scores = f"accuracy {100 * report['accuracy']:.2f} %  macro-F1 {100 * report['macro_f1']:.2f} %{auc}"
    print(f"{scores}  (n={report['n']})")
    names = report["labels"]
    width = max(len(n) for n in names)
    print("confusion matrix (rows = true, columns = predicted):")
    for name, row in zip(names, report["confusion_matrix"]):
        print(f"  {name:>{width}} " + " ".join(f"{v:5d}" for v in row))
    print(f"report: {out}")


def _data(
    model: Any, spec: str, data_dir: str, text_column: str, label_column: str | None, skip_bad: int, id_column: str = ""
) -> Any:
    """Read `spec` as the model's kind of data; columns default to those it was trained with."""
    from ptft.api import read_as

    return read_as(model, spec, data_dir, text_column, label_column, skip_bad, id_column)



def _predict(cfg: PredictConfig) -> None:
    from ptft.api import load

    if not cfg.run:
        raise PtftError("predict needs the run folder: ptft predict RUN --data SPEC --out FILE.csv")
    out = Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise PtftError(f"{out} exists; pass --overwrite to replace it or choose another --out")
    model = load(cfg.run)
    data = _data(model, cfg.data, cfg.data_dir, cfg.text_column, None, cfg.skip_bad, cfg.id_column)
    if data.skipped:  # no prediction for them: say so before the file is read as complete
        print(
            f"skipped {data.skipped} bad record(s) of {cfg.data} (--skip-bad), so they have no row in {out}; "
            f"first: {data.skipped_at[0]}"
        )
    if model.is_regression:
        values = model.predict_values(data)
        with open(out, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "prediction"])
            writer.writerows([ident, f"{value:.6g}"] for ident, value in zip(data.ids, values))
        print(f"wrote {len(values)} predictions to {out}")
        return
    proba = model.predict_proba(data)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "prediction", *(f"p_{n}" for n in model.label_names)])
        for ident, row in zip(data.ids, proba):
            writer.writerow([ident, model.label_names[int(row.argmax())], *(f"{p:.5f}" for p in row)])
    print(f"wrote {len(proba)} predictions to {out}")


def _compare(cfg: CompareConfig) -> None:
    from ptft.api import compare

    results = compare(cfg)
    if cfg.dry_run:
        return
    from ptft.evaluate.report import text_table

    print()
    print(text_table(results))
    print(f"report: {Path(cfg.out) / 'report.html'} (and report.md, results.json, cells.jsonl)")


def _report(cfg: ReportConfig) -> None:
    from ptft.evaluate.report import rebuild

    if not cfg.folder:
        raise PtftError("report needs the folder of a ptft compare: ptft report DIR")
    md, page = rebuild(cfg.folder)
    print(f"wrote {md} and {page}")


def _demo(cfg: DemoConfig) -> None:
    from ptft.demo import run_demo

    run_demo(cfg)


def _text_examples(cfg: InspectConfig | CleanCommandConfig) -> tuple[Any, Any]:
    """-> (the corpus's examples, streamed; the ReadStats that counts the bad lines skipped on the way)."""
    from ptft.data.text import ReadStats, columns, read_texts

    if not cfg.data:
        raise PtftError("give the corpus: ptft data inspect|clean PATH")
    stats = ReadStats()
    label_column = cfg.label_column or None
    if label_column is None and isinstance(cfg, InspectConfig) and LABEL_COLUMN in columns(cfg.data):
        label_column = LABEL_COLUMN  # a `label` column is read as labels unless another is named
    return read_texts(cfg.data, cfg.text_column, label_column, cfg.skip_bad, stats=stats), stats


def _data_inspect(cfg: InspectConfig) -> None:
    from ptft.config import DataConfig
    from ptft.data.inspect import format_inspection, inspect_texts
    from ptft.modalities import modality_for

    if cfg.data:
        options = DataConfig(text_column=cfg.text_column, label_column=cfg.label_column or LABEL_COLUMN,
                             skip_bad=cfg.skip_bad)  # fmt: skip
        report = modality_for(cfg.data, options).inspection(cfg.data, "", options)
        if report is not None:  # a kind of data with its own inspection (tables)
            print(report)
            return
    examples, stats = _text_examples(cfg)
    print(format_inspection(inspect_texts(examples, near=cfg.near, stats=stats)))


def _data_clean(cfg: CleanCommandConfig) -> None:
    from ptft.data.cleaning import CleanConfig
    from ptft.data.inspect import clean_texts_to_file

    if not cfg.out:
        raise PtftError("data clean needs --out FILE.jsonl (or .txt for texts without labels)")
    options = CleanConfig(min_chars=cfg.min_chars, max_chars=cfg.max_chars, garble_filter=cfg.garble_filter)
    examples, stats = _text_examples(cfg)
    report = clean_texts_to_file(examples, Path(cfg.out), options, cfg.dedup, cfg.overwrite, stats=stats)
    removed = ", ".join(f"{k} {v}" for k, v in report["removed"].items() if v) or "nothing"
    print(
        f"kept {report['kept']} of {report['read']} texts (removed: {removed}) in {report['seconds']:.1f} s, "
        f"{report['lines_per_second']:,.0f} lines/s; wrote {report['output']}"
    )
    if report["skipped"]:
        print(f"skipped {report['skipped']} bad line(s) (--skip-bad), first: {report['skipped_at'][0]}")


def _data_prepare(cfg: PrepareConfig) -> None:
    from tqdm import tqdm

    from ptft.preprocess.prepare import prepare_folder

    if not cfg.data or not cfg.out:
        raise PtftError("data prepare needs the corpus and --out FOLDER: ptft data prepare corpus.txt --out shards/")
    with tqdm(desc="prepare", unit=" texts") as bar:
        report, stats = prepare_folder(cfg, progress=lambda n: bar.update(n - bar.n))
    print(
        f"prepared {report.texts:,} texts, {report.tokens:,} tokens in {report.shards} shard(s), "
        f"{report.mb_per_second:.1f} MB/s; pre-train with: ptft pretrain --data {cfg.out}"
    )
    if stats.skipped:
        print(f"skipped {stats.skipped} bad line(s) (--skip-bad), first: {stats.skipped_at[0]}")


RUNNERS: dict[str, Callable[[Any], None]] = {
    "data prepare": _data_prepare,
    "data inspect": _data_inspect,
    "data clean": _data_clean,
    "pretrain": _pretrain,
    "finetune": _finetune,
    "evaluate": _evaluate,
    "predict": _predict,
    "compare": _compare,
    "report": _report,
    "demo": _demo,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        command, cfg = parse(argv)
        with shown_once():  # a note is one line in ptft's words, once per command
            RUNNERS[command](cfg)
    except PtftError as exc:
        print(f"ptft: error: {exc}", file=sys.stderr)
        return 3 if type(exc).__name__ == "RunInterrupted" else 2
    except KeyboardInterrupt:
        print("ptft: interrupted", file=sys.stderr)
        return 130
    finally:
        from ptft.train.distributed import close_distributed

        close_distributed()
    return 0


def run() -> None:
    """Console entry point (`ptft`, `python -m ptft`)."""
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun a rank could abort in C++ teardown at interpreter exit ("terminate called
        # without an active exception", seen ~1 run in 7 with gloo even after destroy_process_group),
        # turning a finished run into a failed one. The work is done and flushed: leave directly.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
