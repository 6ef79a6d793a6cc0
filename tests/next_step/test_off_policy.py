"""Off-policy estimators: toy logs by hand, identities, a simulated bandit, intervals, errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from training.next_step.off_policy import (
    Z_95,
    PolicyValue,
    direct_method,
    doubly_robust,
    dr_difference,
    evaluate_policy,
    ips,
    snips,
)

# ---------------------------------------------------------------------------------------------
# a toy log of 4 rows and 2 actions, every value below worked out by hand

A = np.array([0, 1, 1, 0])
P = np.array([0.5, 0.25, 0.8, 0.4])
Y = np.array([1.0, 0.0, 1.0, 1.0])
PI = np.array([[0.2, 0.8], [0.2, 0.8], [1.0, 0.0], [0.5, 0.5]])
Q = np.array([[0.6, 0.2], [0.5, 0.1], [0.9, 0.3], [0.7, 0.4]])
# pi(a_i|x_i) = [0.2, 0.8, 0.0, 0.5]  ->  w = [0.2/0.5, 0.8/0.25, 0/0.8, 0.5/0.4]
#                                           = [0.4, 3.2, 0.0, 1.25]
# w y = [0.4, 0, 0, 1.25], sum 1.65;  sum w = 4.85


def test_ips_by_hand() -> None:
    v = ips(A, P, Y, PI)
    assert v.estimate == pytest.approx(1.65 / 4)  # 0.4125
    # normal interval: terms [0.4, 0, 0, 1.25] minus 0.4125 = [-0.0125, -0.4125, -0.4125, 0.8375]
    # squares sum to 0.00015625 + 2 * 0.17015625 + 0.70140625 = 1.041875
    # sample variance 1.041875 / 3; se = sqrt(1.041875 / 3 / 4) = 0.294657...
    se = math.sqrt(1.041875 / 3 / 4)
    assert se == pytest.approx(0.294657, abs=1e-6)
    assert v.ci_low == pytest.approx(0.4125 - 1.959964 * se, abs=1e-6)
    assert v.ci_high == pytest.approx(0.4125 + 1.959964 * se, abs=1e-6)
    assert (v.n, v.estimator) == (4, "ips")


def test_snips_by_hand() -> None:
    v = snips(A, P, Y, PI)
    assert v.estimate == pytest.approx(1.65 / 4.85)  # 0.340206...
    # delta-method terms w (y - V) / mean(w), V = 1.65 / 4.85, mean(w) = 1.2125:
    v_hat = 1.65 / 4.85
    terms = np.array([0.4 * (1 - v_hat), 3.2 * (0 - v_hat), 0.0, 1.25 * (1 - v_hat)]) / 1.2125
    se = math.sqrt((terms**2).sum() / 3 / 4)
    assert v.ci_low == pytest.approx(v_hat - Z_95 * se)
    assert v.ci_high == pytest.approx(v_hat + Z_95 * se)
    assert v.estimator == "snips"


def test_direct_method_by_hand() -> None:
    # sum_a pi q per row: 0.2*0.6 + 0.8*0.2 = 0.28; 0.2*0.5 + 0.8*0.1 = 0.18; 1*0.9 = 0.9;
    # 0.5*0.7 + 0.5*0.4 = 0.55  ->  sum 1.91, mean 0.4775
    v = direct_method(PI, Q)
    assert v.estimate == pytest.approx(0.4775)
    assert v.estimator == "dm"
    assert v.ci_low < 0.4775 < v.ci_high


def test_doubly_robust_by_hand() -> None:
    # residuals y - q(x, a_i): 1 - 0.6 = 0.4; 0 - 0.1 = -0.1; 1 - 0.3 = 0.7; 1 - 0.7 = 0.3
    # w * residual: 0.4*0.4 = 0.16; 3.2*-0.1 = -0.32; 0*0.7 = 0; 1.25*0.3 = 0.375  -> sum 0.215
    # DR = (1.91 + 0.215) / 4 = 0.53125
    v = doubly_robust(A, P, Y, PI, Q)
    assert v.estimate == pytest.approx(0.53125)
    assert v.estimator == "dr"


def test_clipping_caps_the_weights_by_hand() -> None:
    # clip = 1: w = [0.4, 1, 0, 1]; w y = [0.4, 0, 0, 1]  -> IPS 1.4 / 4, SNIPS 1.4 / 2.4
    assert ips(A, P, Y, PI, clip=1.0).estimate == pytest.approx(0.35)
    assert snips(A, P, Y, PI, clip=1.0).estimate == pytest.approx(1.4 / 2.4)
    # DR corrections with w = [0.4, 1, 0, 1]: 0.16 - 0.1 + 0 + 0.3 = 0.36 -> (1.91 + 0.36) / 4
    assert doubly_robust(A, P, Y, PI, Q, clip=1.0).estimate == pytest.approx(2.27 / 4)
    # a cap above every weight changes nothing
    assert ips(A, P, Y, PI, clip=10.0).estimate == pytest.approx(ips(A, P, Y, PI).estimate)


def test_evaluate_policy_returns_the_four_estimators() -> None:
    out = evaluate_policy(A, P, Y, PI, Q)
    assert sorted(out) == ["dm", "dr", "ips", "snips"]
    assert out["ips"] == ips(A, P, Y, PI)
    assert out["snips"] == snips(A, P, Y, PI)
    assert out["dm"] == direct_method(PI, Q)
    assert out["dr"] == doubly_robust(A, P, Y, PI, Q)
    assert all(isinstance(v, PolicyValue) for v in out.values())


def test_policy_value_is_frozen_and_holds_plain_floats() -> None:
    v = ips(A, P, Y, PI)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.estimate = 0.0  # type: ignore[misc]
    assert all(type(x) is float for x in (v.estimate, v.ci_low, v.ci_high))
    assert type(v.n) is int


# ---------------------------------------------------------------------------------------------
# identities


def test_dr_equals_dm_when_the_logged_residuals_are_zero() -> None:
    y_exact = Q[np.arange(4), A]  # outcomes equal q_hat at the logged actions: [0.6, 0.1, 0.3, 0.7]
    assert doubly_robust(A, P, y_exact, PI, Q).estimate == pytest.approx(
        direct_method(PI, Q).estimate)
    # and it is the residuals that move DR away from DM otherwise
    assert doubly_robust(A, P, Y, PI, Q).estimate != pytest.approx(direct_method(PI, Q).estimate)


def test_dr_equals_ips_when_q_hat_is_zero() -> None:
    zeros = np.zeros_like(Q)
    dr, iw = doubly_robust(A, P, Y, PI, zeros), ips(A, P, Y, PI)
    assert dr.estimate == pytest.approx(iw.estimate)
    assert (dr.ci_low, dr.ci_high) == pytest.approx((iw.ci_low, iw.ci_high))


def test_snips_equals_ips_when_the_weights_average_to_one() -> None:
    a = np.array([0, 1, 0, 1])
    p = np.array([0.5, 0.5, 0.5, 0.5])
    pi = np.array([[0.25, 0.75], [0.25, 0.75], [0.75, 0.25], [0.75, 0.25]])
    # w = [0.5, 1.5, 1.5, 0.5], mean 1
    y = np.array([1.0, 0.0, 1.0, 1.0])
    # IPS = (0.5 + 1.5 + 0.5) / 4 = 0.625 = SNIPS = 2.5 / 4
    assert ips(a, p, y, pi).estimate == pytest.approx(0.625)
    assert snips(a, p, y, pi).estimate == pytest.approx(0.625)
    # with weights not averaging 1 they differ (the toy log: 0.4125 vs 0.3402)
    assert ips(A, P, Y, PI).estimate != pytest.approx(snips(A, P, Y, PI).estimate)


# ---------------------------------------------------------------------------------------------
# a simulated bandit with known probabilities

P_X1 = 0.4  # P(context bit = 1)
PI0 = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])  # logging policy pi_0(a | x), rows x = 0, 1
MU = np.array([[0.5, 0.35, 0.3], [0.7, 0.6, 0.4]])  # P(y = 1 | x, a)
DETERMINISTIC = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # x = 0 -> action 2, x = 1 -> 1
STOCHASTIC = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])


def true_value(policy: np.ndarray) -> float:
    # deterministic: 0.6 * 0.3 + 0.4 * 0.6 = 0.42
    # stochastic: 0.6 * (0.1 + 0.105 + 0.15) + 0.4 * (0.07 + 0.36 + 0.12) = 0.213 + 0.22 = 0.433
    return float((1 - P_X1) * policy[0] @ MU[0] + P_X1 * policy[1] @ MU[1])


def simulate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Context bit, logged action (drawn from PI0), binary outcome (drawn from MU)."""
    x = (rng.random(n) < P_X1).astype(np.int64)
    a = (rng.random(n)[:, None] > np.cumsum(PI0[x], axis=1)).sum(axis=1)
    y = (rng.random(n) < MU[x, a]).astype(np.float64)
    return x, a, y


