"""The model card: what a trained model learned from, what it leaves out and how well it does.

Logged with every training run (``model_card.md``) and set as the registered version's
description, so whoever serves or reviews a model reads, in plain words, which features the
pipeline's export could not give point-in-time and were left out, the pipeline's own context
fields, the held-out figures beside the baselines, and the warnings.

Example:
    >>> from features.profile import PipelineProfile
    >>> text = left_out_section(PipelineProfile(tracked_fields=()))
    >>> "days_to_close_date" in text and "no close-date history" in text
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from features.profile import PipelineProfile

if TYPE_CHECKING:
    from training.pipeline import TrainResult


def left_out_section(profile: PipelineProfile) -> str:
    """Markdown: the features left out for this pipeline, grouped by reason."""
    left_out = profile.left_out()
    if not left_out:
        return "Every feature is available: the export records every history dealrisk reads.\n"
    by_reason: dict[str, list[str]] = {}
    for name, why in left_out.items():
        by_reason.setdefault(why, []).append(name)
    lines = [f"{len(left_out)} features are left out (empty in training and at scoring), "
             "because the export cannot give their value at an earlier time:", ""]
    for why, names in by_reason.items():
        lines.append(f"- {why[:1].upper() + why[1:]}: {', '.join(f'`{n}`' for n in names)}.")
    return "\n".join(lines) + "\n"


def model_card(result: TrainResult) -> str:
    """The whole card of a training run, as Markdown."""
    profile = result.model.profile
    m = result.metrics
    lines = [f"# dealrisk model — pipeline `{profile.name or 'unnamed'}`", "",
             f"Source: {profile.source or 'unknown'}; deals: {result.data.get('n_deals')}; "
             f"data up to {result.data.get('known_until')}; amounts in "
             f"{profile.reporting_currency or 'the currencies as exported'}.", "",
             "## What the export records", "",
             f"- Close-date / amount history: {', '.join(profile.tracked_fields) or 'none'}",
             f"- Stage entries: {profile.stage_entries}",
             f"- Activities: {'yes' if profile.has_activities else 'none'}; contact roles: "
             f"{'yes' if profile.has_contacts else 'none'} (joining time "
             f"{profile.contact_join_times.replace('_', ' ')})", "",
             "## Features left out", "", left_out_section(profile)]
    if profile.context:
        lines += ["## The pipeline's own context fields", ""]
        lines += [f"- `{c.name}` ({c.kind}): {c.meaning or c.label}" for c in profile.context]
        lines.append("")
    model = result.model
    lines += ["## Targets and chosen scorers", ""]
    for target in model.targets:
        info = model.fit_info_[target]
        aucs = ", ".join(f"{k} {v:.3f}" for k, v in dict(info["valid_auc"]).items())
        lines.append(f"- `{target}`: {info['scorer']} (validation ROC AUC: {aucs})")
        lines += [f"  - candidate `{k}` not used: it {why}"
                  for k, why in dict(info.get("rejected", {})).items()]
    lines += [f"- {why}" for why in model.skipped.values()]
    lines.append("")
    if result.leaks:
        lines += ["## Likely leaks (leak guard, training window)", ""]
        lines += [f"- {leak.message}" for leak in result.leaks]
        lines.append("")
    lines += ["## Held-out figures (test window)", "",
              "| target | model ROC AUC | rule | logistic regression | model ECE |",
              "|---|---|---|---|---|"]
    for target in model.targets:
        cells = [m.get(f"{who}.{target}.{k}") for who, k in (
            ("test", "roc_auc"), ("baseline_rule", "roc_auc"), ("baseline_logreg", "roc_auc"),
            ("test", "ece"))]
        lines.append(f"| {target} | " + " | ".join(
            "n/a" if v is None or v != v else f"{v:.3f}" for v in cells) + " |")
    lines.append("")
    lines += next_steps_section(model, m)
    if result.warnings:
        lines += ["## Warnings", "", *(f"- {w}" for w in result.warnings), ""]
    return "\n".join(lines)


def next_steps_section(model: object, m: dict[str, float]) -> list[str]:
    """The card's next-step lines: the effect model and its off-policy value, or why none."""
    lines = ["## Next steps", ""]
    nsm = getattr(model, "next_steps", None)
    if nsm is None:
        lines.append(f"- {getattr(model, 'next_steps_note', 'no next-step model')}")
        if "next_step.ope.dr" not in m:
            return [*lines, ""]
    else:
        lines.append(f"- Effect model: econml ForestDRLearner on {nsm.effects.fit_rows:,} "
                     f"training snapshots, actions within {nsm.effects.config.window_days} days, "
                     f"targets {', '.join(nsm.effects.targets)}; catalogue: "
                     f"{', '.join(nsm.catalogue.names)}.")
    if "next_step.ope.dr" in m:
        lines.append(f"- Test window, from the logs alone: P(no decision) had sellers followed "
                     f"the recommendations, doubly robust {m['next_step.ope.dr']:.3f} (95% CI "
                     f"{m['next_step.ope.dr.ci_low']:.3f}-{m['next_step.ope.dr.ci_high']:.3f}) "
                     f"vs {m['next_step.logged_no_decision']:.3f} logged.")
    if "next_step.ope.dr_vs_logged" in m:
        lines.append(f"- Paired against the sellers' own choices on the same snapshots: "
                     f"{100 * m['next_step.ope.dr_vs_logged']:+.1f} points of no decision (95% "
                     f"CI {100 * m['next_step.ope.dr_vs_logged.ci_low']:+.1f} to "
                     f"{100 * m['next_step.ope.dr_vs_logged.ci_high']:+.1f}); next steps whose "
                     "whole interval is above 0 are withheld.")
    if "next_step.lift_calibration.slope" in m:
        lines.append(f"- Lift calibration on the test window (doubly robust readings binned by "
                     f"estimate; 1 = calibrated, 0 = no better than chance at telling deals "
                     f"apart): slope {m['next_step.lift_calibration.slope']:.2f} (95% CI "
                     f"{m['next_step.lift_calibration.slope.ci_low']:.2f} to "
                     f"{m['next_step.lift_calibration.slope.ci_high']:.2f}); mean estimated "
                     f"{100 * m['next_step.lift_calibration.mean_estimated']:.1f} points, "
                     f"read from the logs {100 * m['next_step.lift_calibration.mean_realised']:.1f}"
                     " points.")
    if "next_step.truth.recommended_nd_reduction" in m:
        lines.append(f"- Simulator truth: what it recommends truly lowers P(no decision) by "
                     f"{100 * m['next_step.truth.recommended_nd_reduction']:.2f} points on "
                     f"average (the oracle: {100 * m['next_step.truth.oracle_nd_reduction']:.2f});"
                     f" estimated vs true effect correlation "
                     f"{m['next_step.truth.snapshot_corr']:.2f} per snapshot.")
    return [*lines, ""]
