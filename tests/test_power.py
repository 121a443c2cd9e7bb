"""Simulation-based power (analysis.power): the simulated trials, the tests, Dask determinism, config, CLI."""

import dataclasses
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis import io, mixed, power, report
from analysis.plots import power as power_plots

SMALL = power.TrialDesign(n_per_arm=10, waves=4)
#: No dropout and moderate power (about 0.70 and 0.61): the analytic answer is sharp here.
ANALYTIC = power.TrialDesign(n_per_arm=30, waves=4, dropout=0.0, symptom_effect=-0.4, se_effect=0.35)


@pytest.fixture(scope="module")
def client():
    with power.dask_client(workers=2) as dask_client:
        yield dask_client


def test_dropout_removes_rows_at_the_expected_rate():
    design = power.TrialDesign(n_per_arm=3000, waves=5, dropout=0.1)
    data = power.simulate_trial(design, seed=1)
    n = 2 * design.n_per_arm
    observed = data.groupby("wave").size().reindex(range(design.waves), fill_value=0) / n
    expected = (1 - design.dropout) ** np.arange(design.waves)
    assert np.all(np.abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-12)
    assert observed[0] == 1.0
    last = data.groupby("participant_id")["wave"].agg(["max", "size"])
    assert (last["size"] == last["max"] + 1).all()  # monotone: no one comes back
    without = power.simulate_trial(dataclasses.replace(design, dropout=0.0), seed=1)
    assert len(without) == n * design.waves
    merged = data.merge(without, on=["participant_id", "wave"], suffixes=("", "_full"))
    assert np.array_equal(merged["symptoms"], merged["symptoms_full"])  # same latent data


def test_simulated_arms_follow_the_design():
    design = power.TrialDesign(n_per_arm=2000, arms=("control", "cbt", "mindfulness"),
                               symptom_effect={"cbt": -0.4, "mindfulness": -0.2}, se_effect=0.3,
                               dropout=0.0)
    data = power.simulate_trial(design, seed=2)
    assert list(data["arm"].cat.categories) == ["control", "cbt", "mindfulness"]
    assert (data.groupby("arm", observed=True)["participant_id"].nunique() == 2000).all()
    fixed = mixed.fit_lmm(data, "symptoms ~ time * arm", "participant_id").fixed["estimate"]
    assert fixed["time:arm[T.cbt]"] == pytest.approx(-0.4, abs=0.03)
    assert fixed["time:arm[T.mindfulness]"] == pytest.approx(-0.2, abs=0.03)


@pytest.mark.parametrize("slope_corr, detected", [(-0.5, True), (0.0, False)])
def test_mediation_path_recovers_a_times_b(slope_corr, detected):
    # small residuals: person slopes are reliable and the b path is sharply estimated
    design = power.TrialDesign(n_per_arm=400, slope_corr=slope_corr, se_residual_sd=0.5,
                               symptom_residual_sd=0.5)
    table = power.analyse_trial(power.simulate_trial(design, seed=3), design).set_index("effect")
    truth = design.true_effects()["mediation", "treatment"]
    assert table.loc["mediation", "estimate"] == pytest.approx(truth, abs=0.05)
    assert table.loc["mediation", "detected"] == detected
    assert list(table.index) == list(power.EFFECTS)


def test_analyse_trial_reads_any_arm_coding_with_identical_results():
    design = power.TrialDesign(n_per_arm=12, waves=4)
    coded = power.TrialDesign(n_per_arm=12, waves=4, arms=("0", "1"))
    data = power.simulate_trial(design, seed=4)
    treated = data["arm"] == "treatment"
    expected = power.analyse_trial(data, design)
    labels = {
        "text": (data.assign(arm=data["arm"].astype(str)), design),
        "text, other category order": (data.assign(arm=pd.Categorical(
            data["arm"].astype(str), categories=["treatment", "control"])), design),
        "nullable": (data.astype({"arm": "string", "symptoms": "Float64", "self_efficacy": "Float64",
                                  "wave": "Int64"}), design),
    }
    codes = {"0/1": treated.astype(int), "0.0/1.0": treated.astype(float), "bool": treated}
    for name, (variant, variant_design) in labels.items():
        pd.testing.assert_frame_equal(power.analyse_trial(variant, variant_design), expected, obj=name)
    for name, arm in codes.items():
        table = power.analyse_trial(data.assign(arm=arm), coded)
        assert table["arm"].tolist() == ["1"] * 3, name
        pd.testing.assert_frame_equal(table.drop(columns="arm"), expected.drop(columns="arm"), obj=name)


