"""Baselines that need no neural training of ours, on the same K-per-class training split as ptft's runs:
logistic regression on pixels (images), TF-IDF word and character n-grams + logistic regression (text),
and a frozen pretrained text encoder's mean-pooled features + logistic regression (e.g. all-MiniLM-L6-v2,
the way sentence-transformers pools it: Reimers & Gurevych 2019)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ptft.data.splits import label_budget
from ptft.data.types import ImageSet, TextSet
from ptft.evaluate.metrics import classification_report
from ptft.models import build_encoder, mean_pool
from ptft.registry import Registry

Data = ImageSet | TextSet
BASELINES = Registry[Callable[..., dict[str, Any]]]("baseline")


def _fit_and_score(x_train: Any, y_train: np.ndarray, x_test: Any, test: Data, names: list[str], c: float) -> dict:
    assert test.labels is not None
    clf = LogisticRegression(max_iter=3000, C=c).fit(x_train, y_train)
    report = classification_report(test.labels, clf.predict(x_test), names)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def _train_split(train: Data, per_class: int, seed: int) -> np.ndarray:
    assert train.labels is not None
    return label_budget(train.labels, per_class, per_class, seed, train.source).train


@BASELINES.register("logreg")
def pixel_logreg(train: ImageSet, test: ImageSet, per_class: int, seed: int, **_: Any) -> dict[str, Any]:
    """Logistic regression on standardised pixels."""
    assert train.labels is not None
    index = _train_split(train, per_class, seed)
    x_train = train.images[index].reshape(len(index), -1).astype(np.float32)
    scaler = StandardScaler().fit(x_train)
    x_test = scaler.transform(test.images.reshape(len(test), -1).astype(np.float32))
    return _fit_and_score(scaler.transform(x_train), train.labels[index], x_test, test, train.label_names, 0.1)


@BASELINES.register("tfidf-logreg")
def tfidf_logreg(train: TextSet, test: TextSet, per_class: int, seed: int, **_: Any) -> dict[str, Any]:
    """TF-IDF of word 1-2-grams and character 2-5-grams (sublinear tf), logistic regression (C=10)."""
    assert train.labels is not None
    index = _train_split(train, per_class, seed)
    texts = [train.texts[i] for i in index.tolist()]
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)
    x_train = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
    x_test = hstack([words.transform(test.texts), chars.transform(test.texts)]).tocsr()
    return _fit_and_score(x_train, train.labels[index], x_test, test, train.label_names, 10.0)


@torch.no_grad()
def frozen_features(folder: str, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Mean-pooled last-layer features of a Hugging Face BERT-family folder, read by ptft (no transformers)."""
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


@BASELINES.register("minilm-frozen-logreg")
def frozen_logreg(
    train: TextSet, test: TextSet, per_class: int, seed: int, hf_path: str = "", cache: dict | None = None, **_: Any
) -> dict[str, Any]:
    """A frozen pretrained encoder's mean-pooled features + logistic regression (features cached per text)."""
    assert train.labels is not None
    if not hf_path:
        raise ValueError("minilm-frozen-logreg needs hf_path (the model folder)")
    cache = {} if cache is None else cache
    index = _train_split(train, per_class, seed)
    texts = [train.texts[i] for i in index.tolist()]
    missing = [t for t in dict.fromkeys(texts + test.texts) if t not in cache]
    if missing:
        cache.update(zip(missing, frozen_features(hf_path, missing)))
    x_train = np.stack([cache[t] for t in texts])
    x_test = np.stack([cache[t] for t in test.texts])
    return _fit_and_score(x_train, train.labels[index], x_test, test, train.label_names, 1.0)
