"""Table models end to end: the founding article's 3-input sigmoid network built from CLI options, the pure
losses of masked-cell modelling and SCARF against naive references, the baselines, and the CLI from
pre-training to prediction (and its errors) on a small generated table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

import ptft
import ptft.finetune.strategies
from ptft import cli
from ptft.data.batch import Batch
from ptft.evaluate.baselines import run_baseline
from ptft.objectives.masked_cells import hide_cells, masked_cell_loss
from ptft.objectives.scarf import corrupt
from tests.conftest import synthetic_table, write_table_csv

TINY = ["--no-progress", "--batch-size", "32", "--log-every", "5"]


def seed_table(path: Path, n: int = 200) -> Path:
    """Three numeric inputs and a binary label, as in the founding article's example."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = (x @ np.array([1.5, -1.0, 0.5]) > 0).astype(int)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "label"])
        writer.writerows([*(f"{v:.4f}" for v in row), ["no", "yes"][t]] for row, t in zip(x, y, strict=True))
    return path


def test_the_founding_articles_network_has_exactly_its_shapes(tmp_path: Path) -> None:
    data = seed_table(tmp_path / "seed.csv")
    out = tmp_path / "seed"
    argv = ["finetune", "--data", str(data), "--out", str(out), "--encoder", "mlp", "--depth", "1", "--dim", "2",
            "--activation", "sigmoid", "--labels-per-class", "40", "--lr", "0.05", *TINY]  # fmt: skip
    assert cli.main(argv) == 0
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        shapes = {k: tuple(f.get_tensor(k).shape) for k in f.keys()}  # noqa: SIM118
        weights = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    assert shapes == {"encoder.blocks.0.0.weight": (2, 3), "encoder.blocks.0.0.bias": (2,),
                      "head.fc.weight": (1, 2), "head.fc.bias": (1,)}  # fmt: skip
    model = ptft.load(out)
    assert isinstance(model.encoder.blocks[0][1], torch.nn.Sigmoid)
    rows = model.read(str(data), labels=False)
    x = model.transform(rows)["numeric"]
    hidden = torch.sigmoid(x @ weights["encoder.blocks.0.0.weight"].T + weights["encoder.blocks.0.0.bias"])
    p_yes = torch.sigmoid(hidden @ weights["head.fc.weight"].T + weights["head.fc.bias"])[:, 0]
    np.testing.assert_allclose(model.predict_proba(rows)[:, 1], p_yes.numpy(), atol=1e-5)  # a logistic output
    assert model.evaluate(str(data))["accuracy"] > 0.8 and "roc_auc" in model.evaluate(str(data))


def test_masked_cell_loss_matches_a_naive_reference() -> None:
    torch.manual_seed(0)
    pred, true = torch.randn(4, 3), torch.randn(4, 3)
    hidden_n = torch.rand(4, 3) < 0.5
    logits = [torch.randn(4, 5), torch.randn(4, 2)]
    cats = torch.tensor([[1, 0], [4, 1], [2, 1], [3, 0]])
    hidden_c = torch.tensor([[True, False], [True, True], [False, False], [False, True]])
    total, count = 0.0, 0
    for i in range(4):
        for j in range(3):
            if hidden_n[i, j]:
                total, count = total + (pred[i, j] - true[i, j]).item() ** 2, count + 1
        for j in range(2):
            if hidden_c[i, j]:
                total -= F.log_softmax(logits[j][i], 0)[cats[i, j]].item()
                count += 1
    got = masked_cell_loss(pred, true, hidden_n, logits, cats, hidden_c)
    assert got.item() == pytest.approx(total / count, rel=1e-5)
    nothing = torch.zeros(4, 3, dtype=torch.bool), torch.zeros(4, 2, dtype=torch.bool)
    assert masked_cell_loss(pred, true, nothing[0], logits, cats, nothing[1]).item() == 0.0


def table_batch(n: int = 64) -> Batch:
    data = synthetic_table(n)
    return ptft.preprocess.TableNormalizer().fit(data).batch(data)


def test_hidden_cells_are_present_cells_set_to_missing() -> None:
    batch = table_batch()
    hidden = hide_cells(batch, 0.5, torch.Generator().manual_seed(0))
    assert hidden.numeric.any() and hidden.categorical.any()
    assert not (hidden.numeric & (batch["missing"] > 0)).any()  # a gap in the data is never a target
    assert (hidden.batch["numeric"][hidden.numeric] == 0).all() and (hidden.batch["missing"][hidden.numeric] == 1).all()
    assert (hidden.batch["categorical"][hidden.categorical] == 0).all()
    kept = ~hidden.numeric
    torch.testing.assert_close(hidden.batch["numeric"][kept], batch["numeric"][kept])


