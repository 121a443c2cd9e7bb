# Reference values for analysis.mixed.fit_glmm, computed with lme4's glmer.
#
# Run from the repository root:
#     Rscript tests/reference/lme4_glmm.R
# Writes tests/reference/glmm_counts.csv (the simulated Poisson data, written once with
# set.seed) and tests/reference/lme4_glmm.json at full precision (digits = NA).
#
# Each case is fitted twice: with glmer's default control (bobyqa then Nelder-Mead,
# nAGQ0initStep, tolPwrss = 1e-7) as "default", and with PIRLS converged to
# tolPwrss = 1e-12 and bobyqa for both stages as "tight". lme4's deviance is evaluated
# at the end of PIRLS with log|L| from the weights before the last step; at tolPwrss =
# 1e-7 this overstates the Laplace deviance by up to ~0.02 on these data and moves the
# estimates (by up to ~0.006 of max(|estimate|, SE)) and the Hessian-based SEs (by up
# to ~2%). "tight" removes that error, so it holds the Laplace (or AGQ) fit itself;
# bobyqa in the second stage because Nelder-Mead stops short of the optimum of
# recovered_slope (lme4's gradient check fails there).
#
# Cases
#   recovered_laplace  tests/reference/lmm_sim.csv, rows with phq9_total observed,
#                      recovered = phq9_total < 10 (0/1; below the PHQ-9 caseness
#                      cut-off), arm levels control, cbt, mindfulness:
#                      recovered ~ time * arm + (1 | participant_id), binomial (logit),
#                      Laplace (nAGQ = 1).
#   recovered_agq      the same with nAGQ = 10 (adaptive Gauss-Hermite).
#   recovered_probit   the same with the probit link, Laplace.
#   recovered_slope    recovered ~ time * arm + (1 + time | participant_id), Laplace.
#   recovered_nagq0    recovered_laplace with nAGQ = 0 (the first stage alone).
#   remission_agq      remission = phq9_total < 5 (9% of rows; the intercept variance is
#                      large), remission ~ time * arm + (1 | participant_id), nAGQ = 10:
#                      lme4 stops short of the optimum here and says so.
#   sessions           data/synthetic_trial.csv, rows with sessions_offered > 0:
#                      cbind(sessions_attended, sessions_offered - sessions_attended)
#                      ~ arm + (1 | participant_id), binomial (logit), Laplace
#                      (arm levels in R's default order: cbt, mindfulness).
#   attacks            tests/reference/glmm_counts.csv (simulated below): attacks ~
#                      time + arm + (1 | participant_id), poisson (log) with
#                      offset(log(days)), Laplace.
#   attacks_slope      attacks ~ time + arm + (1 + time | participant_id), the same: the
#                      simulated slopes do not vary, so the fit is singular (theta on its
#                      bound, where lme4's vcov falls back to RX).
#
# Quantities per case: fixed effects (Estimate, Std. Error, z value, Pr(>|z|)) from
# summary(), i.e. vcov() with lme4's default (the finite-difference Hessian of the
# deviance over (theta, beta)); the same SEs from RX (vcov(use.hessian = FALSE));
# as.data.frame(VarCorr(fit)); theta; logLik, AIC, BIC; nobs, ngroups; isSingular;
# lme4's convergence messages; the first five conditional modes (ranef) and the first
# ten fitted values (response scale); the seconds glmer took with the default control
# (median of 3 runs; null for "tight").

suppressPackageStartupMessages(library(lme4))
suppressPackageStartupMessages(library(jsonlite))

