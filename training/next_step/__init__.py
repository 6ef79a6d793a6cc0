"""Next-best-action: which buyer-step action to help the customer take, and what it would change.

- :mod:`training.next_step.treatments` — what the seller did next (the logged treatment);
- :mod:`training.next_step.effect_model` — the cross-fitted causal effect model (econml);
- :mod:`training.next_step.recommend` — valid, off-cool-down actions ranked by lift, with reasons;
- :mod:`training.next_step.off_policy` — IPS, SNIPS, DM and DR values of a policy from logs;
- :mod:`training.next_step.ground_truth` — the simulator's verdict on every policy.
"""