def test_scarf_corruption_draws_each_cell_from_its_own_column() -> None:
    batch = table_batch()
    views = corrupt(batch, 0.6, torch.Generator().manual_seed(0))
    for name in ("numeric", "categorical"):
        changed = views[name] != batch[name]
        assert 0.3 < changed.float().mean() < 0.7  # about the rate (a swap may draw an equal value)
        for j in range(batch[name].shape[1]):
            assert set(views[name][:, j].tolist()) <= set(batch[name][:, j].tolist())  # the column's marginal
    unchanged = corrupt(batch, 0.0)
    torch.testing.assert_close(unchanged["numeric"], batch["numeric"])


@pytest.mark.parametrize("method", ["logreg", "lightgbm", "knn"])
def test_baselines_learn_the_synthetic_rule(method: str) -> None:
    train, test = synthetic_table(300, seed=1), synthetic_table(150, seed=2)
    result = run_baseline(method, train, test, per_class=20, seed=0)
    assert result["accuracy"] > 0.7, result  # chance is 1/3


def test_cli_pretrain_finetune_evaluate_predict_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_table_csv(synthetic_table(240), tmp_path / "rows.csv", id_column="key")
    pre, tuned = tmp_path / "pre", tmp_path / "tuned"
    common = ["--data", str(data), "--id-column", "key", "--dim", "16", "--depth", "2", *TINY]
    assert cli.main(["pretrain", *common, "--out", str(pre), "--objective", "scarf", "--steps", "20"]) == 0
    meta = json.loads((pre / "ptft.json").read_text())
    assert meta["modality"] == "table" and meta["objective"] == "scarf"
    assert meta["preprocessor"]["kind"] == "table" and "key" not in json.dumps(meta["preprocessor"])
    assert cli.main(["finetune", *common, "--pretrained", str(pre), "--out", str(tuned), "--steps", "60",
                     "--labels-per-class", "10", "--strategy", "lp-ft"]) == 0  # fmt: skip
    assert cli.main(["evaluate", str(tuned), "--data", str(data)]) == 0
    assert "accuracy" in capsys.readouterr().out
    predictions = tmp_path / "p.csv"
    assert cli.main(["predict", str(tuned), "--data", str(data), "--out", str(predictions)]) == 0
    rows = list(csv.DictReader(predictions.open()))
    assert rows[0]["id"] == "row0" and {"prediction", "p_high", "p_low", "p_mid"} <= set(rows[0])
    # A column the model reads, missing at prediction: an error that names it, no traceback.
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("key,size,colour\nr1,1.0,red\n")
    assert cli.main(["predict", str(tuned), "--data", str(lacking), "--out", str(tmp_path / "q.csv")]) == 2
    assert "lacks column(s) weight, noise, fresh that the model reads" in capsys.readouterr().err
    study = tmp_path / "study"
    assert cli.main(["compare", "--data", str(data), "--id-column", "key", "--pretrained", f"mine={pre}",
                     "--methods", "logreg,lightgbm,knn,scratch,full[mine]", "--labels-per-class", "8", "--seeds", "1",
                     "--steps", "30", "--out", str(study), "--select", "holdout"]) == 0  # fmt: skip
    results = json.loads((study / "results.json").read_text())
    assert {r["method"] for r in results["rows"]} == {"logreg", "lightgbm", "knn", "scratch", "full"}  # one start


def test_table_regression_reports_rmse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    path = tmp_path / "r.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["u", "v", "label"])
        writer.writerows([f"{a:.3f}", f"{b:.3f}", f"{2 * a - b:.3f}"] for a, b in x)
    out = tmp_path / "reg"
    assert cli.main(["finetune", "--data", str(path), "--task", "regression", "--labels-per-class", "60",
                     "--out", str(out), "--steps", "150", "--lr", "3e-3", *TINY]) == 0  # fmt: skip
    assert cli.main(["evaluate", str(out), "--data", str(path)]) == 0
    assert "RMSE" in capsys.readouterr().out


@pytest.mark.parametrize("strategy", ptft.finetune.strategies.STRATEGIES.names())
def test_every_strategy_fine_tunes_a_pretrained_table_model(strategy: str, tmp_path: Path) -> None:
    if strategy == "lora":
        pytest.importorskip("peft")
    data = synthetic_table(150)
    pre = ptft.Pretrainer(out=str(tmp_path / "pre"), objective="masked-cells", steps=5, dim=16, depth=2,
                          batch_size=32, progress=False).fit(synthetic_table(150, labelled=False))  # fmt: skip
    tuner = ptft.FineTuner(pretrained=str(pre.run_dir), out=str(tmp_path / strategy), strategy=strategy, steps=20,
                           labels_per_class=10, batch_size=16, eval_every=10, progress=False).fit(data)  # fmt: skip
    model = ptft.load(tuner.run_dir)
    assert model.predict_proba(data).shape == (150, 3)
