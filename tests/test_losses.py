"""Losses against naive loops of the papers' pseudocode, masking and patch layout, and the batched
augmentations (shape, determinism under a seeded generator, flips and erasing that really happen)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ptft.objectives.augment import FINETUNE_LIGHT, SIMCLR_VIEWS, AugmentConfig, augment, random_erase
from ptft.objectives.mae import masked_mse, patchify, random_patch_mask
from ptft.objectives.simclr import info_nce
from ptft.objectives.supervised import classification_loss


def naive_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> float:
    """SimCLR (Chen et al. 2020) Algorithm 1, one row at a time, in float64 plain Python."""
    z = torch.cat([z1, z2]).double()
    n = len(z)  # 2B
    batch = len(z1)

    def sim(a: int, b: int) -> float:
        return float(z[a] @ z[b] / (z[a].norm() * z[b].norm()))

    total = 0.0
    for i in range(n):
        positive = (i + batch) % n
        denominator = sum(math.exp(sim(i, k) / temperature) for k in range(n) if k != i)
        total += -math.log(math.exp(sim(i, positive) / temperature) / denominator)
    return total / n


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
@pytest.mark.parametrize(("batch", "width"), [(2, 3), (5, 7), (8, 16)])
def test_info_nce_matches_the_naive_loop(batch: int, width: int, temperature: float) -> None:
    gen = torch.Generator().manual_seed(batch * 100 + width)
    z1 = torch.randn(batch, width, generator=gen) * 3  # any scale: the loss normalises
    z2 = z1 + 0.5 * torch.randn(batch, width, generator=gen)
    got = info_nce(z1, z2, temperature)
    assert got.ndim == 0
    assert got.item() == pytest.approx(naive_nt_xent(z1, z2, temperature), rel=1e-5, abs=1e-6)


def test_info_nce_closed_form_for_orthogonal_pairs() -> None:
    # Both views identical, all images orthogonal: sim(i, pos) = 1, every other sim = 0.
    batch, temperature = 4, 0.5
    z = torch.eye(batch, 8)
    expected = -math.log(math.exp(1 / temperature) / (math.exp(1 / temperature) + 2 * batch - 2))
    assert info_nce(z, z.clone(), temperature).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_rewards_aligned_views() -> None:
    gen = torch.Generator().manual_seed(0)
    z1 = torch.randn(16, 32, generator=gen)
    assert info_nce(z1, z1 + 0.01 * torch.randn(16, 32, generator=gen), 0.2) < info_nce(
        z1, torch.randn(16, 32, generator=gen), 0.2
    )


def naive_masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """MAE (He et al. 2022): mean over hidden patches of the per-patch mean squared error."""
    total, count = 0.0, 0
    for b in range(pred.shape[0]):
        for n in range(pred.shape[1]):
            if mask[b, n]:
                total += sum((float(p) - float(t)) ** 2 for p, t in zip(pred[b, n], target[b, n])) / pred.shape[2]
                count += 1
    return total / count


def test_masked_mse_matches_the_naive_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.randn(3, 10, 6, generator=gen), torch.randn(3, 10, 6, generator=gen)
    mask = torch.rand(3, 10, generator=gen) < 0.4
    assert mask.any() and not mask.all()
    assert masked_mse(pred, target, mask).item() == pytest.approx(naive_masked_mse(pred, target, mask), rel=1e-5)


def test_masked_mse_ignores_visible_patches() -> None:
    gen = torch.Generator().manual_seed(1)
    pred, target = torch.randn(2, 8, 4, generator=gen), torch.randn(2, 8, 4, generator=gen)
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[:, :3] = True
    changed = pred.clone()
    changed[:, 3:] += 100.0  # visible patches only
    assert masked_mse(changed, target, mask).item() == pytest.approx(masked_mse(pred, target, mask).item())
    changed[:, 0] += 1.0  # a hidden patch
    assert masked_mse(changed, target, mask).item() != pytest.approx(masked_mse(pred, target, mask).item())
    assert masked_mse(pred, target, torch.zeros(2, 8, dtype=torch.bool)).item() == 0.0  # nothing hidden: 0


@pytest.mark.parametrize("num_patches", [10, 16, 49])
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.6, 0.75])
def test_random_patch_mask_hides_exactly_round_ratio_n(num_patches: int, ratio: float) -> None:
    torch.manual_seed(0)
    mask = random_patch_mask(32, num_patches, ratio, torch.device("cpu"))
    assert mask.shape == (32, num_patches) and mask.dtype == torch.bool
    assert (mask.sum(dim=1) == round(ratio * num_patches)).all()
    assert len({tuple(row.tolist()) for row in mask}) > 1  # rows are drawn independently


def naive_patch(x: torch.Tensor, b: int, n: int, p: int) -> torch.Tensor:
    """Patch n of image b in row-major patch order, its pixels ordered (row, column, channel)."""
    columns = x.shape[3] // p
    i, j = divmod(n, columns)
    return x[b, :, i * p : (i + 1) * p, j * p : (j + 1) * p].permute(1, 2, 0).reshape(-1)


@pytest.mark.parametrize(("channels", "height", "width", "p"), [(1, 16, 16, 4), (3, 8, 12, 4), (2, 6, 6, 2)])
def test_patchify_layout_and_inverse(channels: int, height: int, width: int, p: int) -> None:
    x = torch.randn(2, channels, height, width)
    patches = patchify(x, p)
    assert patches.shape == (2, (height // p) * (width // p), p * p * channels)
    for b in range(2):
        for n in range(patches.shape[1]):
            assert torch.equal(patches[b, n], naive_patch(x, b, n, p))
    # Inverse: undo the layout and get the image back exactly.
    grid = patches.reshape(2, height // p, width // p, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    assert torch.equal(grid.reshape(2, channels, height, width), x)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.3])
def test_classification_loss_matches_manual_cross_entropy(label_smoothing: float) -> None:
    gen = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(7, 5, generator=gen) * 2, torch.randint(0, 5, (7,), generator=gen)
    log_p = logits.double().log_softmax(dim=1)
    nll = -log_p[torch.arange(7), labels]
    uniform = -log_p.mean(dim=1)
    expected = ((1 - label_smoothing) * nll + label_smoothing * uniform).mean().item()
    got = classification_loss(logits, labels, label_smoothing)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    assert got.item() == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=label_smoothing).item())


# ---- augmentations ----

IDENTITY = AugmentConfig(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False, noise=0.0, erase=0.0, brightness=0.0)


@pytest.mark.parametrize("cfg", [SIMCLR_VIEWS, FINETUNE_LIGHT], ids=["simclr", "finetune"])
@pytest.mark.parametrize("shape", [(6, 1, 16, 16), (4, 3, 12, 20)])
def test_augment_keeps_shape_and_is_seeded(cfg: AugmentConfig, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape)
    global_state = torch.get_rng_state()
    first = augment(x, cfg, torch.Generator().manual_seed(7))
    again = augment(x, cfg, torch.Generator().manual_seed(7))
    other = augment(x, cfg, torch.Generator().manual_seed(8))
    assert torch.equal(torch.get_rng_state(), global_state)  # a given generator leaves the global RNG alone
    assert first.shape == x.shape and first.dtype == x.dtype and torch.isfinite(first).all()
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert not torch.allclose(first, x)


def test_identity_config_leaves_images_unchanged() -> None:
    x = torch.randn(8, 1, 16, 16)
    torch.testing.assert_close(augment(x, IDENTITY, torch.Generator().manual_seed(0)), x, atol=1e-5, rtol=0)


def test_flip_mirrors_about_half_of_the_images() -> None:
    x = torch.randn(64, 1, 16, 16)
    cfg = AugmentConfig(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=True, noise=0.0, erase=0.0, brightness=0.0)
    out = augment(x, cfg, torch.Generator().manual_seed(0))
    same = [(o - i).abs().max().item() < 1e-4 for o, i in zip(out, x)]
    mirrored = [(o - i.flip(-1)).abs().max().item() < 1e-4 for o, i in zip(out, x)]
    assert all(s != m for s, m in zip(same, mirrored))  # each image is either kept or mirrored exactly
    assert 16 <= sum(mirrored) <= 48


def test_random_erase_zeros_one_rectangle_of_the_documented_size() -> None:
    height, width = 16, 20
    x = torch.ones(32, 2, height, width)
    out = random_erase(x, 1.0, torch.Generator().manual_seed(0))
    for image in out:
        zero = image == 0
        assert torch.equal(zero[0], zero[1])  # the same rectangle in every channel
        rows, cols = zero[0].any(dim=1).nonzero().flatten(), zero[0].any(dim=0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert h and w and int(zero[0].sum()) == h * w  # one filled rectangle
        assert rows[-1] - rows[0] + 1 == h and cols[-1] - cols[0] + 1 == w
        assert height // 4 <= h <= height // 2 and width // 4 <= w <= width // 2
    assert torch.equal(random_erase(x, 0.0, torch.Generator().manual_seed(0)), x)
    some = random_erase(x, 0.5, torch.Generator().manual_seed(0))
    erased = (some == 0).flatten(1).any(dim=1)
    assert 0 < int(erased.sum()) < len(x)
