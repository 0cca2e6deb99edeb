"""Tables: `.csv`, `.tsv`, `.jsonl` and `.parquet` files of named columns (a file whose header has the text
column is text), and the built-ins `letter` and `income`. Fed through `TableNormalizer` (numeric columns
imputed and quantile-normalised with missing indicators, categories as vocabularies); an MLP and masked-cell
modelling by default (the FT-Transformer and SCARF on request); no augmentation while fine-tuning, SCARF's
corruption as FixMatch's views; logistic regression, LightGBM and k-nearest neighbours as baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptft.config import DataConfig, ModelConfig
from ptft.data.batch import Batch
from ptft.data.table import TABLE_SUFFIXES, TableOptions, TableSet, cell, column_kinds, header_of, read_table
from ptft.data.table_builtin import TABLE_DATASETS
from ptft.data.table_inspect import format_table_inspection, inspect_table
from ptft.data.types import Examples, ReadStats
from ptft.errors import ConfigError, DataError
from ptft.modalities.base import MODALITIES, NOT_MINE, SURE, Modality
from ptft.modalities.table_baselines import knn_baseline, lightgbm_baseline, logreg_baseline
from ptft.objectives.scarf import corrupt
from ptft.preprocess import Preprocessor, TableNormalizer

# --encoder -> the registered encoder (a bundle's spec names the registered one, which compare's scratch copies)
ENCODER_NAMES = {"mlp": "table-mlp", "ft-transformer": "ft-transformer", "table-mlp": "table-mlp"}
WEAK_CORRUPTION, STRONG_CORRUPTION = 0.1, 0.4  # FixMatch's views: shares of cells swapped within the batch


def _normalizer(preprocessor: Preprocessor) -> TableNormalizer:
    assert isinstance(preprocessor, TableNormalizer), "the table modality feeds tables through TableNormalizer"
    return preprocessor


def _table(examples: Examples) -> TableSet:
    assert isinstance(examples, TableSet), "the table modality reads TableSets"
    return examples


def table_options(options: DataConfig) -> TableOptions:
    return TableOptions(options.label_column, options.id_column, options.drop_columns, options.categorical,
                        options.numeric, options.skip_bad)  # fmt: skip


def with_options(table: TableSet, options: DataConfig) -> TableSet:
    """A built-in table with the user's --drop-columns and kind overrides applied, as a file's would be."""
    given = (*options.drop_columns, *options.categorical, *options.numeric)
    unknown = [c for c in given if c not in table.columns]
    if unknown:
        raise DataError(
            f"{table.source}: has no column(s) {', '.join(unknown)}; its columns: {', '.join(table.columns)}"
        )
    if not given:
        return table
    columns = {k: v for k, v in table.columns.items() if k not in options.drop_columns}
    kinds, bad = column_kinds(columns, table.where, options.categorical, options.numeric, ReadStats(options.skip_bad))
    table = TableSet(columns, kinds=kinds, where=table.where, ids=table.ids, labels=table.labels,
                     label_names=table.label_names, source=table.source)  # fmt: skip
    return table.subset(np.array([i for i in range(len(table)) if i not in bad], dtype=np.int64)) if bad else table


def _weak(batch: Batch) -> Batch:
    return corrupt(batch, WEAK_CORRUPTION)


def _strong(batch: Batch) -> Batch:
    return corrupt(batch, STRONG_CORRUPTION)


class TableModality(Modality):
    name = "table"
    examples = TableSet
    default_encoder = "mlp"
    default_objective = "masked-cells"
    forms = "a table file (.csv/.tsv/.jsonl/.parquet without the text column)"
    baselines = {"logreg": logreg_baseline, "lightgbm": lightgbm_baseline, "knn": knn_baseline}

    def claim(self, spec: str, options: DataConfig) -> int:
        if spec in TABLE_DATASETS:
            return SURE
        path = Path(spec).expanduser()
        if path.suffix.lower() not in TABLE_SUFFIXES or not path.is_file():
            return NOT_MINE
        if options.text_column != DataConfig().text_column:
            return NOT_MINE  # a text column was named: the user reads the file as text
        header = header_of(path)
        if header is None or options.text_column in header or [h.lower() for h in header] == ["path", "label"]:
            return NOT_MINE  # unreadable, a text file, or an image list
        return SURE

    def builtin_names(self) -> list[str]:
        return TABLE_DATASETS.names()

    def read(self, spec: str, data_dir: str, options: DataConfig, labels: bool) -> Examples:
        if spec in TABLE_DATASETS:
            return with_options(TABLE_DATASETS.get(spec)(data_dir), options)
        return read_table(spec, table_options(options), labels)

    def from_memory(self, data: Any) -> Examples | None:
        """A dict of equal-length columns (lists or arrays), or a pandas DataFrame."""
        if hasattr(data, "to_dict") and hasattr(data, "columns"):
            data = {str(c): data[c].tolist() for c in data.columns}
        if not isinstance(data, dict) or not data or not all(isinstance(v, list | np.ndarray) for v in data.values()):
            return None
        columns = {str(k): np.array([cell(v) for v in values], dtype=object) for k, values in data.items()}
        kinds, _ = column_kinds(columns, [f"row {i + 1}" for i in range(len(next(iter(columns.values()))))], (), (),
                                ReadStats(10**9))  # fmt: skip
        return TableSet(columns, kinds=kinds, source="in-memory table")

    def fit_preprocessor(self, examples: Examples, options: DataConfig, cleaned: bool = False) -> Preprocessor:
        return TableNormalizer(options.min_frequency).fit(_table(examples))

    def content(self, examples: Examples) -> Any:
        return _table(examples)

    def encoder_spec(self, model: ModelConfig, preprocessor: Preprocessor) -> dict[str, Any]:
        chosen = self.default_encoder if model.encoder == "auto" else model.encoder
        if chosen not in ENCODER_NAMES:
            raise ConfigError(f"--encoder {chosen} does not read tables; table encoders: mlp, ft-transformer")
        normalizer = _normalizer(preprocessor)
        spec: dict[str, Any] = {
            "name": ENCODER_NAMES[chosen], "numeric": len(normalizer.numeric_),
            "missing_flags": normalizer.missing_flags, "cardinalities": normalizer.cardinalities,
            "dim": model.dim, "depth": model.depth, "activation": model.activation, "dropout": model.dropout,
        }  # fmt: skip
        if chosen == "ft-transformer":
            spec["heads"] = model.heads
        return spec

    def objective_context(self, model: ModelConfig, preprocessor: Preprocessor) -> dict[str, Any]:
        normalizer = _normalizer(preprocessor)
        return {"numeric": len(normalizer.numeric_), "cardinalities": normalizer.cardinalities}

    def leakage_keys(self, examples: Examples) -> list[str] | None:
        """A row's cells joined: equal for exact duplicate rows."""
        table = _table(examples)
        names = sorted(table.columns)
        return ["\x1f".join("\x1e" if v is None else v for v in row) for row in
                zip(*(table.columns[n] for n in names), strict=True)]  # fmt: skip

    def inspection(self, spec: str, data_dir: str, options: DataConfig) -> str | None:
        return format_table_inspection(inspect_table(_table(self.read(spec, data_dir, options, labels=False))))

    def preprocessing_report(self, preprocessor: Preprocessor) -> dict[str, Any]:
        return dict(_normalizer(preprocessor).last_report)


MODALITIES.register("table")(TableModality(finetune_augment=None, views=(_weak, _strong)))
