"""Built-in tables from Debian's R data packages, read from their `.rda` files by the `rdata` package (no R):

- `letter`: `LetterRecognition` of `r-cran-mlbench` (Frey & Slate 1991; 20,000 rows, 16 integer features of a
  letter's image, 26 classes, label `lettr`);
- `income`: `income` of `r-cran-kernlab` (a marketing survey; 8,993 rows, 13 categorical and ordinal
  columns with missing values, label `INCOME`, 9 classes). Ordinal columns are read as categories.

Each has a fixed stratified test split (TEST_SHARE of each class, seed TEST_SEED): `letter:test` names it,
`letter` the rest (the pool and the label source). The files are found under --data-dir or $PTFT_DATA_DIR,
in R's library (`apt-get install r-cran-mlbench r-cran-kernlab`), or where `make data` unpacks the two
packages without installing R (`apt-get download` + `dpkg-deb -x` into ~/.cache/ptft/r-data).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ptft.data.table import TableSet, cell, column_kinds
from ptft.data.types import ReadStats
from ptft.errors import DataError
from ptft.registry import Registry

TEST_SHARE, TEST_SEED = 0.2, 0
R_LIBRARIES = (Path("/usr/lib/R/site-library"), Path("~/.cache/ptft/r-data/usr/lib/R/site-library").expanduser())


@dataclass(frozen=True)
class RTable:
    package: str  # the R package (Debian: r-cran-<package>)
    name: str  # the data set's name, and its file's stem
    label: str  # the label column


R_TABLES = {"letter": RTable("mlbench", "LetterRecognition", "lettr"), "income": RTable("kernlab", "income", "INCOME")}
TABLE_DATASETS = Registry[Callable[[str], TableSet]]("built-in table")


def find_rda(table: RTable, data_dir: str) -> Path:
    """The `.rda` file of `table`: in the data folder (or its `<package>/data/`), else in an R library."""
    file = f"{table.name}.rda"
    folders = [Path(d).expanduser() for d in (data_dir, os.environ.get("PTFT_DATA_DIR", "")) if d]
    candidates = [p for d in folders for p in (d / file, d / table.package / "data" / file)]
    candidates += [library / table.package / "data" / file for library in R_LIBRARIES]
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(
        f"built-in table needs {file} of the Debian package r-cran-{table.package}, not found in "
        f"{', '.join(str(p.parent) for p in candidates)}; run `make data` (it unpacks the package without R), "
        f"or `sudo apt-get install r-cran-{table.package}`, or pass --data-dir to a folder holding {file}"
    )


@functools.lru_cache(maxsize=4)
def read_rda_table(table: RTable, data_dir: str) -> TableSet:
    """All rows of an R data set as a TableSet (categories as their level names, numbers as written)."""
    try:
        import rdata
    except ImportError:
        raise DataError("the built-in tables need the rdata package: pip install rdata") from None
    path = find_rda(table, data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unknown encoding. Assumed ASCII." for these ASCII files
        frame = rdata.read_rda(str(path))[table.name]
    raw = {str(name): [cell(v) for v in frame[name].astype(object).tolist()] for name in frame.columns}
    labels_raw = raw.pop(table.label)
    columns = {name: np.array(values, dtype=object) for name, values in raw.items()}
    where = [f"{path}#{i + 1}" for i in range(len(labels_raw))]  # messages name the file; ids the data set's row
    ids = [f"{table.name}#{i + 1}" for i in range(len(labels_raw))]
    kinds, _ = column_kinds(columns, where, (), (), ReadStats())
    names = sorted({v for v in labels_raw if v is not None})
    index = {name: k for k, name in enumerate(names)}
    labels = np.array([-1 if v is None else index[v] for v in labels_raw], dtype=np.int64)
    return TableSet(columns, kinds=kinds, where=where, ids=ids, labels=labels, label_names=names, source=str(path))


def test_rows(labels: np.ndarray) -> np.ndarray:
    """The fixed test split: TEST_SHARE of each class's rows, drawn with seed TEST_SEED."""
    rng = np.random.default_rng(TEST_SEED)
    picks = []
    for k in np.unique(labels):
        rows = np.flatnonzero(labels == k)
        picks.append(rng.permutation(rows)[: round(TEST_SHARE * len(rows))])
    return np.sort(np.concatenate(picks))


def builtin_part(name: str, part: str, data_dir: str) -> TableSet:
    """`part` ('train' or 'test') of built-in table `name`."""
    table = read_rda_table(R_TABLES[name], data_dir)
    assert table.labels is not None
    test = test_rows(table.labels)
    index = test if part == "test" else np.setdiff1d(np.arange(len(table)), test)
    chosen = table.subset(index)
    chosen.source = name if part == "train" else f"{name}:test"
    return chosen


def _part(name: str, part: str) -> Callable[[str], TableSet]:
    return lambda data_dir: builtin_part(name, part, data_dir)


for _name in R_TABLES:
    TABLE_DATASETS.register(_name)(_part(_name, "train"))
    TABLE_DATASETS.register(f"{_name}:test")(_part(_name, "test"))
