"""Text: `.txt` (one example a line), folders of `.txt` (a sub-folder per class), `.jsonl`, `.csv`, `.tsv`,
`.parquet` (columns by name), folders made by `ptft data prepare`, and the built-in WordNet supersenses.
Fed through `TextPipeline` (cleaning + a subword tokenizer fitted on the corpus); a small transformer and
masked language modelling by default; no augmentation while fine-tuning; TF-IDF + logistic regression and
a frozen pretrained encoder + logistic regression as baselines, the real SetFit as the peer
(`text_peers.py`). Existing encoders come in as Hugging Face
BERT-family folders (`hf:PATH`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer

from ptft.config import DataConfig, ModelConfig
from ptft.data.batch import Batch
from ptft.data.corpus import prepare_corpus
from ptft.data.load import TEXT_DATASETS, read_text_set
from ptft.data.table import TABLE_SUFFIXES, header_of
from ptft.data.text import SUFFIX_FORMATS
from ptft.data.types import Examples, TextSet, skip_report
from ptft.errors import ConfigError
from ptft.modalities import text_peers
from ptft.modalities.base import MODALITIES, NOT_MINE, SURE, Baseline, Imported, Modality, PretrainInputs
from ptft.models import build_encoder, mean_pool
from ptft.models.specs import text_encoder_spec
from ptft.preprocess import Preprocessor, TextPipeline, TextTokenizer
from ptft.preprocess.pipeline import CHARS_PER_TOKEN_BOUND
from ptft.preprocess.pipeline import STEPS as CLEAN_STEPS
from ptft.preprocess.shards import INDEX as SHARD_INDEX
from ptft.preprocess.shards import TokenShards


def _pipeline(preprocessor: Preprocessor) -> TextPipeline:
    assert isinstance(preprocessor, TextPipeline), "the text modality feeds texts through TextPipeline"
    return preprocessor


def _texts(examples: Examples) -> list[str]:
    assert isinstance(examples, TextSet), "the text modality reads TextSets"
    return examples.texts


def tfidf_features(train: Examples, test: Examples, context: dict[str, Any]) -> tuple[Any, Any]:
    """TF-IDF of word 1-2-grams and character 2-5-grams (sublinear tf), fitted on the training texts."""
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)
    texts = _texts(train)
    x_train = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
    x_test = hstack([words.transform(_texts(test)), chars.transform(_texts(test))]).tocsr()
    return x_train, x_test


@torch.no_grad()
def frozen_features(folder: str, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Mean-pooled last-layer features of a Hugging Face BERT-family folder, read by ptft (no transformers),
    pooled the way sentence-transformers pools them (Reimers & Gurevych 2019)."""
    from ptft.models.hf import load_hf_folder

    imported = load_hf_folder(folder)
    encoder = build_encoder(imported.spec).eval()
    encoder.load_state_dict(imported.tensors)
    ids, _ = imported.tokenizer.transform(texts)
    order = torch.argsort(ids.ne(int(imported.tokenizer.pad_id_ or 0)).sum(1))  # similar lengths share a batch
    out = torch.empty(len(texts), encoder.dim)
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        batch = ids[rows]
        out[rows] = mean_pool(encoder(batch), encoder.padding(batch))
    return out.numpy()


def frozen_encoder_features(train: Examples, test: Examples, context: dict[str, Any]) -> tuple[Any, Any]:
    """A frozen pretrained encoder's features (`context["hf_path"]`), cached per text in `context["cache"]`."""
    if not context.get("hf_path"):
        raise ValueError("minilm-frozen-logreg needs hf_path (the model folder)")
    cache = context.get("cache")
    cache = {} if cache is None else cache
    missing = [t for t in dict.fromkeys(_texts(train) + _texts(test)) if t not in cache]
    if missing:
        cache.update(zip(missing, frozen_features(context["hf_path"], missing)))
    return np.stack([cache[t] for t in _texts(train)]), np.stack([cache[t] for t in _texts(test)])


def raw_texts(train: Examples, test: Examples, context: dict[str, Any]) -> tuple[Any, Any]:
    """The texts themselves, for a peer that reads text (SetFit)."""
    return _texts(train), _texts(test)


def setfit_classifier(seed: int, context: dict[str, Any]) -> text_peers.SetFitClassifier:
    return text_peers.SetFitClassifier(context["hf_path"], seed)