@pytest.fixture(scope="module")
def bandit() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return simulate(20_000, np.random.default_rng(1))


def test_true_values_by_hand() -> None:
    assert true_value(DETERMINISTIC) == pytest.approx(0.42)
    assert true_value(STOCHASTIC) == pytest.approx(0.433)


@pytest.mark.parametrize("policy", [DETERMINISTIC, STOCHASTIC], ids=["deterministic", "stochastic"])
def test_ips_snips_dr_cover_the_true_value(bandit, policy) -> None:
    x, a, y = bandit
    truth = true_value(policy)
    # an outcome model that ignores the action: the logged mean outcome per context bit
    blind = np.array([y[x == 0].mean(), y[x == 1].mean()])
    q_wrong = np.repeat(blind[x][:, None], 3, axis=1)
    out = evaluate_policy(a, PI0[x, a], y, policy[x], q_wrong)
    for name in ("ips", "snips", "dr"):
        v = out[name]
        assert v.ci_low <= truth <= v.ci_high, (name, v, truth)
        assert v.ci_high - v.ci_low < 0.05, (name, v)  # informative, not merely wide
        assert abs(v.estimate - truth) < 0.02, (name, v, truth)
    # DM on the action-blind model: E[y | x] under logging is 0.435 (x = 0) and 0.52 (x = 1), so
    # DM -> 0.6 * 0.435 + 0.4 * 0.52 = 0.469, far outside its own (narrow) interval
    dm = out["dm"]
    assert dm.estimate - truth > 0.03
    assert not dm.ci_low <= truth <= dm.ci_high
    # the same DM with the true outcome model is unbiased (the bias is the model's)
    exact = direct_method(policy[x], MU[x])
    assert exact.ci_low <= truth <= exact.ci_high


