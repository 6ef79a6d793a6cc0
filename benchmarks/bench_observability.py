"""How observable must the simulator's hidden truth be for a model to reach the oracle.

The oracle scores a snapshot from the hidden truth: the deal's latent traits (intent, urgency,
budget, champion strength, speed, the rep's skill) and whether the buyer is engaged or dark
*that day*.  A model sees only the CRM history.  This script measures, on the same 20k-deal
pipeline, test window and oracle as ``bench_models.py``:

1. **Recovery today**: how well the shipped features recover each hidden quantity (LightGBM
   regression R² on the test window for each latent trait; ROC AUC for the engaged/dark state).
2. **What a model would need**: the shipped model refitted with extra *noisy truth* columns
   -- every latent trait revealed at a given R² (per deal, standardised, independent noise) and
   the engaged/dark state as a score with a given ROC AUC (``exact`` = the state itself) -- and
   its stall / no-decision ROC AUC gap to the oracle at each level.

If the gap stays above a target even when the hidden truth is revealed far better than any
CRM history can reveal it, the target is a property of the simulator, not of the model.

Prints the tables and, last, one JSON line.

    .venv/bin/python benchmarks/bench_observability.py      # ~1 min once the simulation is cached
    .venv/bin/python benchmarks/bench_observability.py --seed 2 --grid 0.9:0.999,1:exact
    .venv/bin/python benchmarks/bench_observability.py --grid 0:exact:,1:exact:intent+speed
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from bench_models import load_truth, simulate_canonical
from scipy.stats import norm

LATENTS: tuple[str, ...] = ("intent", "urgency", "budget", "champion", "speed", "rep_skill")
TARGETS: tuple[str, ...] = ("stall", "no_decision")
EXACT = 1.0  # engaged "AUC" meaning: the state itself


@dataclass(frozen=True)
class Level:
    """One observability level: ``latents`` at ``latent_r2``, engaged state at ``engaged_auc``.

    ``engaged_auc`` None leaves the state out; ``EXACT`` gives the state itself.

    Example:
        >>> Level.parse("0.9:0.999").engaged_auc, Level.parse("1:exact").engaged_auc
        (0.999, 1.0)
        >>> Level.parse("1:exact:intent+speed").latents, Level.parse("0:exact:").latents
        (('intent', 'speed'), ())
    """

    latent_r2: float
    engaged_auc: float | None
    latents: tuple[str, ...] = LATENTS

    @classmethod
    def parse(cls, text: str) -> Level:
        """Read ``R²:AUC[:trait+trait]`` (AUC ``-`` = state left out, ``exact`` = the state).

        Without the third field every latent trait is revealed; an empty one reveals none.
        """
        r2, _, rest = text.partition(":")
        auc, has_traits, traits = rest.partition(":")
        engaged = None if auc in ("", "-") else EXACT if auc == "exact" else float(auc)
        latents = tuple(t for t in traits.split("+") if t) if has_traits else LATENTS
        level = cls(float(r2), engaged, latents)
        if not 0.0 <= level.latent_r2 <= 1.0 or (engaged is not None and not 0.5 <= engaged <= 1):
            raise ValueError(f"bad level {text!r}: R² in [0, 1], engaged AUC in [0.5, 1]")
        if unknown := sorted(set(latents) - set(LATENTS)):
            raise ValueError(f"bad level {text!r}: unknown traits {unknown}; known: {LATENTS}")
        return level

    def label(self) -> str:
        """Short human label, e.g. ``latents R² 0.9, dark state AUC 0.999``."""
        state = ("unseen" if self.engaged_auc is None else "exact" if self.engaged_auc == EXACT
                 else f"AUC {self.engaged_auc:g}")
        if not self.latents:
            return f"no latent trait, dark state {state}"
        traits = "latents" if self.latents == LATENTS else "+".join(self.latents)
        return f"{traits} R² {self.latent_r2:g}, dark state {state}"


def attach_truth(parts: dict[str, pd.DataFrame], export_dir: Path) -> None:
    """Add ``truth_<latent>`` (standardised; log speed) and ``truth_engaged`` to every part."""
    from training.baselines import oracle_scores

    deals = pd.read_parquet(export_dir / "truth" / "deals.parquet").set_index("deal_id")
    deals["speed"] = np.log(deals["speed"])
    std = (deals[list(LATENTS)] - deals[list(LATENTS)].mean()) / deals[list(LATENTS)].std()
    daily = load_truth(export_dir)
    daily["engaged"] = daily["engaged"].astype(np.float64)
    for frame in parts.values():
        ids = frame["deal_id"].astype("str")
        for name in LATENTS:
            frame[f"truth_{name}"] = std[name].reindex(ids).to_numpy()
        truth = oracle_scores(daily, frame, columns=("engaged", *(f"p_{t}" for t in TARGETS)))
        frame["truth_engaged"] = truth["engaged"]
        for target in TARGETS:
            frame[f"oracle_{target}"] = truth[f"p_{target}"]


def recovery(parts: dict[str, pd.DataFrame], seed: int) -> dict[str, float]:
    """How well the shipped features recover each hidden quantity on the test window.

    One LightGBM per quantity, trained on the train window, early-stopped on the validation
    window; R² for the latent traits, ROC AUC for the engaged state (test window).
    """
    import lightgbm as lgb
    from sklearn.metrics import r2_score, roc_auc_score

    from features.schema import FEATURES
    from training.model import feature_matrix

    def unique_rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop_duplicates(["deal_id", "as_of"]).dropna(subset=["truth_engaged"])

    train, valid, test = (unique_rows(parts[p]) for p in ("train", "valid", "test"))
    cats = {c: sorted(str(v) for v in train[c].dropna().unique()) for c in FEATURES.categorical}
    x = {n: feature_matrix(f, FEATURES.names, cats) for n, f in
         (("train", train), ("valid", valid), ("test", test))}
    out: dict[str, float] = {}
    for name in (*LATENTS, "engaged"):
        col = f"truth_{name}"
        binary = name == "engaged"
        params = {"objective": "binary" if binary else "regression", "learning_rate": 0.05,
                  "num_leaves": 31, "min_child_samples": 100, "seed": seed, "verbosity": -1,
                  "deterministic": True, "num_threads": 2}
        booster = lgb.train(
            params, lgb.Dataset(x["train"], train[col].to_numpy(), feature_name=FEATURES.names),
            num_boost_round=600, valid_sets=[lgb.Dataset(x["valid"], valid[col].to_numpy())],
            callbacks=[lgb.early_stopping(30, verbose=False)])
        pred = booster.predict(x["test"], num_iteration=booster.best_iteration)
        y = test[col].to_numpy()
        out[name] = float(roc_auc_score(y, pred) if binary else r2_score(y, pred))
    return out


def add_noisy_truth(parts: dict[str, pd.DataFrame], level: Level, seed: int) -> list[str]:
    """Add ``seen_<latent>`` / ``seen_engaged`` columns revealing the truth at ``level``.

    A latent trait is ``rho * truth + sqrt(1 - rho²) * noise`` with one noise draw per deal
    (R² = rho²); the engaged state is ``d * engaged + noise`` per row with ``d`` set so that
    the score's ROC AUC for the state is ``level.engaged_auc``.  Returns the new column names.
    """
    rng = np.random.default_rng(seed)
    ids = pd.unique(pd.concat([f["deal_id"].astype("str") for f in parts.values()]))
    noise = {n: pd.Series(rng.standard_normal(len(ids)), index=ids) for n in LATENTS}
    rho = np.sqrt(level.latent_r2)
    columns = [f"seen_{n}" for n in level.latents]
    for frame in parts.values():
        deal = frame["deal_id"].astype("str")
        for name in level.latents:
            frame[f"seen_{name}"] = (rho * frame[f"truth_{name}"].to_numpy()
                                     + np.sqrt(1 - rho**2) * noise[name].reindex(deal).to_numpy())
        if level.engaged_auc is None:
            continue
        state = frame["truth_engaged"].to_numpy()
        if level.engaged_auc == EXACT:
            frame["seen_engaged"] = state
        else:
            d = np.sqrt(2) * norm.ppf(level.engaged_auc)
            frame["seen_engaged"] = d * state + rng.standard_normal(len(frame))
    return columns + ([] if level.engaged_auc is None else ["seen_engaged"])


def oracle_gaps(parts: dict[str, pd.DataFrame], extra: list[str]) -> dict[str, float]:
    """Fit the shipped model (default config) on the features plus ``extra``; test AUC and gap."""
    from features.schema import FEATURES, Feature, FeatureSchema
    from training.evaluate import binary_metrics
    from training.model import DealRiskModel, TrainConfig

    schema = FeatureSchema((*FEATURES, *(Feature(c, "float", "engagement", c, c)
                                         for c in extra)))
    columns = ["deal_id", "as_of", "label_stall", "label_no_decision", "label_won",
               *schema.names]
    model = DealRiskModel(TrainConfig(), schema=schema)
    model.fit(*(parts[p][columns] for p in ("train", "valid", "calib")))
    test = parts["test"]
    risks = model.predict(test[columns])
    out: dict[str, float] = {}
    for target in TARGETS:
        y = test[f"label_{target}"].to_numpy(dtype=np.float64, na_value=np.nan)
        auc = binary_metrics(y, risks[f"{target}_risk"].to_numpy())["roc_auc"]
        oracle = binary_metrics(y, test[f"oracle_{target}"].to_numpy())["roc_auc"]
        out[f"{target}_auc"], out[f"{target}_oracle_auc"] = auc, oracle
        out[f"{target}_gap"] = oracle - auc
    return out


def gap_figure(results: list[tuple[str, dict[str, float]]], target_gap: float = 0.02):
    """Bars of the oracle gap per observability level and target, with the target line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 0.55 * len(results) + 1.6))
    ax = fig.add_subplot()
    y = np.arange(len(results))
    for k, (target, color) in enumerate((("stall", "#c0392b"), ("no_decision", "#2c7fb8"))):
        ax.barh(y + 0.2 - 0.4 * k, [r[f"{target}_gap"] for _, r in results], height=0.38,
                color=color, label=target.replace("_", " "))
    ax.axvline(target_gap, color="black", linestyle="--", linewidth=1,
               label=f"target gap {target_gap:g}")
    ax.set_yticks(y, [label for label, _ in results])
    ax.invert_yaxis()
    ax.set_xlabel("oracle ROC AUC minus model ROC AUC (test window)")
    ax.set_title("How much of the hidden truth a model must see to reach the oracle")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dealrisk-bench-models"))
    parser.add_argument("--grid", default="0.5:0.99,0.9:0.99,0.9:0.999,1:-,1:exact",
                        help="levels R²:engaged-AUC[:trait+trait] ('-' no state, 'exact' the "
                             "state itself; traits default to all)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="where to write the gap chart (default: <workdir>/observability.png)")
    args = parser.parse_args()
    levels = [Level.parse(t) for t in args.grid.split(",") if t]

    from rich.progress import Progress

    from features.histories import DealHistories
    from training.model import TrainConfig
    from training.pipeline import labelled_rows, split_per_target

    started = time.perf_counter()
    args.workdir.mkdir(parents=True, exist_ok=True)
    out, until = simulate_canonical(args.deals, args.seed, args.workdir)
    config = TrainConfig()
    rows = labelled_rows(DealHistories.read_parquet(out / "canonical"), config=config,
                         known_until=until)
    split = split_per_target(rows, config)
    parts = {name: getattr(split, name).reset_index(drop=True)
             for name in ("train", "valid", "calib", "test")}
    attach_truth(parts, out / "export")

    results: list[tuple[str, dict[str, float]]] = []
    with Progress(transient=True) as bar:
        task = bar.add_task("fitting", total=2 + len(levels))
        bar.update(task, description="recovery of the hidden truth by today's features")
        recovered = recovery(parts, config.seed)
        bar.advance(task)
        bar.update(task, description="features only (the shipped model)")
        results.append(("features only (shipped)", oracle_gaps(parts, [])))
        bar.advance(task)
        for level in levels:
            bar.update(task, description=level.label())
            results.append((level.label(), oracle_gaps(parts, add_noisy_truth(
                parts, level, args.seed))))
            bar.advance(task)

    print(f"== {args.deals:,}-deal simulation, seed {args.seed}, test window "
          f"({time.perf_counter() - started:.0f} s)")
    print("   hidden truth recovered by today's features (test window):")
    for name, value in recovered.items():
        kind = "ROC AUC" if name == "engaged" else "R²"
        print(f"     {name:10s} {kind:8s} {value:.3f}")
    print(f"\n   {'what the model sees':50s}{'stall AUC':>11s}{'gap':>8s}"
          f"{'no-dec AUC':>12s}{'gap':>8s}")
    for label, r in results:
        print(f"   {label:50s}{r['stall_auc']:11.4f}{r['stall_gap']:8.4f}"
              f"{r['no_decision_auc']:12.4f}{r['no_decision_gap']:8.4f}")
    oracle = results[0][1]
    print(f"   {'oracle (hidden truth)':50s}{oracle['stall_oracle_auc']:11.4f}{'':8s}"
          f"{oracle['no_decision_oracle_auc']:12.4f}")
    plot = args.plot or args.workdir / "observability.png"
    gap_figure(results).savefig(plot, dpi=110)
    print(f"   chart: {plot}")
    print(json.dumps({
        "seed": args.seed, "deals": args.deals,
        "recovered_r2": {n: recovered[n] for n in LATENTS},
        "recovered_engaged_auc": recovered["engaged"],
        "levels": [{"level": label, **r} for label, r in results],
    }))


if __name__ == "__main__":
    main()
