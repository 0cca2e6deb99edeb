"""Fine-tuning strategies: small functions over the encoder surface (`.blocks`, ordered bottom to top; no
parameter names parsed) that return the stages of a fine-tuning, each preparing the model (what it
freezes) and giving its parameter groups.

- `full` trains everything (the head at `--head-lr-scale` x the rate); `linear` freezes the encoder
  (linear probe); `self-train`, `label-prop` and `fixmatch` are `full` plus the pool (finetune/run.py,
  finetune/selftrain.py, objectives).
- `llrd`: layer-wise learning-rate decay (Howard & Ruder 2018; Clark et al. 2020): block i of D (1 = the
  lowest) trains at lr x decay^(D - i); what lies outside the blocks (embeddings) at lr x decay^D.
- `lp-ft`: a linear probe first, then full fine-tuning from that head (Kumar et al., ICLR 2022, "Fine-Tuning
  can Distort Pretrained Features": better than full fine-tuning when the head starts random).
- `gradual-unfreeze` (ULMFiT, Howard & Ruder 2018): the head alone, then one more block per stage from the
  top, the whole encoder in the last; the loop's steps are shared equally between the stages.
- `setfit` (Tunstall et al. 2022): the encoder alone, trained on pairs of labelled examples to put the
  same label at cosine 1 and different labels at 0 (`objectives/pairs.py`), then the head on that embedding.
- `lora` (Hu et al., ICLR 2022): low-rank adapters (`--lora-rank`, `--lora-alpha`) on every linear layer of
  the encoder's blocks (attention and MLP projections), through Hugging Face `peft` (`pip install
  'ptft[lora]'`); the encoder's own weights stay frozen, and the adapters are merged into them when the
  stage ends, so the bundle holds plain weights and predicting needs no peft.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ptft.config import FinetuneConfig
from ptft.errors import ConfigError
from ptft.models.base import Encoder
from ptft.models.heads import Classifier
from ptft.registry import Registry

ParamGroups = list[dict[str, Any]]


@dataclass(frozen=True)
class Stage:
    name: str
    prepare: Callable[[Classifier, FinetuneConfig], ParamGroups]  # sets what trains; returns the groups
    share: float = 1.0  # of the loop's steps
    finish: Callable[[Classifier], None] | None = None  # after the stage (LoRA: merge the adapters)
    objective: str = "supervised"  # supervised (the head's loss) | pairs (the encoder alone: objectives/pairs.py)


Strategy = Callable[[Classifier, FinetuneConfig], list[Stage]]
STRATEGIES: Registry[Strategy] = Registry("strategy")


def _head(model: Classifier, cfg: FinetuneConfig) -> dict[str, Any]:
    return {"params": list(model.head.parameters()), "lr": cfg.loop.lr * cfg.head_lr_scale}


def _outside_blocks(encoder: nn.Module, blocks: nn.ModuleList) -> list[nn.Parameter]:
    inside = {id(p) for p in blocks.parameters()}
    return [p for p in encoder.parameters() if id(p) not in inside]


def full_groups(model: Classifier, cfg: FinetuneConfig) -> ParamGroups:
    model.unfreeze_encoder()
    return [{"params": list(model.encoder.parameters()), "lr": cfg.loop.lr}, _head(model, cfg)]


def full_encoder_groups(model: Classifier, cfg: FinetuneConfig) -> ParamGroups:
    model.unfreeze_encoder()
    return [{"params": list(model.encoder.parameters()), "lr": cfg.loop.lr}]


def linear_groups(model: Classifier, cfg: FinetuneConfig) -> ParamGroups:
    model.freeze_encoder()
    return [_head(model, cfg)]


def llrd_groups(model: Classifier, cfg: FinetuneConfig) -> ParamGroups:
    model.unfreeze_encoder()
    blocks, decay, lr = model.encoder.blocks, cfg.layer_decay, cfg.loop.lr
    depth = len(blocks)
    groups = [
        {"params": list(block.parameters()), "lr": lr * decay ** (depth - i)} for i, block in enumerate(blocks, 1)
    ]
    rest = _outside_blocks(model.encoder, blocks)
    return [g for g in [{"params": rest, "lr": lr * decay**depth}, *groups] if g["params"]] + [_head(model, cfg)]


def top_blocks(count: int) -> Callable[[Classifier, FinetuneConfig], ParamGroups]:
    """A stage that trains the head and the top `count` blocks (all of the encoder once count is its depth)."""

    def prepare(model: Classifier, cfg: FinetuneConfig) -> ParamGroups:
        blocks = model.encoder.blocks
        if count >= len(blocks):
            return full_groups(model, cfg)
        model.freeze_encoder()
        if not count:
            return [_head(model, cfg)]
        model.unfreeze_encoder(train_only=list(blocks)[-count:])
        return [
            {"params": [p for b in list(blocks)[-count:] for p in b.parameters()], "lr": cfg.loop.lr},
            _head(model, cfg),
        ]

    return prepare


def _lora_layers(encoder: nn.Module) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [m for m in encoder.modules() if isinstance(m, LoraLayer)]


def lora_targets(encoder: Encoder) -> list[str]:
    """The names peft needs of the linear layers in the encoder's blocks (found by type and identity);
    a ConfigError when peft is missing or there are none."""
    try:
        import peft  # noqa: F401
    except ImportError:
        raise ConfigError("strategy 'lora' needs Hugging Face peft: pip install 'ptft[lora]' (or peft)") from None
    in_blocks = {id(m) for m in encoder.blocks.modules() if isinstance(m, nn.Linear)}
    targets = [name for name, m in encoder.named_modules() if id(m) in in_blocks]
    if not targets:
        raise ConfigError(
            f"strategy 'lora' adapts the linear layers of the encoder's blocks, and this {type(encoder).__name__} "
            "has none; use full, llrd or lp-ft"
        )
    return targets


def lora_groups(model: Classifier, cfg: FinetuneConfig) -> ParamGroups:
    from peft import LoraConfig, inject_adapter_in_model

    targets = lora_targets(model.encoder)
    model.freeze_encoder()
    if not _lora_layers(model.encoder):  # a later call (a resumed stage) finds them in place
        config = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, target_modules=targets, lora_dropout=0.0)
        inject_adapter_in_model(config, model.encoder)
    adapters = [
        p for layer in _lora_layers(model.encoder) for part in (layer.lora_A, layer.lora_B) for p in part.parameters()
    ]
    for p in adapters:
        p.requires_grad_(True)
    return [{"params": adapters, "lr": cfg.loop.lr}, _head(model, cfg)]


def merge_lora(model: Classifier) -> None:
    """Fold each adapter into the weight it adapts and put the plain layer back: the state dict is the
    encoder's own again."""
    layers = {id(m) for m in _lora_layers(model.encoder)}
    for parent in list(model.encoder.modules()):
        for name, child in list(parent.named_children()):
            if id(child) in layers:
                adapted: Any = child
                adapted.merge()
                setattr(parent, name, adapted.get_base_layer())
    model.unfreeze_encoder()


