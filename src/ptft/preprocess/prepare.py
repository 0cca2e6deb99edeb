"""`ptft data prepare`: fit the tokenizer on the start of a corpus (or, when resuming, take the one the
preparation started with) and tokenize the whole corpus into token shards (`shards.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

from ptft.config import PrepareConfig
from ptft.data.text import ReadStats, read_texts
from ptft.data.types import skip_report
from ptft.preprocess.pipeline import TextPipeline
from ptft.preprocess.shards import PIPELINE, PrepareReport, prepare_shards
from ptft.preprocess.text import TextTokenizer


def prepare_folder(cfg: PrepareConfig, progress: Callable[[int], None]) -> tuple[PrepareReport, ReadStats]:
    """-> (the shards' report, the bad records the last read of the corpus skipped). `progress(n)` is told
    how many texts are done."""
    passes: list[ReadStats] = []  # one per read of the corpus: fitting the tokenizer, writing the shards

    def texts() -> Iterator[str]:
        passes.append(ReadStats())
        return (e.text for e in read_texts(cfg.data, cfg.text_column, None, cfg.skip_bad, stats=passes[-1]))

    saved = Path(cfg.out) / PIPELINE
    if saved.is_file():  # resuming: the tokenizer the preparation started with
        pipeline = TextPipeline.from_state(json.loads(saved.read_text()))
    else:
        pipeline = TextPipeline(TextTokenizer(cfg.tokenizer, cfg.vocab_size, cfg.max_length))
        pipeline.fit([pipeline.clean(t) for t in islice(texts(), cfg.fit_texts)])
    report = prepare_shards(
        texts(),
        cfg.out,
        pipeline,
        cfg.texts_per_shard,
        progress=progress,
        workers=cfg.workers or None,
        read_report=lambda: skip_report(passes[-1]),
    )
    return report, passes[-1]
