"""Write the simulated trial with therapists that tests/reference/mediation_multilevel.R fits with lme4.

Run from the repository root (the R script reads the CSV this writes):

    .venv/bin/python tests/reference/mediation_multilevel_data.py
    Rscript tests/reference/mediation_multilevel.R

Writes ``tests/reference/mediation_multilevel.csv``, long format, one row per person
and wave: ``analysis.simulate.trial(n_per_arm=40, waves=4, therapists_per_arm=4,
therapist_intercept_sd=3, therapist_slope_sd=0.3, seed=2)``, the control and cbt
arms only (mindfulness dropped), columns ``participant_id``, ``therapist``, ``arm``,
``wave``, ``time``, ``age``, ``gse_total``, ``phq9_total`` (empty where missing:
the simulator's dropout and item missingness). The simulator's therapist level acts
on symptoms only; with this seed the therapist variance of the GSE (mediator) model
is nonetheless estimated away from zero (1.26), so that both models' optima are
interior and the parity is not checked at a boundary.
"""

from pathlib import Path

from analysis import simulate

COLUMNS = ["participant_id", "therapist", "arm", "wave", "time", "age", "gse_total", "phq9_total"]
TARGET = Path(__file__).with_name("mediation_multilevel.csv")


def main() -> None:
    data, _ = simulate.trial(n_per_arm=40, waves=4, therapists_per_arm=4, therapist_intercept_sd=3.0,
                             therapist_slope_sd=0.3, seed=2)
    data = data.loc[data["arm"] != "mindfulness", COLUMNS]
    data.to_csv(TARGET, index=False, float_format="%.6g")


if __name__ == "__main__":
    main()