def test_dr_difference_by_hand_is_the_difference_of_the_two_dr_values() -> None:
    # DR(PI) on the toy log: DM terms [0.28, 0.18, 0.9, 0.55]; corrections w (y - q(a_i)):
    # [0.4 * 0.4, 3.2 * -0.1, 0, 1.25 * 0.3] = [0.16, -0.32, 0, 0.375] -> terms
    # [0.44, -0.14, 0.9, 0.925], mean 0.53125.  Always action 0: DM [0.6, 0.5, 0.9, 0.7],
    # w = [2, 0, 0, 2.5], corrections [0.8, 0, 0, 0.75] -> terms [1.4, 0.5, 0.9, 1.45], 1.0625
    always_0 = np.tile([1.0, 0.0], (4, 1))
    assert doubly_robust(A, P, Y, PI, Q).estimate == pytest.approx(0.53125)
    assert doubly_robust(A, P, Y, always_0, Q).estimate == pytest.approx(1.0625)
    d = dr_difference(A, P, Y, PI, always_0, Q)
    assert d.estimate == pytest.approx(0.53125 - 1.0625)
    assert dr_difference(A, P, Y, PI, PI, Q).estimate == 0.0


def test_dr_difference_covers_the_true_difference_and_is_narrower_paired(bandit) -> None:
    x, a, y = bandit
    truth = true_value(DETERMINISTIC) - true_value(STOCHASTIC)  # 0.42 - 0.433
    q = MU[x]
    d = dr_difference(a, PI0[x, a], y, DETERMINISTIC[x], STOCHASTIC[x], q)
    assert d.ci_low <= truth <= d.ci_high, (d, truth)
    one = doubly_robust(a, PI0[x, a], y, DETERMINISTIC[x], q)
    assert d.ci_high - d.ci_low < one.ci_high - one.ci_low
    with pytest.raises(ValueError, match="rows, expected"):
        dr_difference(a, PI0[x, a], y, DETERMINISTIC[x], STOCHASTIC[x][:10], q)