def test_analyse_trial_refuses_arms_that_are_not_the_designs():
    design = power.TrialDesign(n_per_arm=5, waves=3)
    data = power.simulate_trial(design, seed=1)
    with pytest.raises(io.DataValidationError, match=r"arm: power.analyse_trial: the data's arms \['0', '1'\] are "
                                                     r"not the design's arms \['control', 'treatment'\]"):
        power.analyse_trial(data.assign(arm=data["arm"].cat.codes), design)
    lost = data.assign(symptoms=data["symptoms"].where(data["arm"] == "control"))
    with pytest.raises(io.DataValidationError, match=r"the data's arms \['control'\] \(arm 'treatment' has no row "
                                                     "with time, symptoms, self_efficacy all observed"):
        power.analyse_trial(lost, design)
    spelled = data.assign(arm=data["arm"].astype(str).where(data["participant_id"] != 0, "Control "))
    with pytest.raises(io.DataValidationError, match="arm: one arm is spelled 2 ways"):
        power.analyse_trial(spelled, design)
    twice = pd.concat([data, data.iloc[[2]]])
    with pytest.raises(io.DataValidationError, match="participant_id, wave: appears more than once"):
        power.analyse_trial(twice, design)
    with pytest.raises(io.DataValidationError, match="symptoms: power.analyse_trial: column not in the data"):
        power.analyse_trial(data.drop(columns="symptoms"), design)


def test_same_seed_gives_identical_trials_on_any_number_of_workers(client):
    serial = power.run_trials(SMALL, n_sims=8, seed=5, scheduler="synchronous", progress=False)
    two = power.run_trials(SMALL, n_sims=8, seed=5, scheduler=client, progress=False)
    one = power.run_trials(SMALL, n_sims=8, seed=5, workers=1, progress=False)
    pd.testing.assert_frame_equal(serial, two)
    pd.testing.assert_frame_equal(serial, one)
    assert list(serial["trial"].unique()) == list(range(8))
    other = power.run_trials(SMALL, n_sims=8, seed=6, scheduler="synchronous", progress=False)
    assert not np.allclose(serial["estimate"], other["estimate"])
    pd.testing.assert_frame_equal(power.summarise(serial, SMALL),
                                  power.power(SMALL, n_sims=8, seed=5, scheduler=client, progress=False))


@pytest.mark.slow
def test_simulated_power_matches_the_analytic_answer(client):
    table = power.power(ANALYTIC, n_sims=300, seed=7, scheduler=client, progress=False)
    check = power.compare_analytic(table, ANALYTIC)
    assert len(check) == 2 and (check["z"].abs() < 3).all(), check
    assert check["analytic"].between(0.55, 0.8).all()  # away from 0 and 1, where the check is sharp
    growth = table[table["effect"] != "mediation"].set_index("effect")
    exact = power.analytic_power(ANALYTIC).set_index("effect")
    tolerance = 4 * exact["se"] / np.sqrt(300 - growth["n_failed"])
    assert ((growth["mean_estimate"] - growth["true_value"]).abs() < tolerance).all()


def test_analytic_power_formulas():
    table = power.analytic_power(power.TrialDesign(dropout=0.0)).set_index("effect")
    times = np.arange(5) * 2.0
    se = np.sqrt(2 * (0.25**2 + 2.5**2 / np.sum((times - times.mean()) ** 2)) / 100)
    assert table.loc["symptoms", "se"] == pytest.approx(se)
    assert table.loc["symptoms", "df"] == 198
    # the large-sample formula is close for large df and larger (optimistic) for small df
    assert table["power"].to_numpy() == pytest.approx(table["power_normal"].to_numpy(), abs=2e-3)
    small = power.analytic_power(dataclasses.replace(ANALYTIC, n_per_arm=8))
    assert (small["power_normal"] > small["power"] + 0.01).all()
    null = power.analytic_power(dataclasses.replace(ANALYTIC, symptom_effect=0.0)).set_index("effect")
    assert null.loc["symptoms", "power"] == pytest.approx(0.05)


