"""Masked language modelling: the masking invariants of BERT, the masked-only loss against a naive
full-vocabulary reference, and length-bucketed batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ptft.models.base import trim_padding
from ptft.objectives.mlm import IGNORE, MLMHead, mlm_loss, mlm_mask
from ptft.train.batches import BatchStream

MASK_ID, VOCAB = 4, 1000


def corpus(rows: int = 400, length: int = 60, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids with [CLS]=2 ... [SEP]=3 and PAD=0; maskable marks the real tokens."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(5, length, (rows,), generator=gen)
    ids = torch.zeros(rows, length, dtype=torch.long)
    maskable = torch.zeros(rows, length, dtype=torch.bool)
    for i, n in enumerate(lengths.tolist()):
        ids[i, :n] = torch.randint(5, VOCAB, (n,), generator=gen)
        ids[i, 0], ids[i, n - 1] = 2, 3
        maskable[i, 1 : n - 1] = True
    return ids, maskable


def test_masking_invariants() -> None:
    ids, maskable = corpus()
    inputs, labels = mlm_mask(ids, maskable, MASK_ID, VOCAB, 0.15, torch.Generator().manual_seed(1))
    chosen = labels != IGNORE
    assert not (chosen & ~maskable).any()  # never padding, [CLS] or [SEP]
    assert torch.equal(labels[chosen], ids[chosen])  # the label is the original token
    assert (labels[~chosen] == IGNORE).all()  # ignore index exactly where nothing is to be predicted
    assert torch.equal(inputs[~chosen], ids[~chosen])  # unchosen positions are left alone
    assert chosen.any(dim=1).all()  # every row with real tokens predicts at least one
    ratio = chosen.sum() / maskable.sum()
    assert abs(float(ratio) - 0.15) < 0.01
    n = int(chosen.sum())
    as_mask = (inputs[chosen] == MASK_ID).sum() / n
    kept = (inputs[chosen] == ids[chosen]).sum() / n
    assert abs(float(as_mask) - 0.8) < 0.03 and abs(float(kept) - 0.1) < 0.03  # 80 / 10 / 10
    swapped = chosen & (inputs != MASK_ID) & (inputs != ids)
    assert abs(float(swapped.sum() / n) - 0.1) < 0.03


def test_same_seed_same_mask_other_seed_other_mask() -> None:
    ids, maskable = corpus(50)
    a = mlm_mask(ids, maskable, MASK_ID, VOCAB, 0.15, torch.Generator().manual_seed(7))
    b = mlm_mask(ids, maskable, MASK_ID, VOCAB, 0.15, torch.Generator().manual_seed(7))
    c = mlm_mask(ids, maskable, MASK_ID, VOCAB, 0.15, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_a_short_row_still_predicts_one_token() -> None:
    ids = torch.tensor([[2, 9, 3, 0, 0], [2, 3, 0, 0, 0]])
    maskable = torch.tensor([[False, True, False, False, False], [False] * 5])
    for seed in range(20):
        _, labels = mlm_mask(ids, maskable, MASK_ID, VOCAB, 0.15, torch.Generator().manual_seed(seed))
        assert labels[0].tolist() == [IGNORE, 9, IGNORE, IGNORE, IGNORE]
        assert (labels[1] == IGNORE).all()  # nothing to predict in a row without real tokens


def test_masked_only_loss_equals_the_full_vocabulary_reference() -> None:
    torch.manual_seed(0)
    embedding = nn.Embedding(VOCAB, 32)
    head = MLMHead(32, embedding)
    hidden = torch.randn(6, 20, 32, requires_grad=True)
    ids, maskable = corpus(6, 20)
    _, labels = mlm_mask(ids, maskable, MASK_ID, VOCAB, 0.3, torch.Generator().manual_seed(0))
    fast = mlm_loss(hidden, labels, head)
    naive = F.cross_entropy(head(hidden).reshape(-1, VOCAB), labels.reshape(-1), ignore_index=IGNORE)
    torch.testing.assert_close(fast, naive)
    (g_fast,) = torch.autograd.grad(fast, hidden)
    (g_naive,) = torch.autograd.grad(naive, hidden)
    torch.testing.assert_close(g_fast, g_naive)
    assert head(hidden[0]).shape == (20, VOCAB) and head.bias.shape == (VOCAB,)
    assert not any(p is embedding.weight for p in head.parameters())  # tied, not registered twice


def test_trim_padding_drops_columns_padded_everywhere() -> None:
    ids = torch.tensor([[5, 6, 0, 0, 0], [5, 6, 7, 0, 0]])
    x, mask = trim_padding(ids, ids == 0, multiple=1)
    assert x.tolist() == [[5, 6, 0], [5, 6, 7]] and mask.tolist() == [[False, False, True], [False, False, False]]
    assert trim_padding(ids, ids == 0, multiple=2)[0].shape == (2, 4)  # widths rounded up: few shapes
    assert trim_padding(ids, ids == 0)[0].shape == (2, 5)  # never wider than the batch
    wide = torch.cat([ids, torch.zeros(2, 20, dtype=ids.dtype)], dim=1)
    assert trim_padding(wide, wide == 0)[0].shape == (2, 8)


def test_masked_positions_padded_to_few_shapes_give_the_same_loss() -> None:
    torch.manual_seed(0)
    head = MLMHead(16, nn.Embedding(VOCAB, 16))
    hidden = torch.randn(4, 12, 16)
    ids, maskable = corpus(4, 12)
    _, labels = mlm_mask(ids, maskable, MASK_ID, VOCAB, 0.3, torch.Generator().manual_seed(1))
    seen: list[int] = []
    original = head.forward
    head.forward = lambda h: (seen.append(len(h)), original(h))[1]  # type: ignore[method-assign]
    exact = mlm_loss(hidden, labels, head, multiple=1)
    padded = mlm_loss(hidden, labels, head, multiple=64)
    assert seen == [int((labels != IGNORE).sum()), 64]
    torch.testing.assert_close(padded, exact)


def test_length_bucketed_batches_cover_the_epoch_with_less_padding() -> None:
    ids, maskable = corpus(1000, 60)
    lengths = (ids != 0).sum(1)
    bucketed = BatchStream(ids, None, 20, seed=3, lengths=lengths)
    plain = BatchStream(ids, None, 20, seed=3)
    seen: list[int] = []
    padded = {"bucketed": 0, "plain": 0}
    for _ in range(bucketed.steps_per_epoch):
        for name, stream in (("bucketed", bucketed), ("plain", plain)):
            x = stream.next()[0].x
            kept, mask = trim_padding(x, x == 0)
            padded[name] += int(mask.sum())
            if name == "bucketed":
                seen += [int(row) for row in torch.nonzero((ids[:, None, :] == x[None]).all(-1))[:, 0]]
    assert sorted(seen) == list(range(1000))  # every text once per epoch
    assert padded["bucketed"] < padded["plain"] / 5
    again = BatchStream(ids, None, 20, seed=3, lengths=lengths)  # a pure function of (seed, epoch)
    again.load_state_dict({"epoch": 0, "offset": 40})
    first = BatchStream(ids, None, 20, seed=3, lengths=lengths)
    first.next(), first.next()
    assert torch.equal(first.next()[0].x, again.next()[0].x)
