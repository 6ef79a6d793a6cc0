"""One target's shipped scorer and how it is chosen on the validation window.

A :class:`TargetScorer` turns the checked float32 feature matrix into a raw log-odds margin
(the calibrator maps it to a probability): a LightGBM booster, optionally blended with a
:class:`~training.linear.LinearScorer` as ``weight * tree + (1 - weight) * linear`` (both are
log-odds).  Its :meth:`TargetScorer.contributions` split that margin per feature (LightGBM's
SHAP values and the linear model's exact terms), with one exception said in the docstring: a
``linear_tree`` booster has no SHAP values in LightGBM, so its reasons come from the plain
booster fitted beside it.

:func:`select_scorer` keeps the candidate with the best validation ROC AUC; a tie keeps the
earlier (simpler) one.

Example:
    >>> y = np.array([0, 0, 1, 1])
    >>> select_scorer({"a": np.array([0.1, 0.4, 0.3, 0.9]), "b": np.array([0.1, 0.2, 0.3, 0.4])},
    ...               y)
    ('b', {'a': 0.75, 'b': 1.0})
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from sklearn.metrics import roc_auc_score

from training.booster_predict import predict
from training.linear import LinearScorer


class Booster(Protocol):
    """What a target needs of a booster (LightGBM's ``Booster`` or a constant stand-in)."""

    def predict(self, x: np.ndarray, raw_score: bool = ..., pred_contrib: bool = ...,
                num_threads: int = ...) -> np.ndarray:
        """Raw log-odds (``raw_score``) or per-feature contributions (``pred_contrib``)."""

    def feature_importance(self, importance_type: str = ...) -> np.ndarray:
        """Importance per feature."""


class TargetScorer:
    """The chosen scorer of one target (see the module docstring).

    Example:
        >>> class Flat:  # a booster that always says log-odds 0
        ...     def predict(self, x, raw_score=False, pred_contrib=False, num_threads=0):
        ...         return np.zeros((len(x), x.shape[1] + 1)) if pred_contrib else np.zeros(len(x))
        >>> s = TargetScorer("lightgbm", Flat())
        >>> s.margin(np.zeros((1, 2))).tolist(), s.contributions(np.zeros((1, 2))).shape
        ([0.0], (1, 3))
    """

    def __init__(self, kind: str, booster: Booster, *, linear: LinearScorer | None = None,
                 weight: float = 1.0, explainer: Booster | None = None) -> None:
        self.kind = kind
        self.booster = booster
        self.linear = linear
        self.weight = float(weight) if linear is not None else 1.0
        self.explainer = explainer if explainer is not None else booster

    def margin(self, x: np.ndarray) -> np.ndarray:
        """The raw log-odds of the target for each row of the checked matrix."""
        out = np.zeros(len(x))
        if self.weight > 0:
            out += self.weight * np.asarray(predict(self.booster, x, raw_score=True),
                                            dtype=np.float64)
        if self.linear is not None and self.weight < 1:
            out += (1 - self.weight) * self.linear.decision(x)
        return out

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature log-odds contributions plus the bias as the last column."""
        n_features = x.shape[1]
        out = np.zeros((len(x), n_features + 1))
        if not len(x):
            return out
        if self.weight > 0:
            out += self.weight * predict(self.explainer, x, pred_contrib=True)
        if self.linear is not None and self.weight < 1:
            out[:, :n_features] += (1 - self.weight) * self.linear.contributions(x)
            out[:, -1] += (1 - self.weight) * self.linear.bias_
        return out

    def feature_importance(self, kind: str = "gain") -> np.ndarray:
        """The tree part's importance (the explainer's for a linear-tree booster)."""
        return np.asarray(self.explainer.feature_importance(kind), dtype=np.float64)

    def describe(self) -> str:
        """The scorer in words, for the model card and run tags.

        Example:
            >>> TargetScorer("lightgbm", None).describe()
            'LightGBM'
        """
        tree = {"lightgbm": "LightGBM", "lightgbm_linear_tree": "LightGBM (linear trees)"}
        if self.linear is None or self.weight >= 1:
            return tree.get(self.kind.split("+")[0], self.kind)
        if self.weight <= 0:
            return "logistic regression"
        base = tree.get(self.kind.split("+")[0], "LightGBM")
        return f"{self.weight:.2f} x {base} + {1 - self.weight:.2f} x logistic regression"


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    if len(y) == 0 or y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, score))


def select_scorer(valid_margins: dict[str, np.ndarray], y_valid: np.ndarray
                  ) -> tuple[str, dict[str, float]]:
    """The candidate with the best validation ROC AUC (the first on ties) and every AUC."""
    aucs = {name: _auc(y_valid, m) for name, m in valid_margins.items()}
    best = max(aucs, key=lambda k: (aucs[k] if aucs[k] == aucs[k] else -1.0,
                                    -list(aucs).index(k)))
    return best, {k: round(v, 6) for k, v in aucs.items()}
