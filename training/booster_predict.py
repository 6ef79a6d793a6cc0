"""LightGBM predictions sized for the request path: a few rows through the single-row C API.

``Booster.predict`` parses its parameter string and builds a predictor on every call, which
costs 20-50 us even when the trees themselves take one: most of a single deal's LightGBM
time.  LightGBM's C API has a path made for that case (``LGBM_BoosterPredictForMatSingleRow
FastInit`` once, then ``...SingleRowFast`` per row); :func:`predict` uses it for up to
:data:`FEW_ROWS` rows and ``Booster.predict`` (with :func:`threads_for` threads) above, and
both give the same numbers (tests/models/test_booster_predict.py checks every kind).

The fast configurations are made once per booster, prediction kind, dtype, width and number
of iterations (``best_iteration``, as ``Booster.predict`` reads it), kept
beside the booster (never pickled with it) and freed with it.  LightGBM locks the booster's
single-row predictor itself, so concurrent requests may share them; each call writes its own
output array.

Example:
    >>> import lightgbm as lgb
    >>> x = np.arange(200, dtype=np.float64).reshape(100, 2)
    >>> booster = lgb.train({"objective": "binary", "verbosity": -1, "min_data_in_leaf": 5},
    ...                     lgb.Dataset(x, (x[:, 0] > 99).astype(int)), num_boost_round=3)
    >>> bool(np.array_equal(predict(booster, x[:2], raw_score=True),
    ...                     booster.predict(x[:2], raw_score=True)))
    True
"""

from __future__ import annotations

import ctypes
import os
import threading
import weakref
from collections.abc import Mapping

import numpy as np

#: Up to this many rows a booster predicts on one thread: waking OpenMP's threads costs more
#: than a few rows' trees (on a busy 2-core machine, 3 ms instead of 35 us per call).
SINGLE_THREAD_ROWS = 256
#: Up to this many rows :func:`predict` goes row by row through the single-row C API.
FEW_ROWS = 64

_KINDS = {"normal": 0, "raw": 1, "contrib": 3}  # LightGBM's C_API_PREDICT_* codes
_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}  # C_API_DTYPE_FLOAT32/64


def threads_for(n_rows: int, env: Mapping[str, str] | None = None) -> int:
    """LightGBM ``num_threads`` for predicting ``n_rows`` rows.

    One thread up to :data:`SINGLE_THREAD_ROWS`; above, ``DEALRISK_BATCH_THREADS`` when set
    (the service sets it to the worker's cores while it keeps OpenMP at one thread for
    single deals), else 0: LightGBM's default, OpenMP's thread count.

    Example:
        >>> threads_for(2), threads_for(10_000, {})
        (1, 0)
        >>> threads_for(10_000, {"DEALRISK_BATCH_THREADS": "2"})
        2
    """
    if n_rows <= SINGLE_THREAD_ROWS:
        return 1
    env = os.environ if env is None else env
    text = env.get("DEALRISK_BATCH_THREADS", "")
    return int(text) if text.isdigit() else 0


def predict(booster: object, x: np.ndarray, *, raw_score: bool = False,
            pred_contrib: bool = False) -> np.ndarray:
    """``booster.predict(x, ...)``, through the single-row C API when ``x`` has few rows.

    Anything that is not a LightGBM ``Booster`` fed a 2-D float32 / float64 matrix (a
    constant stand-in, another dtype) goes to its own ``predict``; so do more rows than
    :data:`FEW_ROWS`.  Shapes are ``Booster.predict``'s: one value per row, or a row of
    values per row (several classes, contributions).
    """
    import lightgbm

    x = np.asarray(x)
    kind = "contrib" if pred_contrib else "raw" if raw_score else "normal"
    if (not isinstance(booster, lightgbm.Booster) or x.ndim != 2 or len(x) > FEW_ROWS
            or x.dtype not in _DTYPES or not len(x)):
        return booster.predict(x, raw_score=raw_score, pred_contrib=pred_contrib,
                               num_threads=threads_for(len(x)))
    return _rows_of(booster).predict(booster, x, kind)


class _SingleRows:
    """One booster's fast single-row configurations, made on first use (see the module)."""

    def __init__(self, booster: object) -> None:
        self._handle = booster._handle  # type: ignore[attr-defined]
        self._configs: dict[tuple[int, int, int, int], tuple[ctypes.c_void_p, int]] = {}
        self._lock = threading.Lock()
        weakref.finalize(booster, _free, self._configs)

    def predict(self, booster: object, x: np.ndarray, kind: str) -> np.ndarray:
        """``booster``'s predictions of kind ``kind`` for the rows of ``x``, row by row."""
        from lightgbm.basic import _LIB, _safe_call

        # the iterations Booster.predict would use, read now (best_iteration may be reset)
        iterations = int(getattr(booster, "best_iteration", 0) or 0)
        config, width = self._config(_KINDS[kind], _DTYPES[x.dtype], x.shape[1], iterations)
        x = np.ascontiguousarray(x)
        out = np.empty((len(x), width), dtype=np.float64)
        out_len = ctypes.c_int64(0)
        row_bytes = x.strides[0]
        base, out_base = x.ctypes.data, out.ctypes.data
        for i in range(len(x)):
            _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFast(
                config, ctypes.c_void_p(base + i * row_bytes), ctypes.byref(out_len),
                ctypes.cast(out_base + i * width * 8, ctypes.POINTER(ctypes.c_double))))
        return out[:, 0] if width == 1 and kind != "contrib" else out

    def _config(self, kind: int, dtype: int, width: int, iterations: int
                ) -> tuple[ctypes.c_void_p, int]:
        key = (kind, dtype, width, iterations)
        found = self._configs.get(key)
        if found is not None:
            return found
        from lightgbm.basic import _LIB, _c_str, _safe_call

        with self._lock:
            if key not in self._configs:
                config, n_out = ctypes.c_void_p(), ctypes.c_int64(0)
                _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                    self._handle, ctypes.c_int(kind), ctypes.c_int(0),
                    ctypes.c_int(iterations), ctypes.c_int(dtype), ctypes.c_int32(width),
                    _c_str("num_threads=1"), ctypes.byref(config)))
                _safe_call(_LIB.LGBM_BoosterCalcNumPredict(
                    self._handle, ctypes.c_int(1), ctypes.c_int(kind), ctypes.c_int(0),
                    ctypes.c_int(iterations), ctypes.byref(n_out)))
                self._configs[key] = (config, int(n_out.value))
            return self._configs[key]


_BOOSTERS: weakref.WeakKeyDictionary[object, _SingleRows] = weakref.WeakKeyDictionary()
_MADE = threading.Lock()


def _rows_of(booster: object) -> _SingleRows:
    rows = _BOOSTERS.get(booster)
    if rows is None:
        with _MADE:
            rows = _BOOSTERS.get(booster)
            if rows is None:
                rows = _BOOSTERS[booster] = _SingleRows(booster)
    return rows


def _free(configs: dict[tuple[int, int, int, int], tuple[ctypes.c_void_p, int]]) -> None:
    from lightgbm.basic import _LIB

    for config, _ in configs.values():
        _LIB.LGBM_FastConfigFree(config)
    configs.clear()
