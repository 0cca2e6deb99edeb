"""TableNormalizer: fitted once, saved as JSON, the same inputs after a round trip; missing values at fit and
at transform, unseen categories, constant and all-missing columns, columns missing or extra at transform."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ptft.data.table import TableSet
from ptft.errors import DataError
from ptft.preprocess import TableNormalizer, preprocessor_from_state
from ptft.preprocess.table import MISSING_ID, UNKNOWN_ID, quantile_normal
from tests.conftest import synthetic_table


def table(**columns: list[str | None]) -> TableSet:
    kinds = {k: "numeric" if all(v is None or v.replace(".", "").isdigit() for v in vs) else "categorical"
             for k, vs in columns.items()}  # fmt: skip
    return TableSet({k: np.array(v, dtype=object) for k, v in columns.items()}, kinds=kinds, source="t.csv")


def test_state_round_trip_gives_identical_inputs() -> None:
    data = synthetic_table(60)
    fitted = TableNormalizer().fit(data)
    again = preprocessor_from_state(json.loads(json.dumps(fitted.state_dict())), expect="table")
    first, second = fitted.batch(data), again.batch(data)
    for name in ("numeric", "missing", "categorical"):
        torch.testing.assert_close(first[name], second[name])
    assert first["numeric"].shape == (60, 3) and first["categorical"].shape == (60, 2)


def test_missing_values_at_fit_and_transform() -> None:
    fitted = TableNormalizer().fit(table(x=["1", None, "3", "5"], c=["a", "b", None, "a"]))
    assert fitted.missing_flags == [0]  # x had a gap: it gets an indicator
    out = fitted.batch(table(x=[None, "3"], c=[None, "b"]))
    assert out["missing"][:, 0].tolist() == [1.0, 0.0]
    assert abs(out["numeric"][0, 0].item()) < 1e-6  # imputed with the median, which maps to the centre
    assert out["categorical"][:, 0].tolist() == [MISSING_ID, UNKNOWN_ID]  # b is seen once < min_frequency 2


def test_an_unseen_category_is_unknown_and_counted() -> None:
    fitted = TableNormalizer(min_frequency=1).fit(table(c=["a", "b", "a"]))
    out = fitted.batch(table(c=["a", "zebra", "zebra"]))
    assert out["categorical"][:, 0].tolist() == [2, UNKNOWN_ID, UNKNOWN_ID]
    assert fitted.last_report == {"unknown_categories": {"c": 2}}


def test_constant_and_all_missing_columns_are_left_out_with_a_note() -> None:
    with pytest.warns(UserWarning, match="left out constant column"):
        fitted = TableNormalizer().fit(table(x=["1", "2", "3"], k=["7", "7", "7"], e=[None, None, None]))
    assert fitted.columns == ["x"] and fitted.dropped_ == ["k", "e"]
    assert fitted.batch(table(x=["2"]))["numeric"].shape == (1, 1)  # a dropped column is not required later


def test_a_column_missing_at_transform_is_an_error_naming_it_and_extras_are_ignored_with_a_note() -> None:
    fitted = TableNormalizer().fit(table(x=["1", "2", "3"], y=["4", "5", "6"]))
    with pytest.raises(DataError, match=r"t.csv: lacks column\(s\) y that the model reads"):
        fitted.batch(table(x=["1"]))
    with pytest.warns(UserWarning, match="ignoring column"):
        fitted.batch(table(x=["1"], y=["2"], z=["3"]))


def test_a_stray_string_at_transform_names_its_row_and_column() -> None:
    fitted = TableNormalizer().fit(table(x=["1", "2", "3"]))
    data = TableSet({"x": np.array(["1", "two"], dtype=object)}, where=["new.csv:2", "new.csv:3"], source="new.csv")
    with pytest.raises(DataError, match=r"new.csv:3: column 'x' holds 'two', but it held numbers"):
        fitted.batch(data)


def test_quantile_transform_is_monotone_and_bounded() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.lognormal(size=500), [1e9]])  # skewed, with an outlier
    quantiles = np.quantile(x, np.linspace(0, 1, 256))
    z = quantile_normal(np.sort(x), quantiles)
    assert np.all(np.diff(z) >= 0) and np.abs(z).max() < 5.3 and abs(np.median(z)) < 0.05
    ties = quantile_normal(np.array([2.0, 2.0]), np.array([1.0, 2.0, 2.0, 2.0, 3.0]))
    assert abs(ties[0]) < 1e-9  # a value on tied quantiles maps to their middle
