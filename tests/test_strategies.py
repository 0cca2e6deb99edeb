"""Fine-tuning strategies: each trains the parameters it should and no others (checked on the weights of
every stage the loop runs), llrd's rates follow decay^(depth - i), lp-ft probes before it fine-tunes, and
gradual unfreezing opens one more block per stage from the top."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import ptft.finetune.run as run_module
from ptft.api import FineTuner
from ptft.config import FinetuneConfig, LoopConfig
from ptft.finetune.strategies import STRATEGIES, llrd_groups
from ptft.models import ClassificationHead, Classifier, build_encoder
from tests.conftest import synthetic_images

SPEC = {"name": "cnn", "input_shape": [1, 16, 16], "dim": 16, "depth": 3}


def stage_spy(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Wraps the loop: per call, which parameters its groups hold and which weights changed."""
    calls: list[dict[str, Any]] = []
    real = run_module.train

    def spy(objective: Any, *args: Any, **kwargs: Any) -> Any:
        groups = args[4] if len(args) > 4 else kwargs["param_groups"]
        named = dict(objective.classifier.named_parameters())
        before = {n: p.detach().clone() for n, p in named.items()}
        result = real(objective, *args, **kwargs)
        in_groups = {id(p) for g in groups for p in g["params"]}
        calls.append({
            "trained": {n for n, p in named.items() if id(p) in in_groups},
            "changed": {n for n, p in named.items() if not torch.equal(before[n], p.detach())},
            "lrs": [g["lr"] for g in groups],
        })  # fmt: skip
        return result

    monkeypatch.setattr(run_module, "train", spy)
    return calls


def finetune(strategy: str, tmp_path: Any, tiny: dict[str, Any], **more: Any) -> FineTuner:
    options = {**tiny, "encoder": "cnn", "depth": 3, "steps": 6, "eval_every": 3, "lr": 3e-3}
    return FineTuner(out=str(tmp_path / strategy), strategy=strategy, labels_per_class=4, augment=False,
                     **{**options, **more}).fit(synthetic_images(64))  # fmt: skip