def test_dr_is_right_when_only_the_outcome_model_is(bandit) -> None:
    """Propensities that ignore the context bias IPS; DR with the true outcome model is not."""
    x, a, y = bandit
    truth = true_value(DETERMINISTIC)
    marginal = np.bincount(a, minlength=3) / len(a)  # about [0.44, 0.30, 0.26]
    p_wrong = marginal[a]
    iw = ips(a, p_wrong, y, DETERMINISTIC[x])
    # E[w y] = 0.6 * (0.1 / 0.26) * 0.3 + 0.4 * (0.3 / 0.3) * 0.6 = 0.309
    assert truth - iw.estimate > 0.08
    assert not iw.ci_low <= truth <= iw.ci_high
    dr = doubly_robust(a, p_wrong, y, DETERMINISTIC[x], MU[x])
    assert dr.ci_low <= truth <= dr.ci_high


def test_normal_intervals_cover_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    truth = true_value(STOCHASTIC)
    hits = {"ips": 0, "snips": 0, "dr": 0}
    reps = 300
    for _ in range(reps):
        x, a, y = simulate(1000, rng)
        q_wrong = np.full((len(a), 3), 0.5)
        out = evaluate_policy(a, PI0[x, a], y, STOCHASTIC[x], q_wrong)
        for name in hits:
            hits[name] += out[name].ci_low <= truth <= out[name].ci_high
    # binomial(300, 0.95) is within [0.91, 0.99] with probability > 0.999
    for name, h in hits.items():
        assert 0.91 <= h / reps <= 0.99, (name, h / reps)


# ---------------------------------------------------------------------------------------------
# the cluster bootstrap


def test_group_bootstrap_is_wider_when_a_group_shares_its_outcome() -> None:
    rng = np.random.default_rng(3)
    n_groups, size = 100, 20
    groups = np.repeat(np.arange(n_groups), size)
    y = np.repeat((rng.random(n_groups) < 0.5).astype(float), size)  # one outcome per group
    a = rng.integers(0, 2, n_groups * size)
    p = np.full(len(a), 0.5)
    pi = np.tile([0.5, 0.5], (len(a), 1))  # w = 1 everywhere: IPS is the mean outcome
    rows = ips(a, p, y, pi)
    clustered = ips(a, p, y, pi, groups=groups)
    assert clustered.estimate == rows.estimate
    # row se ~ sqrt(0.25 / 2000) = 0.011; group se ~ sqrt(0.25 / 100) = 0.05 (about 4.5x)
    assert (clustered.ci_high - clustered.ci_low) > 3 * (rows.ci_high - rows.ci_low)
    assert clustered.ci_low < clustered.estimate < clustered.ci_high


@pytest.mark.parametrize("name", ["ips", "snips", "dm", "dr"])
def test_bootstrap_of_singleton_groups_matches_the_normal_interval(bandit, name) -> None:
    x, a, y = (v[:4000] for v in bandit)
    q = np.full((len(a), 3), 0.4)
    rows = evaluate_policy(a, PI0[x, a], y, STOCHASTIC[x], q)[name]
    boot = evaluate_policy(a, PI0[x, a], y, STOCHASTIC[x], q, groups=np.arange(len(a)))[name]
    assert boot.estimate == rows.estimate
    width_rows, width_boot = rows.ci_high - rows.ci_low, boot.ci_high - boot.ci_low
    assert width_boot == pytest.approx(width_rows, rel=0.2)
    assert boot.ci_low == pytest.approx(rows.ci_low, abs=0.2 * width_rows)


def test_bootstrap_is_reproducible_by_seed_and_takes_string_labels() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2, 200)
    y = rng.random(200)
    groups = np.array([f"deal-{i // 4}" for i in range(200)])
    pi = np.tile([0.3, 0.7], (200, 1))
    p = np.full(200, 0.5)
    first = snips(a, p, y, pi, groups=groups, seed=11)
    assert first == snips(a, p, y, pi, groups=groups, seed=11)
    assert first != snips(a, p, y, pi, groups=groups, seed=12)
    fewer = snips(a, p, y, pi, groups=groups, seed=11, n_boot=50)
    assert fewer != first