class TextModality(Modality):
    name = "text"
    examples = TextSet
    default_encoder = "transformer"
    default_objective = "mlm"
    forms = (
        "a .txt file (one example a line), a folder of .txt files (a sub-folder per class), .jsonl, .csv or .tsv "
        "with a text column, .parquet, or a folder made by ptft data prepare"
    )
    baselines = {
        "tfidf-logreg": Baseline(tfidf_features, 10.0, "TF-IDF word + character n-grams, logistic regression"),
        "minilm-frozen-logreg": Baseline(
            frozen_encoder_features, 1.0, "a frozen Hugging Face encoder's features, logistic regression", "hf_path"
        ),
        "setfit": Baseline(
            raw_texts, 1.0, "SetFit (the setfit library): contrastive fine-tuning of the encoder on pairs, then LR",
            "hf_path", classifier=setfit_classifier, peer=True, missing=text_peers.missing, classes_only=True,
        ),
    }

    def claim(self, spec: str, options: DataConfig) -> int:
        if spec in TEXT_DATASETS:
            return SURE
        path = Path(spec).expanduser()
        suffix = path.suffix.lower()
        if path.is_dir():
            prepared = (path / SHARD_INDEX).is_file()
            return SURE if prepared or next(path.rglob("*.txt"), None) is not None else NOT_MINE
        if suffix in TABLE_SUFFIXES and path.is_file() and options.text_column == DataConfig().text_column:
            header = header_of(path)  # a file of columns without a text column is a table, unless one was named
            if header is not None and options.text_column not in header:
                return NOT_MINE
        return SURE if suffix in SUFFIX_FORMATS else NOT_MINE

    def builtin_names(self) -> list[str]:
        return TEXT_DATASETS.names()

    def read(self, spec: str, data_dir: str, options: DataConfig, labels: bool) -> Examples:
        label_column = options.label_column if labels else None
        return read_text_set(spec, data_dir, options.text_column, label_column, options.skip_bad)

    def from_memory(self, data: Any) -> Examples | None:
        return TextSet(list(data), source="texts") if isinstance(data, list) else None

    def fit_preprocessor(self, examples: Examples, options: DataConfig, cleaned: bool = False) -> Preprocessor:
        tokenizer = TextTokenizer(options.tokenizer, options.vocab_size, options.max_length)
        pipeline = TextPipeline(tokenizer, list(CLEAN_STEPS) if options.clean else [])
        texts = _texts(examples)
        return pipeline.fit(texts if cleaned else [pipeline.clean(t) for t in texts])

    def content(self, examples: Examples) -> Any:
        return _texts(examples)

    def encoder_spec(self, model: ModelConfig, preprocessor: Preprocessor) -> dict[str, Any]:
        pipeline = _pipeline(preprocessor)
        tokenizer = pipeline.tokenizer
        vocab_size = int(tokenizer.vocab_size_)
        return text_encoder_spec(model, vocab_size, pipeline.pad_id, tokenizer.max_length, self.default_encoder)

    def objective_context(self, model: ModelConfig, preprocessor: Preprocessor) -> dict[str, Any]:
        pipeline = _pipeline(preprocessor)
        return {"mask_id": pipeline.tokenizer.mask_id_, "special_ids": pipeline.special_ids,
                "pad_id": pipeline.pad_id, "max_length": pipeline.tokenizer.max_length}  # fmt: skip

    def leakage_keys(self, examples: Examples) -> list[str] | None:
        return _texts(examples)

    def start_options(self, preprocessor: Preprocessor, options: DataConfig) -> DataConfig:
        pipeline = _pipeline(preprocessor)  # an imported tokenizer normalises itself: no cleaning then
        return replace(options, clean=bool(pipeline.clean_steps), max_length=pipeline.tokenizer.max_length)

    def corpus(self, examples: Examples, options: DataConfig, held: Examples | None) -> tuple[Examples, dict[str, Any]]:
        """Cut, cleaned, de-duplicated, and without the held-out texts (`--holdout`)."""
        limit = options.max_length * CHARS_PER_TOKEN_BOUND
        if held is not None and not isinstance(held, TextSet):
            raise ConfigError(f"--holdout {held.source} is not text; give the held-out texts of this text corpus")
        held_texts = None if held is None else held.texts
        texts, report = prepare_corpus(
            _texts(examples), options.clean, options.dedup, held_texts, examples.source, limit
        )
        return TextSet(texts, source=examples.source), report

    def corpus_counts(self, preprocessor: Preprocessor, rows: Batch) -> dict[str, Any]:
        lengths = rows.lengths
        assert lengths is not None, "text batches carry their padding mask"
        return {"tokens": int(lengths.sum()), "truncated": _pipeline(preprocessor).truncated_count}

    def preprocessing_report(self, preprocessor: Preprocessor) -> dict[str, Any]:
        return {"truncated": _pipeline(preprocessor).truncated_count}

    def prepared_source(self, spec: str, seed: int, share: Callable[[Any], Any]) -> PretrainInputs | None:
        """A folder made by `ptft data prepare`, read row by row with the tokenizer it was made with."""
        if not (Path(spec) / SHARD_INDEX).is_file():
            return None
        shards = TokenShards(spec)
        index = (Path(spec) / SHARD_INDEX).read_bytes()
        about = {"source": spec, "n": len(shards), "fingerprint": hashlib.sha256(index).hexdigest()}
        about.update(skip_report(shards))  # bad records `ptft data prepare --skip-bad N` skipped
        corpus = {"tokens": int(shards.lengths.sum()), "prepared": True}
        return PretrainInputs(shards.pipeline, shards, about, corpus)

    def import_encoder(self, path: str, options: DataConfig) -> Imported:
        from ptft.models.hf import load_hf_folder

        imported = load_hf_folder(path, options.max_length)
        tensors = {f"encoder.{k}": v for k, v in imported.tensors.items()}
        origin = {"path": f"hf:{path}", "kind": "huggingface", "source": imported.source}
        # No cleaning steps: the imported tokenizer normalises as the model was trained to expect.
        return Imported(TextPipeline(imported.tokenizer, []), imported.spec, tensors, origin)


MODALITIES.register("text")(TextModality())