@STRATEGIES.register("full")
def full(model: Classifier, cfg: FinetuneConfig) -> list[Stage]:
    return [Stage("full", full_groups)]


@STRATEGIES.register("linear")
def linear(model: Classifier, cfg: FinetuneConfig) -> list[Stage]:
    return [Stage("linear", linear_groups)]


@STRATEGIES.register("llrd")
def llrd(model: Classifier, cfg: FinetuneConfig) -> list[Stage]:
    return [Stage("llrd", llrd_groups)]


@STRATEGIES.register("lp-ft")
def lp_ft(model: Classifier, cfg: FinetuneConfig) -> list[Stage]:
    return [Stage("linear-probe", linear_groups), Stage("fine-tune", full_groups)]


@STRATEGIES.register("gradual-unfreeze")
def gradual_unfreeze(model: Classifier, cfg: FinetuneConfig) -> list[Stage]:
    depth = len(model.encoder.blocks)
    return [Stage(f"top-{n}", top_blocks(n), 1.0 / (depth + 1)) for n in range(depth + 1)]


@STRATEGIES.register("lora")
def lora(model: Classifier, cfg: FinetuneConfig) -> list[Stage]:
    lora_targets(model.encoder)  # fail here, before the run starts, where it cannot apply
    return [Stage("lora", lora_groups, finish=merge_lora)]


@STRATEGIES.register("setfit")
def setfit(model: Classifier, cfg: FinetuneConfig) -> list[Stage]:
    """SetFit's two steps: the encoder trained on pairs of labelled examples (same label: cosine 1, else 0),
    validated by the nearest class centroid, then the head alone on that embedding."""
    return [Stage("pairs", full_encoder_groups, 0.5, objective="pairs"), Stage("head", linear_groups, 0.5)]


STRATEGIES.register("self-train")(full)
STRATEGIES.register("label-prop")(full)  # on the labels + those propagated over the embedding (finetune/run.py)
STRATEGIES.register("fixmatch")(full)  # + pool consistency in the objective (see finetune/run.py)