def test_analytic_power_refuses_dropout():
    with pytest.raises(ValueError, match=r"without dropout.*dropout=0\.05"):
        power.analytic_power(power.TrialDesign(dropout=0.05))


@pytest.mark.parametrize("kwargs, message", [
    ({"n_per_arm": 2}, r"n_per_arm must be an integer >= 3, got 2"),
    ({"waves": 2}, r"waves must be an integer >= 3, got 2"),
    ({"dropout": 1.0}, r"dropout must be a finite number in \[0, 1\), got 1\.0"),
    ({"slope_corr": 1.5}, r"slope_corr must be a finite number in \[-1, 1\], got 1\.5"),
    ({"alpha": 0}, r"alpha must be a finite number in \(0, 1\), got 0"),
    ({"se_residual_sd": 0.0}, r"se_residual_sd must be a finite number > 0, got 0\.0"),
    ({"weeks_per_wave": float("nan")}, r"weeks_per_wave must be a finite number > 0, got nan"),
    ({"arms": ("control",)}, r"arms must hold at least two distinct labels, got \['control'\]"),
    ({"arms": ("treatment", "control")}, r"the models take 'control' as the reference .* put it first"),
    ({"arms": "control"}, r"arms must be a sequence of non-empty strings, got 'control'"),
    ({"symptom_effect": {"cbt": -0.3}}, r"symptom_effect names unknown non-reference arm\(s\) \['cbt'\]"),
    ({"se_effect": "large"}, r"se_effect must be a finite number, got 'large'"),
    ({"se_slope_sd": 0.0}, r"slope_corr must be 0 when se_slope_sd or symptom_slope_sd is 0, got -0\.5"),
])
def test_bad_designs_name_the_parameter_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        power.TrialDesign(**kwargs)


def test_bad_run_arguments():
    with pytest.raises(ValueError, match=r"n_sims must be an integer >= 1, got 0"):
        power.run_trials(SMALL, n_sims=0, scheduler="synchronous")
    with pytest.raises(ValueError, match=r"workers applies to the local cluster only"):
        power.power(SMALL, n_sims=2, scheduler="synchronous", workers=2)
    with pytest.raises(ValueError, match=r"n_per_arm must be an integer >= 3, got 1"):
        power.power_curve(SMALL, [10, 1], n_sims=2, scheduler="synchronous")


def test_power_curve_sample_size_and_figure():
    curve = power.power_curve(SMALL, [12, 6], n_sims=3, seed=1, scheduler="synchronous",
                              progress=False)
    assert list(curve["n_per_arm"]) == [6] * 3 + [12] * 3
    assert list(curve["effect"]) == list(power.EFFECTS) * 2
    assert ((curve["ci_low"] <= curve["power"]) & (curve["power"] <= curve["ci_high"])).all()
    fig = power_plots.curve(curve)
    ax = fig.axes[0]
    assert len(ax.lines) == 4 and ax.lines[-1].get_ydata()[0] == 0.8  # three effects, the 80% line
    plt.close(fig)

    made_up = pd.DataFrame({"effect": ["symptoms"] * 3 + ["mediation"] * 3, "arm": "cbt",
                            "n_per_arm": [50, 100, 150] * 2, "power": [0.6, 0.82, 0.95, 0.1, 0.3, 0.5],
                            "ci_low": 0.0, "ci_high": 1.0})
    needed = power.sample_size(made_up, target=0.8).set_index("effect")
    assert needed.loc["symptoms", "n_per_arm"] == 100 and needed.loc["symptoms", "power"] == 0.82
    assert pd.isna(needed.loc["mediation", "n_per_arm"])


CONFIG = """
design:
  arms: [control, cbt]
  waves: 4
  symptom_effect: -0.3
n_per_arm: [8]
n_sims: 3
seed: 1
"""