@pytest.mark.parametrize("strategy", ["full", "linear", "llrd", "lp-ft", "gradual-unfreeze"])
def test_each_stage_trains_what_it_should_and_nothing_else(
    strategy: str, tmp_path: Any, tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = stage_spy(monkeypatch)
    tuned = finetune(strategy, tmp_path, tiny)
    head = {n for c in calls for n in c["trained"] if n.startswith("head.")}
    assert head and all(head <= c["trained"] for c in calls)  # every stage trains the head
    for call in calls:
        assert call["changed"] <= call["trained"], call["changed"] - call["trained"]  # nothing else moved
        assert {n for n in call["trained"] if n.startswith("head.fc")} <= call["changed"]  # and the head did
    encoder = {n for n in calls[0]["trained"] | calls[-1]["trained"] if n.startswith("encoder.")}
    stages = {"full": 1, "linear": 1, "llrd": 1, "lp-ft": 2, "gradual-unfreeze": 4}[strategy]
    assert len(calls) == stages and (len(tuned.metrics_.get("stages", [0])) == stages)
    if strategy == "linear":
        assert not encoder
    if strategy == "lp-ft":
        assert not {n for n in calls[0]["trained"] if n.startswith("encoder.")}  # the probe first
        assert {n for n in calls[1]["trained"] if n.startswith("encoder.")}  # then everything
    if strategy == "gradual-unfreeze":
        opened = [len({n.split(".")[2] for n in c["trained"] if n.startswith("encoder.blocks.")}) for c in calls]
        assert opened == [0, 1, 2, 3]  # one more block per stage, from the top
        tops = [sorted({n.split(".")[2] for n in c["trained"] if n.startswith("encoder.blocks.")}) for c in calls]
        assert tops[1] == ["2"] and tops[2] == ["1", "2"]


def test_llrd_rates_decay_from_the_top_block_down() -> None:
    model = Classifier(build_encoder(SPEC), ClassificationHead(16, 4))
    cfg = FinetuneConfig(strategy="llrd", layer_decay=0.5, head_lr_scale=10.0, loop=LoopConfig(lr=1e-3))
    groups = llrd_groups(model, cfg)
    assert [g["lr"] for g in groups] == pytest.approx([1e-3 * 0.25, 1e-3 * 0.5, 1e-3, 1e-2])  # CNN: all in blocks
    covered = [id(p) for g in groups for p in g["params"]]
    assert sorted(covered) == sorted(id(p) for p in model.parameters()) and len(covered) == len(set(covered))
    text = build_encoder({"name": "transformer", "vocab_size": 50, "pad_id": 0, "max_length": 8, "dim": 16, "depth": 2,
                          "heads": 2})  # fmt: skip
    groups = llrd_groups(Classifier(text, ClassificationHead(16, 3)), cfg)
    assert [g["lr"] for g in groups] == pytest.approx([1e-3 * 0.25, 1e-3 * 0.5, 1e-3, 1e-2])  # embeddings lowest
    assert {id(p) for p in text.token_embedding.parameters()} <= {id(p) for p in groups[0]["params"]}


def test_every_strategy_is_registered_and_named_in_the_config_help() -> None:
    from ptft.cli import _comments

    assert {"full", "linear", "llrd", "lp-ft", "gradual-unfreeze", "self-train", "fixmatch"} <= set(STRATEGIES.names())
    assert all(name in _comments(FinetuneConfig)["strategy"] for name in STRATEGIES.names())


def test_lora_trains_adapters_and_head_only_and_the_bundle_needs_no_peft(
    tmp_path: Any, tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("peft")
    import json
    import subprocess
    import sys

    import ptft
    from tests.conftest import synthetic_texts

    texts = synthetic_texts(64)
    text = {"vocab_size": 120, "max_length": 16}
    pre = tmp_path / "pre"
    Pretrainer = ptft.Pretrainer
    Pretrainer(out=str(pre), steps=2, **tiny, **text).fit(texts)
    calls = stage_spy(monkeypatch)
    options = {**tiny, **text, "steps": 6, "eval_every": 3, "lr": 3e-3}
    tuned = FineTuner(out=str(tmp_path / "lora"), pretrained=str(pre), strategy="lora", labels_per_class=4,
                      lora_rank=2, **options).fit(texts)  # fmt: skip
    (call,) = calls
    adapters = {n for n in call["trained"] if "lora_" in n}
    assert adapters and call["trained"] == adapters | {n for n in call["trained"] if n.startswith("head.")}
    assert call["changed"] <= call["trained"]  # the encoder's own weights did not move while training
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "lora" / "model.safetensors"))
    before = load_file(str(pre / "model.safetensors"))
    assert not any("lora" in k for k in saved) and {k for k in saved if k.startswith("encoder.")} == set(before)
    assert any(not torch.equal(saved[k], before[k]) for k in before if "blocks" in k)  # the adapters, merged
    expected = tuned.predict_proba(texts.texts[:8])
    script = (
        "import sys, json; sys.modules['peft'] = None\n"  # peft cannot be imported in this process
        "import ptft\n"
        f"print(json.dumps(ptft.load({str(tmp_path / 'lora')!r}).predict_proba({texts.texts[:8]!r}).tolist()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.allclose(json.loads(done.stdout), expected, atol=1e-6)


def test_lora_on_an_encoder_without_linear_layers_is_refused(tmp_path: Any, tiny: dict[str, Any]) -> None:
    pytest.importorskip("peft")
    from ptft.errors import ConfigError

    with pytest.raises(ConfigError, match="strategy 'lora' adapts the linear layers.*CNNEncoder has none"):
        finetune("lora", tmp_path, tiny)
    assert not (tmp_path / "lora").exists()  # refused before the run folder was made


def test_setfit_trains_the_encoder_on_pairs_then_the_head_alone(
    tmp_path: Any, tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ptft.objectives.pairs import PairContrast

    calls = stage_spy(monkeypatch)
    objectives: list[str] = []
    real = run_module.train
    monkeypatch.setattr(run_module, "train", lambda o, *a, **k: objectives.append(type(o).__name__) or real(o, *a, **k))
    tuned = finetune("setfit", tmp_path, tiny)
    assert objectives == [PairContrast.__name__, "SupervisedClassification"]
    pairs, head = calls
    assert pairs["trained"] and all(n.startswith("encoder.") for n in pairs["trained"])  # the encoder alone
    assert pairs["changed"] <= pairs["trained"] and pairs["changed"]
    assert head["trained"] == {n for n in head["trained"] if n.startswith("head.")} and head["changed"]
    stages = tuned.metrics_["stages"]
    assert [s["name"] for s in stages] == ["pairs", "head"] and 0 <= stages[0]["val"] <= 1  # centroid accuracy


def test_pair_cosine_loss_matches_a_naive_double_loop() -> None:
    from ptft.objectives.pairs import pair_cosine_loss

    torch.manual_seed(0)
    embeddings, labels = torch.randn(7, 5), torch.tensor([0, 1, 0, 2, 1, 1, 0])
    same, different = [], []
    for i in range(7):
        for j in range(i + 1, 7):
            cosine = float(torch.dot(embeddings[i], embeddings[j]) / (embeddings[i].norm() * embeddings[j].norm()))
            (same if labels[i] == labels[j] else different).append((cosine - float(labels[i] == labels[j])) ** 2)
    expected = (np.mean(same) + np.mean(different)) / 2
    assert np.isclose(float(pair_cosine_loss(embeddings, labels)), expected, rtol=1e-5)
    cosine = float(torch.cosine_similarity(embeddings[0], embeddings[1], dim=0))
    assert np.isclose(float(pair_cosine_loss(embeddings[:2], torch.tensor([0, 1]))), cosine**2, rtol=1e-5)
    assert float(pair_cosine_loss(embeddings[:1], labels[:1])) == 0.0  # one example: no pair
    aligned = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert float(pair_cosine_loss(aligned, torch.tensor([0, 0, 1]))) == 0.0  # the ideal embedding costs nothing


def test_label_prop_trains_on_the_labels_and_those_spread_over_the_embedding(
    tmp_path: Any, tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ptft.finetune.selftrain as selftrain
    from ptft.data.batch import Batch

    # two tight clusters far apart: a label given to one point of each reaches its whole cluster
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
    points = torch.cat([centres[k] + 0.1 * torch.randn(20, 2, generator=generator) for k in (0, 1)])
    with monkeypatch.context() as patch:
        patch.setattr(selftrain, "pooled_embeddings", lambda encoder, x: x.x)  # the embedding is the point itself
        model = Classifier(build_encoder(SPEC), ClassificationHead(16, 2))
        labelled, pool = Batch.of(points[[0, 20]]), Batch.of(torch.cat([points[1:20], points[21:]]))
        rows, labels = selftrain.propagated_labels(model, labelled, torch.tensor([0, 1]), pool, 0.5, 100)
        assert len(rows) == 38 and labels.tolist() == [0] * 19 + [1] * 19
        capped, _ = selftrain.propagated_labels(model, labelled, torch.tensor([0, 1]), pool, 0.5, 5)
        assert len(capped) == 10  # at most 5 a class
    tuned = finetune("label-prop", tmp_path, tiny, pseudo_threshold=0.0, pseudo_max_per_class=8)
    assert tuned.metrics_["pseudo_labels"] > 0
