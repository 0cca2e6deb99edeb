"""Pre-training objectives per CPU-minute, read by the k-NN probe (`--probe`): for a task, each objective
pre-trains the demo's encoder for the same wall-clock minutes, and the probe's accuracy (20 nearest
neighbours, cosine, on 2,000 labelled training examples: half memory, half queries) is read at every
evaluation. Nothing is fine-tuned, so a recipe is judged in minutes rather than hours; the winner still has
to win in `bench/compare.py`. Writes bench/results/objectives_<task>.json: one row per objective with its
steps, minutes and the probe's readings (`curve`: minutes, step, knn_accuracy).

    .venv/bin/python bench/objectives.py --task wordnet-supersenses --minutes 3   # mlm, electra, simcse
    .venv/bin/python bench/objectives.py --task fashion-mnist --minutes 3         # simclr, byol, mae
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from _common import save_json

from ptft.api import Pretrainer
from ptft.demo import tasks
from ptft.modalities import read_data

HERE = Path(__file__).resolve().parent
TEXT = ["mlm", "electra", "simcse"]
OBJECTIVES = {"fashion-mnist": ["simclr", "byol", "mae"], "wordnet-supersenses": TEXT, "wordnet-verb-supersenses": TEXT}


def curve(run: Path) -> list[dict[str, float]]:
    lines = [json.loads(x) for x in (run / "logs" / "metrics.jsonl").read_text().splitlines() if x.strip()]
    elapsed = {x["step"]: x["elapsed_s"] for x in lines if "elapsed_s" in x}
    points = []
    for x in lines:
        if "val_knn_accuracy" in x:
            seconds = max((s for step, s in elapsed.items() if step <= x["step"]), default=0.0)
            points.append({"minutes": round(seconds / 60, 2), "step": x["step"], "knn_accuracy": x["val_knn_accuracy"]})
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="wordnet-supersenses", choices=list(OBJECTIVES))
    parser.add_argument("--objectives", nargs="+", default=None, help="default: the task's (see OBJECTIVES)")
    parser.add_argument("--minutes", type=float, default=3.0, help="pre-training minutes per objective")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between probe readings")
    parser.add_argument("--out", default=str(HERE / "runs" / "objectives"))
    args = parser.parse_args()
    task = tasks()[args.task]
    data = read_data(task.compare.data)
    rows = []
    for objective in args.objectives or OBJECTIVES[args.task]:
        loop = replace(task.pretrain.loop, max_minutes=args.minutes, eval_every=args.eval_every, progress=False)
        options = {"mask_ratio": None} if objective != task.pretrain.objective else {}
        cfg = replace(task.pretrain, objective=objective, out=f"{args.out}/{args.task}-{objective}", overwrite=True,
                      loop=loop, **options)  # fmt: skip
        trainer = Pretrainer(cfg).fit(data)
        points = curve(trainer.run_dir)
        rows.append({"task": args.task, "objective": objective, "steps": trainer.result.steps,
                     "minutes": round(trainer.result.seconds / 60, 2), "final_loss": trainer.result.last_loss,
                     "knn_accuracy": points[-1]["knn_accuracy"] if points else None, "curve": points})  # fmt: skip
        print(f"{objective:<8} {trainer.result.steps:>6} steps  {rows[-1]['minutes']:.1f} min  k-NN probe "
              f"{100 * (rows[-1]['knn_accuracy'] or 0):.1f} %")  # fmt: skip
    print(f"wrote {save_json(f'objectives_{args.task}.json', rows)}")


if __name__ == "__main__":
    main()