@pytest.mark.parametrize("text, message", [
    ("design: {}\nn_per_arm: [8]\nn_sims: 3\nseed: 1\nsims: 4\n", r"unknown keys \['sims'\]"),
    ("design: {}\nn_per_arm: [8]\nn_sims: 0\nseed: 1\n", r"n_sims must be an integer >= 1, got 0"),
    ("design: {}\nn_per_arm: [8, 2]\nn_sims: 3\nseed: 1\n", r"n_per_arm must be an integer >= 3, got 2"),
    ("design: {dropout: 2}\nn_per_arm: [8]\nn_sims: 3\nseed: 1\n",
     r"design\.dropout must be a finite number in \[0, 1\), got 2"),
    ("design: {drop_out: 0.1}\nn_per_arm: [8]\nn_sims: 3\nseed: 1\n", r"unknown design keys \['drop_out'\]"),
    ("design: {n_per_arm: 50}\nn_per_arm: [8]\nn_sims: 3\nseed: 1\n", r"top-level n_per_arm list"),
    ("design: {}\nn_sims: 3\nseed: 1\n", r"missing keys \['n_per_arm'\]"),
    ("design: [1]\nn_per_arm: [8]\nn_sims: 3\nseed: 1\n", r"design must be a mapping"),
    ("design: {: [\n", r"not valid YAML"),
])
def test_bad_configs_are_refused_naming_key_and_value(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "power.yml"
    path.write_text(text)
    with pytest.raises(power.PowerConfigError, match=message):
        power.run_config(path, scheduler="synchronous")
    assert not (tmp_path / "reports").exists()


def test_the_example_config_is_valid():
    config = power.load_config(report.ROOT / "config" / "power.yml")
    assert config["design"].arms == ("control", "cbt") and config["n_sims"] == 1000


def analysis(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_runs_a_config_on_an_existing_scheduler(tmp_path, client):
    config = tmp_path / "power.yml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    result = analysis("power", "--config", str(config), "--scheduler", client.scheduler.address,
                      "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "symptoms" in result.stdout and "mediation" in result.stdout
    table = pd.read_csv(out / "power.csv")
    design = dataclasses.replace(power.load_config(config)["design"], n_per_arm=8)
    expected = power.power(design, n_sims=3, seed=1, scheduler="synchronous", progress=False)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert (out / "power_curve.png").stat().st_size > 0


@pytest.mark.parametrize("extra, message", [
    ([], "n_sims must be an integer >= 1, got 0"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "workers applies to the local cluster only"),
])
def test_cli_bad_config_exits_2_without_traceback(tmp_path, extra, message):
    config = tmp_path / "power.yml"
    config.write_text(CONFIG.replace("n_sims: 3", "n_sims: 0") if not extra else CONFIG)
    result = analysis("power", "--config", str(config), *extra)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_missing_config_and_bad_workers_exit_2(tmp_path):
    result = analysis("power", "--config", str(tmp_path / "nope.yml"))
    assert result.returncode == 2 and "config file not found" in result.stderr
    result = analysis("power", "--config", str(tmp_path / "nope.yml"), "--workers", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_power_notebook_runs_in_quick_mode(tmp_path):
    declared = report.notebook_parameters("07_power")
    assert {"n_per_arm", "n_per_arm_grid", "n_sims", "seed", "quick", "dropout"} <= set(declared)
    run = report.run_notebook("07_power", {"quick": True}, tmp_path)
    assert run.ok, run.error
    html = (tmp_path / "07_power.html").read_text()
    for piece in ("The planned trial", "Sample size for 80% power", "Analytic check", "Traceback"):
        assert (piece in html) == (piece != "Traceback"), piece
    values = report.recorded(tmp_path / "07_power.ipynb")
    assert 0 <= values["power_symptoms_cbt"] <= 1 and values["failed_fits"] >= 0
    assert abs(values["analytic_check_max_abs_z"]) < 4
    assert {"power_mediation_cbt", "n80_symptoms_cbt", "n80_mediation_cbt"} <= set(values)
