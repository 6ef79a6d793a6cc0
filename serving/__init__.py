"""The scoring service (BentoML), its request and answer models, and the manager dashboard.

Each worker runs LightGBM on one OpenMP thread unless ``OMP_NUM_THREADS`` says otherwise:
a request predicts a handful of rows, where thread start-up costs more than it saves, and the
workers already fill the cores (``benchmarks/bench_serving.py``: ``/score`` p50 at
concurrency 1 went from 13.1 to 8.6 ms).  Set before LightGBM's OpenMP runtime loads, which
importing any ``serving`` module precedes.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