timed <- function(make) {
  seconds <- numeric(3)
  for (i in seq_along(seconds)) seconds[i] <- system.time(fit <- make(glmerControl()))[["elapsed"]]
  tight <- suppressWarnings(make(glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa")))
  list(default = summarise_fit(fit, median(seconds)), tight = summarise_fit(tight, NA))
}

summarise_fit <- function(fit, seconds) {
  coefs <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  re <- ranef(fit)[[1]]
  list(
    terms = rownames(coefs),
    estimate = unname(coefs[, "Estimate"]),
    se = unname(coefs[, "Std. Error"]),
    se_rx = unname(sqrt(diag(as.matrix(suppressWarnings(vcov(fit, use.hessian = FALSE)))))),
    z = unname(coefs[, "z value"]),
    p = unname(coefs[, "Pr(>|z|)"]),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov,
                   sdcor = vc$sdcor),
    theta = unname(getME(fit, "theta")),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    ngroups = unname(ngrps(fit)),
    singular = isSingular(fit),
    nagq = fit@devcomp$dims[["nAGQ"]],
    lme4_messages = as.list(fit@optinfo$conv$lme4$messages),
    ranef_groups = head(rownames(re), 5),
    ranef = unname(as.matrix(head(re, 5))),
    fitted = unname(head(fitted(fit), 10)),
    seconds = seconds
  )
}

sim <- read.csv("tests/reference/lmm_sim.csv")
sim <- sim[!is.na(sim$phq9_total), ]
sim$arm <- factor(sim$arm, levels = c("control", "cbt", "mindfulness"))
sim$recovered <- as.integer(sim$phq9_total < 10)
sim$remission <- as.integer(sim$phq9_total < 5)
recovered_laplace <- timed(function(control)
  glmer(recovered ~ time * arm + (1 | participant_id), sim, family = binomial, control = control))
recovered_agq <- timed(function(control)
  glmer(recovered ~ time * arm + (1 | participant_id), sim, family = binomial, nAGQ = 10, control = control))
recovered_probit <- timed(function(control)
  glmer(recovered ~ time * arm + (1 | participant_id), sim, family = binomial(link = "probit"), control = control))
recovered_slope <- timed(function(control)
  glmer(recovered ~ time * arm + (1 + time | participant_id), sim, family = binomial, control = control))
recovered_nagq0 <- timed(function(control)
  glmer(recovered ~ time * arm + (1 | participant_id), sim, family = binomial, nAGQ = 0, control = control))
remission_agq <- timed(function(control)
  glmer(remission ~ time * arm + (1 | participant_id), sim, family = binomial, nAGQ = 10, control = control))

trial <- read.csv("data/synthetic_trial.csv")
trial <- trial[!is.na(trial$sessions_offered) & trial$sessions_offered > 0, ]
sessions <- timed(function(control)
  glmer(cbind(sessions_attended, sessions_offered - sessions_attended) ~ arm + (1 | participant_id),
        trial, family = binomial, control = control))

# Panic attacks counted over a varying number of diary days: 80 participants x 6 waves.
set.seed(20240614)
n_id <- 80
waves <- 0:5
counts <- expand.grid(wave = waves, id = seq_len(n_id))
counts$participant_id <- sprintf("P%03d", counts$id)
counts$arm <- ifelse(counts$id %% 2 == 0, "cbt", "control")
counts$time <- counts$wave * 2
counts$days <- sample(7:28, nrow(counts), replace = TRUE)
intercepts <- rnorm(n_id, 0, 0.7)
rate <- exp(-1.2 - 0.04 * counts$time - 0.35 * (counts$arm == "cbt") + intercepts[counts$id])
counts$attacks <- rpois(nrow(counts), rate * counts$days)
counts <- counts[, c("participant_id", "wave", "time", "arm", "days", "attacks")]
write.csv(counts, "tests/reference/glmm_counts.csv", row.names = FALSE)
counts$arm <- factor(counts$arm, levels = c("control", "cbt"))
attacks <- timed(function(control)
  glmer(attacks ~ time + arm + (1 | participant_id), counts, family = poisson,
        offset = log(days), control = control))
attacks_slope <- timed(function(control)
  glmer(attacks ~ time + arm + (1 + time | participant_id), counts, family = poisson,
        offset = log(days), control = control))

out <- list(
  recovered_laplace = recovered_laplace,
  recovered_agq = recovered_agq,
  recovered_probit = recovered_probit,
  recovered_slope = recovered_slope,
  recovered_nagq0 = recovered_nagq0,
  remission_agq = remission_agq,
  sessions = sessions,
  attacks = attacks,
  attacks_slope = attacks_slope,
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/lme4_glmm.json")
