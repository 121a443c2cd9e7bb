"""Realistic exports of a trial, built from the simulator, for the end-to-end tests of your own data.

Two exports, each in its own folder with its mapping and report config, as a researcher
would keep them:

* ``wide/``: a wide Excel workbook as a clinic's database writes it: a title row above
  the header on sheet "Daten", an extra "Info" sheet first, ids like ``P-001``, arm coded
  1/2, visits labelled in months (``_M0``, ``_M3``, ``_M6``), ``-99`` for missing, the age
  as decimal-comma text, GSE and PHQ-9 totals, and the items of a well-being scale that
  the suite does not know (``wb``, defined in the mapping's ``instruments`` section).
* ``sums/``: a long European CSV with sum scores only (semicolons, decimal commas,
  cp1252 text, ``-99`` codes): GSE, PHQ-9 and GAD-7 totals, arm coded 0/1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis import report, simulate
from analysis.report.config import notebook_parameters

VISITS = {0: 0, 1: 3, 2: 6, 3: 12}  # wave -> month of the visit
WB_ITEMS = 7
# The wide export's reports: every report that reads the trial (takes a ``data`` parameter); the others
# (meta-analysis, power, teaching) never see the export and run on their bundled data in their own tests.
DATA_REPORTS = [name for name in report.notebook_names() if "data" in notebook_parameters(name)]
# The sum-scores export's reports: those that read the trial, but 03 (its Bayesian fit compiles for a
# minute; it runs on the wide export, whose totals it models the same way).
TRIAL_REPORTS = ["01_data_quality", "02_mixed_effects", "04_mediation", "05_cross_lagged"]


def trial(seed: int = 7) -> pd.DataFrame:
    """A two-arm simulated trial at four visits (months 0, 3, 6, 12), with a well-being scale."""
    data, _ = simulate.trial(n_per_arm=40, waves=len(VISITS), weeks_per_wave=13.0, seed=seed)
    data = data[data["arm"] != "mindfulness"].reset_index(drop=True)
    data["time"] = data["wave"].map(VISITS) * 52 / 12
    rng = np.random.default_rng(seed)
    level = (data["gse_total"].to_numpy() - 10) / 30 * 4 + 1  # 1..5, rises with SE
    for k in range(1, WB_ITEMS + 1):
        data[f"wb_{k}"] = np.clip(np.rint(level + rng.normal(0, 0.7, len(data))), 1, 5)
    return data


def write_wide(folder: Path, data: pd.DataFrame) -> Path:
    """The wide Excel export, its mapping and config under ``folder/wide``; returns the config."""
    folder = folder / "wide"
    folder.mkdir(parents=True, exist_ok=True)
    person = data.groupby("participant_id", sort=True).first()
    wide = pd.DataFrame({
        "ID": [f"P-{i:03d}" for i in range(1, len(person) + 1)],
        "Gruppe": person["arm"].astype(str).map({"control": 1, "cbt": 2}).to_numpy(),
        "Alter": [f"{a + 0.5:.1f}".replace(".", ",") for a in person["age"]],
    })
    columns = {}
    for wave, month in VISITS.items():
        at = data[data["wave"] == wave].set_index("participant_id").reindex(person.index)
        for source, name in [("gse_total", "GSE"), ("phq9_total", "PHQ"),
                             *[(f"wb_{k}", f"WB{k}") for k in range(1, WB_ITEMS + 1)]]:
            header = f"{name}_M{month}"
            wide[header] = at[source].fillna(-99).to_numpy()
            columns.setdefault(source, {})[wave] = header
    workbook = folder / "export.xlsx"
    with pd.ExcelWriter(workbook, engine="openpyxl") as writer:
        pd.DataFrame({"Hinweis": ["Export der Studiendatenbank", "-99 = fehlend"]}).to_excel(
            writer, sheet_name="Info", index=False)
        pd.DataFrame([["Studie SE-Trial, Export 2026-11-30"]]).to_excel(
            writer, sheet_name="Daten", index=False, header=False)
        wide.to_excel(writer, sheet_name="Daten", index=False, startrow=1)
    mapping = {
        "read": {"sheet": "Daten", "skiprows": 1, "na_values": [-99], "decimal": ","},
        "columns": {"ID": "participant_id", "Gruppe": "arm", "Alter": "age"},
        "values": {"arm": {1: "waitlist", 2: "cbt"}},
        "wide": {"participant_id": "participant_id", "columns": columns},
        "time": {wave: month * 52 / 12 for wave, month in VISITS.items()},
        "instruments": {"wb": {
            "label": "Short well-being scale", "items": WB_ITEMS, "item_range": [1, 5],
            "total_range": [WB_ITEMS, 5 * WB_ITEMS], "reverse": [], "higher_is_better": True,
            "max_missing": 1, "reliability": 0.84}},
    }
    return _write(folder, mapping, {"data": "export.xlsx", "symptom_instruments": ["phq9", "wb"],
                                    "notebooks": DATA_REPORTS})


def write_sums(folder: Path, data: pd.DataFrame) -> Path:
    """The long European CSV of sum scores, its mapping and config under ``folder/sums``; returns the config."""
    folder = folder / "sums"
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({
        "Teilnehmer": data["participant_id"], "Messzeitpunkt": data["wave"],
        "Behandlung": data["arm"].astype(str).map({"control": 0, "cbt": 1}).astype(int),
        "Wochen": data["time"], "Selbstwirksamkeit": data["gse_total"], "Depressivität": data["phq9_total"],
        "Ängstlichkeit": data["gad7_total"],
    }).fillna(-99)
    text = table.to_csv(sep=";", decimal=",", index=False, float_format="%.4g")
    (folder / "summen.csv").write_bytes(text.encode("cp1252"))
    mapping = {
        "read": {"sep": ";", "decimal": ",", "encoding": "cp1252", "na_values": [-99]},
        "columns": {"Teilnehmer": "participant_id", "Messzeitpunkt": "wave", "Behandlung": "arm",
                    "Wochen": "time", "Selbstwirksamkeit": "gse_total", "Depressivität": "phq9_total",
                    "Ängstlichkeit": "gad7_total"},
    }
    return _write(folder, mapping, {"data": "summen.csv", "symptom_instruments": ["phq9", "gad7"],
                                    "notebooks": TRIAL_REPORTS})


def _write(folder: Path, mapping: dict, config: dict) -> Path:
    (folder / "mapping.yml").write_text(yaml.safe_dump(mapping, allow_unicode=True, sort_keys=False),
                                        encoding="utf-8")
    config = {**config, "mapping": "mapping.yml", "se_instrument": "gse", "quick": True, "seed": 11,
              "output": "reports"}
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
