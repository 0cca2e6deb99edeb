"""Token shards on disk: a corpus tokenized once (`ptft data prepare`), read back a batch at a time.

A prepared folder holds `shard-NNNNN.bin` (the token ids of many texts, back to back, uint16 when the
vocabulary fits, else uint32), `shard-NNNNN.idx` (int64 start offsets, one more than texts), the text
pipeline that produced them (`preprocessor.json`) and `index.json` (shard list, counts, dtype), written
last. Reading holds 4 bytes a text in memory (the lengths) and reads each row from disk when a batch
needs it (see `TokenShards`). Preparation is resumable: `progress.json` records the finished shards
and how many texts they consumed; a restart drops any half-written shard and continues after the last
finished one. Preparing cleans and tokenizes in one worker process per core (`prepare_shards`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ptft.data.batch import MAIN, Batch
from ptft.errors import DataError, PtftError
from ptft.preprocess.pipeline import TextPipeline

INDEX = "index.json"
PROGRESS = "progress.json"
PIPELINE = "preprocessor.json"
FORMAT_VERSION = 1
TOKENIZERS_THREADS = "TOKENIZERS_PARALLELISM"  # Hugging Face tokenizers' switch for its thread pool


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _utf8_size(texts: list[str]) -> int:
    """Bytes of the texts in UTF-8 (lone surrogates as 3 bytes each); ASCII needs no encoding to count."""
    joined = "".join(texts)
    return len(joined) if joined.isascii() else len(joined.encode("utf-8", "surrogatepass"))


Encoded = tuple[int, int, np.ndarray, np.ndarray]  # texts, UTF-8 bytes, ids back to back, ids per text


def _encode(pipeline: TextPipeline, dtype: np.dtype, batch: list[str]) -> Encoded:
    ids, lengths = pipeline.encode_ids(batch)
    return len(batch), _utf8_size(batch), ids.astype(dtype), lengths


_worker: dict[str, Any] = {}  # the pipeline and dtype of a worker process, set by `_start_worker`


def _start_worker(pipeline: TextPipeline, dtype: np.dtype) -> None:
    _worker.update(pipeline=pipeline, dtype=dtype)


def _encode_in_worker(batch: list[str]) -> Encoded:
    return _encode(_worker["pipeline"], _worker["dtype"], batch)


@contextmanager
def _batch_encoder(
    pipeline: TextPipeline, dtype: np.dtype, workers: int
) -> Iterator[Callable[[Iterable[list[str]]], Iterator[Encoded]]]:
    """A function: batches -> their `Encoded`, in order. With `workers` > 1 the batches are cleaned and
    tokenized in that many forked processes, up to 2 x `workers` batches ahead (cleaning and the word
    cache of `TextTokenizer.encode_ids` are Python, one core per process). The pool lives as long as
    the context; a batch iterable is drained before the function returns, so a failing read never
    strands finished batches of an earlier shard."""
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield lambda batches: (_encode(pipeline, dtype, batch) for batch in batches)
        return
    # Forked workers inherit the fitted pipeline, no pickling, no re-import. tokenizers turns its own
    # threads off in a child forked after the parent used them and warns on stderr; with the variable
    # set it only turns them off (the workers are the parallelism here). Restored when the pool ends.
    saved = os.environ.get(TOKENIZERS_THREADS)
    os.environ[TOKENIZERS_THREADS] = "false"
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(workers, context, _start_worker, (pipeline, dtype)) as pool:

            def encode(batches: Iterable[list[str]]) -> Iterator[Encoded]:
                pending: deque[Future[Encoded]] = deque()
                try:
                    for batch in batches:
                        pending.append(pool.submit(_encode_in_worker, batch))
                        if len(pending) > 2 * workers:
                            yield pending.popleft().result()
                    while pending:
                        yield pending.popleft().result()
                except BrokenProcessPool:
                    raise PtftError(
                        "a worker process tokenizing the corpus died (killed, perhaps for lack of memory); the "
                        "finished shards are kept: run the same command again to resume"
                    ) from None

            yield encode
    finally:
        if saved is None:
            os.environ.pop(TOKENIZERS_THREADS, None)
        else:
            os.environ[TOKENIZERS_THREADS] = saved


def _write_shard(stem: Path, ids: np.ndarray, lengths: np.ndarray) -> int:
    """`stem`.bin (the ids) and `stem`.idx (each text's start offset, and the end), each written whole
    under a temporary name first; -> the number of ids."""
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for suffix, array in ((".bin", ids), (".idx", offsets)):
        tmp = stem.with_name(f"{stem.name}{suffix}.tmp")
        array.tofile(tmp)
        os.replace(tmp, stem.with_name(stem.name + suffix))
    return int(offsets[-1])


MAX_DEFAULT_WORKERS = 8  # each worker holds a tokenizer, a word cache (~40 MB) and batches in flight


def _cores() -> int:
    """Worker processes by default: the cores this process may use, at most MAX_DEFAULT_WORKERS (a container's
    CPU quota is not visible here; pass workers= to match it)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, MAX_DEFAULT_WORKERS)


