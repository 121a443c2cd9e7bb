# Reference values for analysis.mixed.fit_lmm(weights=): lme4's prior weights (the residual
# variance of row i is sigma^2 / w_i), computed with lme4 and lmerTest.
#
# Run from the repository root:
#     Rscript tests/reference/lme4_weights.R
# Writes tests/reference/lme4_weights.json at full precision (digits = NA).
#
# Data (read as in lme4_mixed.R and lme4_multilevel.R), each with a weight derived
# deterministically, "PHQ-9 items answered" (4 to 9):
#   sim         tests/reference/lmm_sim.csv, rows with missing phq9_total dropped, arm levels
#               control, cbt, mindfulness; time in weeks (0, 2, ..., 10);
#               items = 4 + (id + time / 2) %% 6, id the number in participant_id (P0001 -> 1).
#   therapists  tests/reference/therapists.csv, rows with missing phq9_total dropped, arm levels
#               control, cbt; time 0..4; items = 4 + (id + time) %% 6, id the number in
#               participant_id (P001 -> 1).
#
# Cases (all fitted with lmerTest::lmer(..., weights = items), default optimiser with tight
# tolerances, `tight` below, as in emmeans_mixed.R):
#   growth_reml   sim: phq9_total ~ time * arm + (time | participant_id), REML
#   growth_ml     the same, ML
#   nested_reml   therapists: phq9_total ~ time * arm + (1 | therapist/participant_id), REML
#   nested_ml     the same, ML
#
# Quantities per case: fixed effects (Estimate, Std. Error, Satterthwaite df) from summary();
# as.data.frame(VarCorr(fit)) (grp, var1, var2, vcov, sdcor); sigma; theta; logLik, AIC, BIC
# (lme4's logLik includes the log-determinant of the weights: devCrit subtracts
# sum(log(w))); nobs; for each grouping factor the conditional modes and conditional SDs of
# its first three levels in sorted order (as.data.frame(ranef(fit, condVar = TRUE))); the
# first ten fitted values. "zero_weight" records what lme4 does with a zero weight (the
# growth_reml model with the first row's weight set to 0): it accepts it, but log(0) makes
# the criterion infinite, and the optimiser stops at its start (theta = 1).

suppressPackageStartupMessages(library(lmerTest))
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")


id_number <- function(ids) as.integer(sub("^P", "", ids))

sim <- read.csv("tests/reference/lmm_sim.csv")
sim <- sim[!is.na(sim$phq9_total), ]
sim$arm <- factor(sim$arm, levels = c("control", "cbt", "mindfulness"))
sim$items <- 4 + (id_number(sim$participant_id) + sim$time / 2) %% 6

trial <- read.csv("tests/reference/therapists.csv")
trial <- trial[!is.na(trial$phq9_total), ]
trial$arm <- factor(trial$arm, levels = c("control", "cbt"))
trial$items <- 4 + (id_number(trial$participant_id) + trial$time) %% 6

growth <- phq9_total ~ time * arm + (time | participant_id)
nested <- phq9_total ~ time * arm + (1 | therapist/participant_id)
fit <- function(formula, data, reml) {
  lmer(formula, data, REML = reml, weights = items, control = tight)
}

zero <- sim
zero$items[1] <- 0
zero_fit <- suppressWarnings(fit(growth, zero, TRUE))

out <- list(
  growth_reml = summarise_fit(fit(growth, sim, TRUE)),
  growth_ml = summarise_fit(fit(growth, sim, FALSE)),
  nested_reml = summarise_fit(fit(nested, trial, TRUE)),
  nested_ml = summarise_fit(fit(nested, trial, FALSE)),
  zero_weight = list(loglik = as.character(as.numeric(logLik(zero_fit))), theta = unname(getME(zero_fit, "theta")),
                     nobs = nobs(zero_fit)),
  versions = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest"))
  )
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/lme4_weights.json")
