"""Kenward-Roger inference (analysis.mixed.kenward) against pbkrtest, lmerTest and emmeans
(tests/reference/pbkrtest_kr.R), and the blockwise computation against a dense one."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import mixed
from analysis.mixed import kenward

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "pbkrtest_kr.json").read_text())

# Tolerances (relative): the adjusted covariance and F (the variance parameters agree with lme4's
# to ~1e-7), the df (the issue's), estimates, SEs and p-values.
TOL = {"vcov": 1e-4, "df": 1e-2, "F": 1e-4, "estimate": 1e-6, "se": 1e-5, "p": 1e-3}

#: The factors of the reference fits (lme4 names a coefficient "armcbt", patsy "arm[T.cbt]").
FACTORS = ("arm", "wave")


def sim_trial():
    data = pd.read_csv(ROOT / "tests" / "reference" / "lmm_sim.csv")
    data["arm"] = pd.Categorical(data["arm"], ["control", "cbt", "mindfulness"])
    return data.assign(wave=pd.Categorical(data["time"].astype(int)))


def therapists():
    data = pd.read_csv(ROOT / "tests" / "reference" / "therapists.csv")
    data["arm"] = pd.Categorical(data["arm"], ["control", "cbt"])
    return data.assign(wave=pd.Categorical(data["time"].astype(int)))


TRIAL = "phq9_total ~ time * arm"
CASES = {
    "sim_trial": lambda: mixed.fit_lmm(sim_trial(), TRIAL, "participant_id", "~time"),
    "sim_wave": lambda: mixed.fit_lmm(sim_trial(), "phq9_total ~ wave * arm", "participant_id"),
    "three_level": lambda: mixed.fit_lmm(therapists(), TRIAL + " + (time | participant_id) + (1 | therapist)"),
    "nested": lambda: mixed.fit_lmm(therapists(), TRIAL + " + (1 | therapist/participant_id)"),
    "uncorrelated": lambda: mixed.fit_lmm(therapists(), TRIAL + " + (time || participant_id)"),
    "crossed_waves": lambda: mixed.fit_lmm(therapists(), TRIAL + " + (1 | participant_id) + (1 | wave)"),
    "penicillin": lambda: mixed.fit_lmm(pd.read_csv(ROOT / "tests" / "reference" / "penicillin.csv"),
                                        "diameter ~ 1 + (1 | plate) + (1 | sample)"),
}


@pytest.fixture(scope="module")
def fits():
    return {key: make() for key, make in CASES.items()}


@pytest.fixture(scope="module")
def pieces(fits):
    return {key: kenward._kenward_roger(fit) for key, fit in fits.items()}


def listed(value):
    """A JSON value as a list (jsonlite writes vectors of length one as scalars, NULL as null)."""
    return [] if value is None else list(np.atleast_1d(value))


def rel(actual, expected):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    return float(np.max(np.abs(actual - expected) / np.abs(expected)))


def patsy_name(name: str) -> str:
    """lme4's coefficient name as patsy's: ``(Intercept)`` -> ``Intercept``, ``armcbt`` -> ``arm[T.cbt]``."""
    parts = []
    for part in name.split(":"):
        factor = next((f for f in FACTORS if part.startswith(f)), None)
        parts.append("Intercept" if part == "(Intercept)" else f"{factor}[T.{part[len(factor):]}]" if factor
                     else part)
    return ":".join(parts)


def reference_order(fit, ref) -> np.ndarray:
    """Positions in the reference of our coefficients."""
    names = [patsy_name(name) for name in listed(ref["terms"])]
    return np.array([names.index(name) for name in fit.fixed.index])


def emm_entries():
    return [(case, i) for case, ref in REFERENCE.items() if case != "versions"
            for i in range(len(listed(ref["emmeans"])))]


# --- parity with pbkrtest, lmerTest and emmeans ------------------------------------------------

@pytest.mark.parametrize("case", [case for case in REFERENCE if case != "versions"])
def test_adjusted_covariance_and_df_match_pbkrtest(fits, pieces, case):
    ref, fit, kr = REFERENCE[case], fits[case], pieces[case]
    order = reference_order(fit, ref)
    p = len(order)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert rel(kr.phi, np.reshape(ref["vcov"], (p, p))[np.ix_(order, order)]) < TOL["vcov"]
    assert rel(kr.cov_beta, np.reshape(ref["vcov_adj"], (p, p))[np.ix_(order, order)]) < TOL["vcov"]
    assert rel(kr.df(np.eye(p)), np.array(listed(ref["df"]))[order]) < TOL["df"]
    assert not kr.messages


@pytest.mark.parametrize("case", [case for case, ref in REFERENCE.items() if "anova" in ref])
def test_anova_matches_lmertest_kenward_roger(fits, case):
    ref = REFERENCE[case]["anova"]
    table = mixed.anova(fits[case], ddf="kenward-roger")
    terms = listed(ref["terms"])  # lmerTest's term names are patsy's here
    assert sorted(table.index) == sorted(terms)
    ours = table.loc[terms]
    assert ours["num_df"].tolist() == listed(ref["num_df"])
    assert rel(ours["den_df"], listed(ref["den_df"])) < TOL["df"]
    # lmerTest reports pbkrtest's scaled F (F.scaling times the Wald F over q)
    assert rel(ours["F"], listed(ref["F"])) < TOL["F"]
    assert rel(ours["F"] / np.array(listed(ref["kr_F_unscaled"])), listed(ref["kr_F_scaling"])) < TOL["F"]
    assert rel(ours["p"], listed(ref["p"])) < TOL["p"]
    assert table.attrs["note"].startswith("Type III Analysis of Variance Table with Kenward-Roger's method")


@pytest.mark.parametrize(("case", "i"), emm_entries())
def test_emmeans_and_contrasts_match_emmeans_kenward_roger(fits, case, i):
    ref = listed(REFERENCE[case]["emmeans"])[i]
    at = None if ref["at"] is None else {name: listed(values) for name, values in ref["at"].items()}
    means = mixed.emmeans(fits[case], ref["specs"], at=at, ddf="kenward-roger")
    contrasts = mixed.contrast(fits[case], ref["specs"], at=at, method=ref["method"], ddf="kenward-roger")
    for ours, table, label in ((means, ref["emmeans"], "arm"), (contrasts, ref["contrast"], "contrast")):
        assert list(ours.index.get_level_values(label)) == listed(table[label])
        for r_name, name in (("emmean" if label == "arm" else "estimate", "estimate"), ("SE", "se"),
                             ("df", "df")):
            assert rel(ours[name], listed(table[r_name])) < TOL[name], (label, name)
        assert ours.attrs["note"].startswith("Degrees-of-freedom method: kenward-roger")
    assert rel(contrasts["p"], listed(ref["contrast"]["p.value"])) < TOL["p"]


# --- the blockwise computation -----------------------------------------------------------------

def dense_vcov_adj(X, terms, sigma2, weights):
    """pbkrtest's vcovAdj16_internal on the whole dense V, written as pbkrtest writes it."""
    n = len(X)
    G = []
    for term in terms:
        k = term.X.shape[1]
        levels = term.codes.max() + 1
        Z = np.zeros((n, levels * k))
        Z[np.arange(n)[:, None], term.codes[:, None] * k + np.arange(k)] = term.X
        for j in range(k):
            for i in range(j, k):
                E = np.zeros((k, k))
                E[i, j] = E[j, i] = 1
                G.append(Z @ np.kron(np.eye(levels), E) @ Z.T)
    G.append(np.diag(1 / weights))
    gamma = [t.cov[i, j] for t in terms for j in range(t.X.shape[1]) for i in range(j, t.X.shape[1])] + [sigma2]
    inverse = np.linalg.inv(sum(g * m for g, m in zip(gamma, G)))
    phi = np.linalg.inv(X.T @ inverse @ X)
    P = [-X.T @ inverse @ g @ inverse @ X for g in G]
    Q = [[X.T @ inverse @ gi @ inverse @ gj @ inverse @ X for gj in G] for gi in G]
    information = np.array([[np.trace(gi @ inverse @ gj @ inverse) - 2 * np.sum(phi * Q[i][j])
                             + np.sum((phi @ P[i]) * (P[j] @ phi)) for j, gj in enumerate(G)]
                            for i, gi in enumerate(G)])
    W = 2 * np.linalg.inv(information)
    U = sum(W[i, j] * (Q[i][j] - P[i] @ phi @ P[j]) for i in range(len(G)) for j in range(len(G)))
    return phi + 2 * phi @ U @ phi, phi, np.array(P), W