def _shard_batches(stream: Iterator[str], batch_size: int, texts: int) -> Iterator[list[str]]:
    """The next `texts` texts of `stream` (fewer at its end) in batches of at most `batch_size`."""
    while texts > 0:
        batch = list(islice(stream, min(batch_size, texts)))
        if not batch:
            return
        texts -= len(batch)
        yield batch


@dataclass
class PrepareReport:
    texts: int
    tokens: int
    shards: int
    bytes_read: int
    seconds: float

    @property
    def mb_per_second(self) -> float:
        return self.bytes_read / 1e6 / max(self.seconds, 1e-9)


def _start_or_resume(folder: Path, pipeline: TextPipeline) -> dict[str, Any]:
    """The progress of the preparation in `folder` (`{"shards": [...]}` of finished shards; none when new),
    after checking it was started with this tokenizer and removing any shard it did not finish."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / INDEX).is_file():
        raise DataError(f"{folder} already holds a prepared corpus ({INDEX}); choose another folder or remove it")
    state_path = folder / PIPELINE
    state = pipeline.state_dict()
    if state_path.is_file() and json.loads(state_path.read_text()) != json.loads(json.dumps(state)):
        raise DataError(f"{folder} was started with another tokenizer; resume with the same one or use a new folder")
    _atomic_write(state_path, json.dumps(state))
    done = json.loads((folder / PROGRESS).read_text()) if (folder / PROGRESS).is_file() else {"shards": []}
    for stale in folder.glob("shard-*"):
        if stale.stem not in {s["name"] for s in done["shards"]} or stale.suffix == ".tmp":
            stale.unlink()  # a shard the last run did not finish
    return done


def prepare_shards(
    texts: Iterable[str],
    out: str | Path,
    pipeline: TextPipeline,
    texts_per_shard: int = 1_000_000,
    batch_size: int = 10_000,
    progress: Any = None,
    workers: int | None = None,
    read_report: Callable[[], dict[str, Any]] | None = None,
) -> PrepareReport:
    """Tokenize `texts` with `pipeline` into shards under `out`, resuming a preparation left unfinished.

    `progress(texts_done)` is called after every batch (for a progress bar). `workers`: processes that
    clean and tokenize (default: one per core, at most MAX_DEFAULT_WORKERS; 1 = in this process). The shards
    do not depend on it. `read_report()`, called once `texts` is exhausted, adds what reading it found (the bad
    records skipped) to the index, and so to every bundle pre-trained from the folder."""
    folder, done = Path(out), _start_or_resume(Path(out), pipeline)
    consumed = sum(s["texts"] for s in done["shards"])
    dtype = token_dtype(pipeline.tokenizer.vocab_size_)
    start, stream, bytes_read = time.perf_counter(), iter(texts), 0
    for _ in islice(stream, consumed):  # skip what finished shards hold
        pass
    workers = workers if workers is not None else _cores()
    with _batch_encoder(pipeline, dtype, workers) as encode:
        while True:
            name = f"shard-{len(done['shards']):05d}"
            chunk_ids: list[np.ndarray] = []  # per batch: its texts' ids back to back, and ids per text
            chunk_lengths: list[np.ndarray] = []
            count = 0
            for batch_texts, batch_bytes, ids, lengths in encode(_shard_batches(stream, batch_size, texts_per_shard)):
                bytes_read += batch_bytes
                chunk_ids.append(ids)
                chunk_lengths.append(lengths)
                count += batch_texts
                if progress is not None:
                    progress(consumed + count)
            if count == 0:
                break
            tokens = _write_shard(folder / name, np.concatenate(chunk_ids), np.concatenate(chunk_lengths))
            done["shards"].append({"name": name, "texts": count, "tokens": tokens})
            _atomic_write(folder / PROGRESS, json.dumps(done))
            consumed += count
            if count < texts_per_shard:
                break
    index = {
        "format_version": FORMAT_VERSION,
        "dtype": dtype.name,
        "shards": done["shards"],
        "texts": sum(s["texts"] for s in done["shards"]),
        "tokens": sum(s["tokens"] for s in done["shards"]),
        **(read_report() if read_report is not None else {}),
    }
    if index["texts"] == 0:
        raise DataError("the corpus holds no texts to prepare")
    _atomic_write(folder / INDEX, json.dumps(index, indent=2))
    (folder / PROGRESS).unlink()
    seconds = time.perf_counter() - start
    return PrepareReport(index["texts"], index["tokens"], len(index["shards"]), bytes_read, seconds)


class TokenShards:
    """A prepared corpus on disk: `len`, `lengths` (tokens per text, int32) and `batch(indices)` ->
    right-padded (B, T) int64 ids.

    `lengths` is the one per-text array in memory (4 bytes a text). Rows are read with positioned reads
    (`os.pread`: the start offset, then the ids), not through memory maps: a map's pages count as the
    process's memory, and the kernel maps 64 KB around every row touched, so a long run over a large
    corpus would come to hold most of it. Safe in forked loader workers (no shared file position)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        index_path = self.folder / INDEX
        if not index_path.is_file():
            hint = (
                " (preparation did not finish: run ptft data prepare again to resume)"
                if (self.folder / PROGRESS).is_file()
                else ""
            )
            raise DataError(f"{self.folder}: no {INDEX}; not a prepared corpus{hint}")
        try:
            index = json.loads(index_path.read_text())
            self._dtype = np.dtype(index["dtype"])
            self._names = [str(s["name"]) for s in index["shards"]]
            counts = np.array([int(s["texts"]) for s in index["shards"]], dtype=np.int64)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise DataError(f"{index_path}: malformed index ({exc})") from None
        self.pipeline = TextPipeline.from_state(json.loads((self.folder / PIPELINE).read_text()))
        self.pad_id = self.pipeline.pad_id
        self.max_length = self.pipeline.tokenizer.max_length
        self._first = np.concatenate([[0], np.cumsum(counts)])  # global index of each shard's first text
        lengths = np.empty(int(self._first[-1]), dtype=np.int32)
        for s, name in enumerate(self._names):  # one shard's offsets in memory at a time
            offsets = np.fromfile(self.folder / f"{name}.idx", dtype=np.int64)
            size = (self.folder / f"{name}.bin").stat().st_size
            if (
                len(offsets) - 1 != counts[s]
                or offsets[-1] * self._dtype.itemsize != size
                or offsets[0] != 0
                or (np.diff(offsets) < 0).any()
            ):
                raise DataError(f"{self.folder}/{name}: sizes do not match {INDEX}; prepare it again")
            lengths[self._first[s] : self._first[s + 1]] = np.diff(offsets)
        self.lengths = torch.from_numpy(lengths)
        self.source = str(self.folder)
        self.skipped, self.skipped_at = int(index.get("skipped", 0)), list(index.get("skipped_at", []))
        self._open()

    def _open(self) -> None:
        self._bins = [open(self.folder / f"{name}.bin", "rb") for name in self._names]  # noqa: SIM115
        self._idxs = [open(self.folder / f"{name}.idx", "rb") for name in self._names]  # noqa: SIM115

    def __getstate__(self) -> dict[str, Any]:  # for loader workers started by spawn: reopen, do not copy
        return {k: v for k, v in self.__dict__.items() if k not in ("_bins", "_idxs")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open()

    def __len__(self) -> int:
        return int(self._first[-1])

    def __iter__(self) -> Iterator[np.ndarray]:
        for name in self._names:
            offsets = np.fromfile(self.folder / f"{name}.idx", dtype=np.int64)
            tokens = np.memmap(self.folder / f"{name}.bin", dtype=self._dtype, mode="r")
            for start, end in zip(offsets[:-1], offsets[1:]):
                yield np.array(tokens[start:end])
            del tokens

    def __getitem__(self, indices: torch.Tensor) -> Batch:
        """The rows at `indices` as a batch stream reads them: right-padded ids and their padding mask."""
        ids = self.batch(indices)
        return Batch({MAIN: ids}, ids == self.pad_id)

    def _row(self, shard: int, local: int, length: int) -> np.ndarray:
        size = self._dtype.itemsize
        start = int.from_bytes(os.pread(self._idxs[shard].fileno(), 8, 8 * local), "little", signed=True)
        data = os.pread(self._bins[shard].fileno(), length * size, start * size)
        if len(data) != length * size:
            raise DataError(f"{self.folder}/{self._names[shard]}.bin is shorter than its index; prepare it again")
        return np.frombuffer(data, dtype=self._dtype)

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        rows = indices.tolist()
        lengths = self.lengths[indices].tolist()
        out = torch.full((len(rows), max([1, *lengths])), self.pad_id, dtype=torch.int64)
        shard_of = (np.searchsorted(self._first, rows, side="right") - 1).tolist()
        for r, (i, s, length) in enumerate(zip(rows, shard_of, lengths)):
            out[r, :length] = torch.from_numpy(self._row(s, i - int(self._first[s]), length).astype(np.int64))
        return out
