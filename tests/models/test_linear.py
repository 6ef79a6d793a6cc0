"""LinearScorer's design matrix: exactly the documented columns, row-major, however built."""

from __future__ import annotations

import pickle

import numpy as np

from training.linear import LinearScorer


def _data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    x[:, 3] = rng.integers(0, 4, n)
    x[:, 4] = rng.integers(0, 30, n)  # many rare levels: some get no indicator
    x[rng.random((n, 5)) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + (x[:, 3] == 2) + rng.normal(0, 0.5, n) > 0.5).astype(float)
    return x, y


def _documented_design(s: LinearScorer, x: np.ndarray) -> np.ndarray:
    """The module docstring's columns, one by one: log-compressed numeric, indicators, levels."""
    columns = []
    for j in s.numeric_:
        v = x[:, j].astype(np.float64)
        filled = np.where(np.isnan(v), s.median_[s.numeric_.index(j)], v)
        columns.append(np.sign(filled) * np.log1p(np.abs(filled)))
    columns += [np.isnan(x[:, s.numeric_[k]]).astype(np.float64) for k in s.indicators_]
    columns += [(x[:, j] == code).astype(np.float64) for j, codes in s.levels_ for code in codes]
    return np.column_stack(columns)


def test_design_is_the_documented_columns_row_major() -> None:
    x, y = _data()
    s = LinearScorer(categorical=[3, 4]).fit(x, y)
    assert any(len(codes) < 30 for j, codes in s.levels_ if j == 4)  # rare levels dropped
    for rows in (x, x[:2], x[::3]):
        design = s._raw(rows)
        assert design.flags["C_CONTIGUOUS"]  # sums over rows must not change with the layout
        np.testing.assert_array_equal(design, _documented_design(s, rows))


def test_a_refit_and_a_pickled_copy_score_the_same_as_a_fresh_fit() -> None:
    x, y = _data()
    s = LinearScorer(categorical=[3, 4]).fit(x, y)
    s.decision(x[:3])
    s.fit(x[:300], y[:300])  # refitting must not reuse the first fit's columns
    fresh = LinearScorer(categorical=[3, 4]).fit(x[:300], y[:300])
    assert [len(c) for _, c in s.levels_] != [len(c) for _, c in
                                            LinearScorer(categorical=[3, 4]).fit(x, y).levels_]
    np.testing.assert_array_equal(s.decision(x), fresh.decision(x))
    copy = pickle.loads(pickle.dumps(fresh))
    np.testing.assert_array_equal(copy.decision(x), fresh.decision(x))
    np.testing.assert_allclose(copy.contributions(x).sum(1) + copy.bias_, copy.decision(x))