def dense_kr(phi, P, W, L):
    """pbkrtest's .KR_adjust: (df, F scaling) of L beta = 0."""
    theta = L.T @ np.linalg.solve(L @ phi @ L.T, L)
    u = [theta @ phi @ p @ phi for p in P]
    a1 = sum(W[i, j] * np.trace(u[i]) * np.trace(u[j]) for i in range(len(P)) for j in range(len(P)))
    a2 = sum(W[i, j] * np.sum(u[i] * u[j].T) for i in range(len(P)) for j in range(len(P)))
    q = len(L)
    b = (a1 + 6 * a2) / (2 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    c1, c2, c3 = (np.array([g, q - g, q + 2 - g]) / (3 * q + 2 * (1 - g)))
    rho = ((1 - a2 / q) / (1 - c2 * b)) ** 2 * (1 + c1 * b) / (q * (1 - c3 * b))
    df = 4 + (q + 2) / (q * rho - 1)
    return df, df * (1 - a2 / q) / (df - 2)


@pytest.fixture(scope="module")
def small_model():
    """Nested and crossed terms on 60 rows: 15 patients (2 to 4 rows, a random slope each) in 4
    therapists, a site factor that links therapists 0 and 1, and prior weights."""
    rng = np.random.default_rng(7)
    patient = np.repeat(np.arange(14), rng.integers(2, 5, 14))[:60]
    patient = np.concatenate([patient, np.full(60 - len(patient), 14)])
    therapist = np.minimum(patient // 4, 2) + (patient >= 13)
    site = np.where(therapist < 2, 0, therapist - 1)
    time = rng.normal(size=60)
    X = np.column_stack([np.ones(60), time, therapist % 2, time * (therapist % 2)])
    terms = [kenward._Term(np.column_stack([np.ones(60), time]), patient, np.array([[2.0, -0.3], [-0.3, 0.5]])),
             kenward._Term(np.ones((60, 1)), therapist, np.array([[0.8]])),
             kenward._Term(np.ones((60, 1)), site, np.array([[0.4]]))]
    return X, terms, 1.3, rng.uniform(0.5, 2, 60)


def test_blockwise_equals_dense(small_model):
    X, terms, sigma2, weights = small_model
    kr = kenward._pieces(X, terms, sigma2, weights)
    adjusted, phi, P, W = dense_vcov_adj(X, terms, sigma2, weights)
    assert rel(kr.cov_beta, adjusted) < 1e-10 and rel(kr.phi, phi) < 1e-10
    assert np.allclose(kr.P, P, rtol=1e-10, atol=1e-12) and np.allclose(kr.W, W, rtol=1e-9, atol=1e-12)
    rows = np.array([[0, 1.0, 0, 0], [0, 0, 1, 2], [1, 0.5, 0, 0]])
    assert rel(kr.df(rows), [dense_kr(phi, P, W, row[None])[0] for row in rows]) < 1e-9
    beta = np.array([1.0, -0.5, 0.3, 0.2])
    df, scaling = dense_kr(phi, P, W, rows[:2])
    estimate = rows[:2] @ beta
    wald = estimate @ np.linalg.solve(rows[:2] @ adjusted @ rows[:2].T, estimate) / 2
    assert rel(kr.f_test(rows[:2], beta), [scaling * wald, df]) < 1e-9


def test_a_singular_information_takes_its_generalised_inverse(small_model):
    # a term given twice splits its variance in two: the information is singular, and pbkrtest's
    # ginv gives the result of the term given once
    X, terms, sigma2, weights = small_model
    halves = [kenward._Term(t.X, t.codes, t.cov / 2) for t in terms[1:2]] * 2
    once = kenward._pieces(X, terms[:2], sigma2, weights)
    twice = kenward._pieces(X, [terms[0], *halves], sigma2, weights)
    assert not once.messages and "generalised inverse" in twice.messages[0]
    assert rel(twice.cov_beta, once.cov_beta) < 1e-8
    assert rel(twice.df(np.eye(4)), once.df(np.eye(4))) < 1e-8


def test_blocks_are_the_connected_components(small_model):
    X, terms, _, _ = small_model
    therapist = terms[1].codes
    for linked, expected in ((terms[:2], [[0], [1], [2], [3]]), (terms, [[0, 1], [2], [3]])):
        blocks = kenward._blocks(linked, len(X))
        assert (np.sort(np.concatenate([b.ravel() for b in blocks])) == np.arange(len(X))).all()
        assert sorted(sorted(set(therapist[row])) for b in blocks for row in b) == expected  # nested; a site links 0, 1


def test_a_block_too_large_for_dense_algebra_is_refused(fits, monkeypatch):
    monkeypatch.setattr(kenward, "MAX_BLOCK_ROWS", 100)
    with pytest.raises(ValueError, match="link 144 rows into one block .* more than 100"):
        kenward._kenward_roger(fits["penicillin"])


def test_prior_weights_scaled_by_a_constant_leave_kenward_roger_unchanged(fits):
    data = sim_trial().assign(w=lambda d: 1 + (d["time"] > 4))
    once = kenward._kenward_roger(mixed.fit_lmm(data, TRIAL, "participant_id", "~time", weights="w"))
    thrice = kenward._kenward_roger(mixed.fit_lmm(data.assign(w=3 * data["w"]), TRIAL, "participant_id", "~time",
                                                  weights="w"))
    assert rel(thrice.cov_beta, once.cov_beta) < 1e-5
    assert rel(thrice.df(np.eye(6)), once.df(np.eye(6))) < 1e-5
    assert rel(once.cov_beta, kenward._kenward_roger(fits["sim_trial"]).cov_beta) > 1e-3


def test_an_ml_fit_is_refused(fits):
    fit = mixed.fit_lmm(sim_trial(), TRIAL, "participant_id", "~time", reml=False)
    with pytest.raises(ValueError, match="needs a REML fit"):
        mixed.emmeans(fit, "arm", ddf="kenward-roger")
