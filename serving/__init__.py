"""The scoring service (BentoML), its request and answer models, and the manager dashboard.

Each worker runs LightGBM on one OpenMP thread unless ``OMP_NUM_THREADS`` says otherwise:
a request predicts a handful of rows, where thread start-up costs more than it saves, and the
workers already fill the cores (``benchmarks/bench_serving.py``: ``/score`` p50 at
concurrency 1 went from 13.1 to 8.6 ms).  Large predictions (a ``/score_batch`` or ``/rank``
of hundreds of deals) still use every core the worker may run on, through
``DEALRISK_BATCH_THREADS`` (:func:`training.booster_predict.threads_for`; set it to choose).  Set
before LightGBM's OpenMP runtime loads, which importing any ``serving`` module precedes.
"""

import os

if "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("DEALRISK_BATCH_THREADS", str(len(os.sched_getaffinity(0))))