# ---------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"propensities": P[:3]}, "propensities has shape"),
        ({"outcomes": Y[:3]}, "outcomes has shape"),
        ({"target": PI[:3]}, "target has 3 rows"),
        ({"target": PI[:, 0]}, "target must be 2-D"),
        ({"actions": A.reshape(2, 2)}, "actions must be 1-D"),
        ({"actions": A.astype(float)}, "actions must be integer"),
        ({"actions": np.array([0, 1, 2, 0])}, r"actions must be codes in 0\.\.1"),
        ({"actions": np.array([0, -1, 1, 0])}, r"actions must be codes in 0\.\.1"),
        ({"propensities": np.array([0.5, 0.0, 0.8, 0.4])}, r"propensities must lie in \(0, 1\]"),
        ({"propensities": np.array([0.5, 1.2, 0.8, 0.4])}, r"propensities must lie in \(0, 1\]"),
        ({"propensities": np.array([0.5, np.nan, 0.8, 0.4])}, r"propensities must lie"),
        ({"outcomes": np.array([1.0, np.nan, 1.0, 1.0])}, r"outcomes has NaN at rows \[1\]"),
        ({"outcomes": np.array([1.0, np.inf, 1.0, 1.0])}, "outcomes must be finite"),
        ({"target": PI + np.array([[0, 1e-5]] + [[0, 0]] * 3)}, "target rows must sum to 1"),
        ({"target": np.array([[1.5, -0.5]] * 4)}, r"target must hold probabilities"),
        ({"clip": 0.0}, "clip must be a positive number"),
        ({"clip": -1.0}, "clip must be a positive number"),
        ({"groups": np.arange(3)}, "groups has shape"),
        ({"groups": np.zeros(4)}, "groups has a single group"),
        ({"groups": np.arange(4), "n_boot": 0}, "n_boot must be a positive integer"),
    ],
)
def test_value_errors_name_the_argument(kwargs, match) -> None:
    args = {"actions": A, "propensities": P, "outcomes": Y, "target": PI} | kwargs
    with pytest.raises(ValueError, match=match):
        ips(**args)
    with pytest.raises(ValueError, match=match):
        doubly_robust(**args, q_hat=Q)


def test_q_hat_is_checked() -> None:
    with pytest.raises(ValueError, match="q_hat has shape"):
        doubly_robust(A, P, Y, PI, Q[:, :1])
    with pytest.raises(ValueError, match="q_hat has shape"):
        direct_method(PI, Q[:3])
    with pytest.raises(ValueError, match="q_hat has NaN"):
        direct_method(PI, np.where(Q > 0.8, np.nan, Q))


def test_empty_logs_and_undefined_snips() -> None:
    with pytest.raises(ValueError, match="actions is empty"):
        ips(np.array([], dtype=int), np.array([]), np.array([]), np.zeros((0, 2)))
    never = np.tile([0.0, 1.0], (2, 1))  # the target never takes the logged action 0
    with pytest.raises(ValueError, match="SNIPS is undefined"):
        snips(np.array([0, 0]), np.array([0.5, 0.5]), np.array([1.0, 0.0]), never)
    # IPS is still defined there: 0
    assert ips(np.array([0, 0]), np.array([0.5, 0.5]), np.array([1.0, 0.0]), never).estimate == 0


def test_tiny_deviations_from_a_row_sum_of_one_are_accepted() -> None:
    nearly = PI + np.array([[0, 1e-8]] + [[0, 0]] * 3)
    assert ips(A, P, Y, nearly).estimate == pytest.approx(ips(A, P, Y, PI).estimate)


def test_one_row_has_no_normal_interval() -> None:
    v = ips(np.array([1]), np.array([0.5]), np.array([1.0]), np.array([[0.0, 1.0]]))
    assert v.estimate == 2.0
    assert math.isnan(v.ci_low) and math.isnan(v.ci_high)
