"""De-duplication and leakage checks for text.

Exact duplicates: texts equal after normalisation (NFKC, case-folded, whitespace collapsed), found by a
16-byte BLAKE2b hash. Near duplicates: MinHash over character shingles (Broder, 1997) with LSH banding
(datasketch), confirmed by the estimated Jaccard similarity; character shingles work for any script,
including ones written without spaces. The first text of a group is kept. `leakage` removes from the
unlabeled pool every text that duplicates (exactly or nearly) a labelled validation or test text.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from datasketch import MinHash, MinHashLSH

from ptft.errors import ConfigError

NUM_PERM = 128
SHINGLE_CHARS = 5
NEAR_THRESHOLD = 0.8


@dataclass
class DedupReport:
    """`duplicate_of` maps each removed input position to the kept position it duplicates."""

    seen: int = 0
    kept: int = 0
    duplicate_of: dict[int, int] = field(default_factory=dict)

    @property
    def removed(self) -> int:
        return len(self.duplicate_of)


@dataclass
class LeakageReport:
    """Pool texts that duplicate a held-out text: `leaked` maps pool position to held-out position, by kind."""

    pool_size: int = 0
    held_out_size: int = 0
    exact: dict[int, int] = field(default_factory=dict)
    near: dict[int, int] = field(default_factory=dict)

    @property
    def removed(self) -> int:
        return len(self.exact) + len(self.near)

    def summary(self) -> str:
        return (
            f"removed {self.removed} of {self.pool_size} pool texts that duplicate one of {self.held_out_size} "
            f"validation/test texts ({len(self.exact)} exact, {len(self.near)} near)"
        )


def normalise(text: str) -> str:
    """The form exact duplicates are compared in: NFKC, case-folded, whitespace runs collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=16).digest()


def shingles(text: str, size: int = SHINGLE_CHARS) -> set[str]:
    """Overlapping character `size`-grams of the normalised text (the whole text if it is shorter)."""
    text = normalise(text)
    if len(text) <= size:
        return {text}
    return {text[start : start + size] for start in range(len(text) - size + 1)}


def minhash(text: str, num_perm: int = NUM_PERM, size: int = SHINGLE_CHARS) -> MinHash:
    signature = MinHash(num_perm=num_perm, seed=1)
    signature.update_batch([shingle.encode("utf-8") for shingle in shingles(text, size)])
    return signature


def dedup_exact(texts: Iterable[str]) -> tuple[list[str], DedupReport]:
    """Keep the first of each group of texts that are equal after `normalise`."""
    first_seen: dict[bytes, int] = {}
    report = DedupReport()
    kept: list[str] = []
    for index, text in enumerate(texts):
        report.seen += 1
        digest = text_hash(text)
        if digest in first_seen:
            report.duplicate_of[index] = first_seen[digest]
            continue
        first_seen[digest] = index
        kept.append(text)
    report.kept = len(kept)
    return kept, report


class NearIndex:
    """MinHash-LSH index of texts; `match` returns the position of an indexed text at least `threshold` similar."""

    def __init__(self, threshold: float = NEAR_THRESHOLD, num_perm: int = NUM_PERM, shingle_chars: int = SHINGLE_CHARS):
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"near-duplicate threshold must be in (0, 1), got {threshold}; use dedup_exact for 1")
        self.threshold, self.num_perm, self.shingle_chars = threshold, num_perm, shingle_chars
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.signatures: dict[int, MinHash] = {}

    def signature(self, text: str) -> MinHash:
        return minhash(text, self.num_perm, self.shingle_chars)

    def add(self, index: int, signature: MinHash) -> None:
        self.lsh.insert(index, signature)
        self.signatures[index] = signature

    def match(self, signature: MinHash) -> int | None:
        """The lowest-positioned candidate whose estimated Jaccard similarity reaches the threshold."""
        candidates = sorted(self.lsh.query(signature))
        for candidate in candidates:
            if signature.jaccard(self.signatures[candidate]) >= self.threshold:
                return int(candidate)
        return None


def dedup_near(
    texts: Iterable[str],
    threshold: float = NEAR_THRESHOLD,
    num_perm: int = NUM_PERM,
    shingle_chars: int = SHINGLE_CHARS,
) -> tuple[list[str], DedupReport]:
    """Keep the first of each group of texts whose character-shingle Jaccard similarity is >= `threshold`.

    Exact duplicates are near duplicates too. Memory: one signature (num_perm 8-byte values) per kept text.
    """
    index_of = NearIndex(threshold, num_perm, shingle_chars)
    report = DedupReport()
    kept: list[str] = []
    for index, text in enumerate(texts):
        report.seen += 1
        signature = index_of.signature(text)
        match = index_of.match(signature)
        if match is not None:
            report.duplicate_of[index] = match
            continue
        index_of.add(index, signature)
        kept.append(text)
    report.kept = len(kept)
    return kept, report


def leakage(
    pool: Iterable[str], held_out: Sequence[str], near: bool = True, threshold: float = NEAR_THRESHOLD
) -> tuple[list[str], LeakageReport]:
    """Remove from the unlabeled `pool` every text that duplicates one of `held_out` (validation + test texts).

    Returns the filtered pool (in order) and a report of which pool position matched which held-out one.
    """
    hashes: dict[bytes, int] = {}
    for position, text in enumerate(held_out):
        hashes.setdefault(text_hash(text), position)
    index_of = NearIndex(threshold) if near else None
    if index_of is not None:
        for position, text in enumerate(held_out):
            index_of.add(position, index_of.signature(text))
    report = LeakageReport(held_out_size=len(held_out))
    kept: list[str] = []
    for position, text in enumerate(pool):
        report.pool_size += 1
        digest = text_hash(text)
        if digest in hashes:
            report.exact[position] = hashes[digest]
            continue
        match = None if index_of is None else index_of.match(index_of.signature(text))
        if match is not None:
            report.near[position] = match
            continue
        kept.append(text)
    return kept, report


def pool_without_leakage(keys: Sequence[str], pool: np.ndarray, held: Sequence[str]) -> tuple[np.ndarray, int]:
    """Pool indices (into `keys`) minus those whose key duplicates a `held` one (the labelled and test
    examples; exact after normalisation) -> (kept indices, how many were removed)."""
    _, report = leakage((keys[i] for i in pool.tolist()), held, near=False)
    leaked = np.array(sorted(report.exact), dtype=np.int64)
    return np.delete(pool, leaked), len(leaked)
