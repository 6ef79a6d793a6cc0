"""The single-row C API path gives exactly what ``Booster.predict`` gives, for every kind."""

from __future__ import annotations

import gc
import pickle
import threading

import lightgbm as lgb
import numpy as np
import pytest

from training import booster_predict
from training.booster_predict import FEW_ROWS, predict


def _data(seed: int = 0, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, 5] = rng.integers(0, 4, n)  # a categorical column
    x[rng.random((n, 6)) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + (x[:, 5] == 2) + rng.normal(0, 0.5, n) > 0.5).astype(int)
    return x, y


def _booster(objective: str, y: np.ndarray, x: np.ndarray, **extra: object) -> lgb.Booster:
    params = {"objective": objective, "verbosity": -1, "num_leaves": 7, "seed": 0, **extra}
    data = lgb.Dataset(x, y, categorical_feature=[5])
    return lgb.train(params, data, num_boost_round=25)


@pytest.fixture(scope="module")
def boosters() -> dict[str, lgb.Booster]:
    x, y = _data()
    classes = (np.nan_to_num(x[:, 1]) > 0).astype(int) + y
    return {"binary": _booster("binary", y, x),
            "regression": _booster("regression", x[:, 0] * 0 + y * 2.0, x),
            "multiclass": _booster("multiclass", classes, x, num_class=3)}


@pytest.mark.parametrize("name", ["binary", "regression", "multiclass"])
@pytest.mark.parametrize("kind", ["normal", "raw", "contrib"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_few_rows_equal_booster_predict(boosters, name, kind, dtype) -> None:
    booster = boosters[name]
    x = _data(seed=1, n=9)[0].astype(dtype)
    flags = {"raw_score": kind == "raw", "pred_contrib": kind == "contrib"}
    want = booster.predict(x, **flags)
    for rows in (x, x[:1], x[::2]):  # a strided view too
        got = predict(booster, rows, **flags)
        expected = booster.predict(np.ascontiguousarray(rows), **flags)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(predict(booster, x, **flags), want)
    assert booster in booster_predict._BOOSTERS  # it went the single-row way


def test_many_rows_and_stand_ins_go_to_their_own_predict(boosters) -> None:
    x = _data(seed=2, n=FEW_ROWS + 1)[0]
    fresh = pickle.loads(pickle.dumps(boosters["binary"]))
    np.testing.assert_array_equal(predict(fresh, x), fresh.predict(x))
    assert fresh not in booster_predict._BOOSTERS
    np.testing.assert_array_equal(predict(boosters["binary"], x, raw_score=True),
                                  boosters["binary"].predict(x, raw_score=True))

    class Constant:
        def predict(self, x, raw_score=False, pred_contrib=False, num_threads=0):
            return np.full(len(x), 0.25)

    assert predict(Constant(), x[:2]).tolist() == [0.25, 0.25]


def test_best_iteration_is_respected_as_booster_predict_does() -> None:
    x, y = _data(seed=3)
    booster = _booster("binary", y, x)
    rows = x[:3]
    np.testing.assert_array_equal(predict(booster, rows), booster.predict(rows))  # all 25
    booster.best_iteration = 5  # set after the first fast prediction: read on every call
    np.testing.assert_array_equal(predict(booster, rows), booster.predict(rows))
    assert not np.array_equal(booster.predict(rows), booster.predict(rows, num_iteration=-1))


def test_a_pickled_booster_predicts_the_same_and_configs_are_freed_with_it(boosters) -> None:
    x = _data(seed=4, n=3)[0]
    predict(boosters["binary"], x)
    copy = pickle.loads(pickle.dumps(boosters["binary"]))
    np.testing.assert_array_equal(predict(copy, x), boosters["binary"].predict(x))
    assert copy in booster_predict._BOOSTERS
    del copy
    gc.collect()
    assert len(booster_predict._BOOSTERS) == len([b for b in boosters.values()
                                                  if b in booster_predict._BOOSTERS])


def test_threads_share_a_booster(boosters) -> None:
    x = _data(seed=5, n=40)[0]
    want = boosters["multiclass"].predict(x)
    wrong: list[int] = []

    def work(i: int) -> None:
        for _ in range(50):
            if not np.array_equal(predict(boosters["multiclass"], x[i:i + 4]), want[i:i + 4]):
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
