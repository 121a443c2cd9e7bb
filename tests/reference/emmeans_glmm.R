# Reference values for analysis.mixed.emmeans and contrast on glmer fits (link and response
# scale) and for Dunnett-adjusted contrasts on an lmer fit, computed with lme4 and emmeans.
#
# Run from the repository root:
#     Rscript tests/reference/emmeans_glmm.R
# Writes tests/reference/emmeans_glmm.json at full precision (digits = NA).
#
# Data and fits (as in lme4_glmm.R and emmeans_mixed.R):
#   recovered         tests/reference/lmm_sim.csv, rows with phq9_total observed, recovered =
#                     phq9_total < 10, arm levels control, cbt, mindfulness:
#                     recovered ~ time * arm + (1 | participant_id), binomial (logit), Laplace.
#   recovered_probit  the same with the probit link (contrasts stay on the probit scale).
#   attacks           tests/reference/glmm_counts.csv: attacks ~ time + arm + (1 | participant_id),
#                     poisson (log) with offset = log(days) (emmeans puts the offset at its mean
#                     over the fitted rows), arm levels control, cbt.
#   sim_trial         lmm_sim.csv: phq9_total ~ time * arm + (time | participant_id), lmer, REML.
# The glmer fits use lme4_glmm.R's "tight" control (tolPwrss = 1e-12, bobyqa), which
# fit_glmm matches; the lmer fit emmeans_mixed.R's tightened optimiser tolerances.
#
# emmeans turns adjust = "dunnett" into "dunnettx" (pmatch): Dunnett's critical values and
# p-values approximated (emmeans' .pdunnx) by a weighted mean of a studentized-range
# (Tukey) and a Sidak probability, the quantile found by uniroot with tol = 5e-4 (.qdunnx);
# the table records .pdunnx and the root of .qdunnx's equation to full precision too
# ("dunnettx_quantile"), to tell the approximation from the root finding.
#
# Per case: "emmeans" (emmeans(fit, specs, at) summarised with infer = c(TRUE, FALSE) on the
# link scale and with type = "response"), and "contrasts" (contrast(emm, method, adjust)
# summarised with infer = TRUE, type = "link" or "response"). Each entry records specs, by,
# at, type (and method and adjust) so that the test makes the same call.

suppressPackageStartupMessages(library(lmerTest))
suppressPackageStartupMessages(library(emmeans))
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")

emm_options(lmer.df = "satterthwaite")
tight_glmer <- glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa")

emm_entry <- function(fit, specs, by = NULL, at = NULL) {
  emm <- emm_at(fit, specs, by, at)
  list(specs = specs, by = by, at = at, emm = emm)
}

emm_tables <- function(entry, types = c("link", "response")) {
  lapply(types, function(type) {
    s <- summary(entry$emm, infer = c(TRUE, FALSE), type = type)
    list(specs = entry$specs, by = entry$by, at = entry$at, type = type, table = columns(s),
         note = attr(s, "mesg"))
  })
}

contrast_entry <- function(entry, method, adjust, type) {
  s <- summary(contrast(entry$emm, method = method, adjust = adjust), infer = TRUE, type = type)
  list(specs = entry$specs, by = entry$by, at = entry$at, method = method, adjust = adjust,
       type = type, table = columns(s), note = attr(s, "mesg"))
}

contrast_entries <- function(entry, method, adjust = "none", types = c("link", "response")) {
  lapply(types, function(type) contrast_entry(entry, method, adjust, type))
}

case <- function(fit, emms, contrasts) {
  list(emmeans = do.call(c, emms), contrasts = do.call(c, contrasts),
       loglik = as.numeric(logLik(fit)), fixef = unname(fixef(fit)))
}

sim <- read.csv("tests/reference/lmm_sim.csv")
sim <- sim[!is.na(sim$phq9_total), ]
sim$arm <- factor(sim$arm, levels = c("control", "cbt", "mindfulness"))
sim$recovered <- as.integer(sim$phq9_total < 10)

counts <- read.csv("tests/reference/glmm_counts.csv")
counts$arm <- factor(counts$arm, levels = c("control", "cbt"))

recovered <- glmer(recovered ~ time * arm + (1 | participant_id), sim, family = binomial,
                   control = tight_glmer)
recovered_probit <- glmer(recovered ~ time * arm + (1 | participant_id), sim,
                          family = binomial(link = "probit"), control = tight_glmer)
attacks <- glmer(attacks ~ time + arm + (1 | participant_id), counts, family = poisson,
                 offset = log(days), control = tight_glmer)
sim_trial <- lmer(phq9_total ~ time * arm + (time | participant_id), sim, REML = TRUE,
                  control = tight)

rec_by_time <- emm_entry(recovered, "arm", "time", list(time = c(0, 12)))
rec_mean <- emm_entry(recovered, "arm")
probit_end <- emm_entry(recovered_probit, "arm", NULL, list(time = 12))
attacks_arm <- emm_entry(attacks, "arm")
attacks_cells <- emm_entry(attacks, "arm", "time", list(time = c(0, 10)))
trial_by_time <- emm_entry(sim_trial, "arm", "time", list(time = c(0, 12)))
trial_mean <- emm_entry(sim_trial, "arm")

# Dunnett's critical values: emmeans' (uniroot, tol = 5e-4) and the root of its equation.
dunnettx_quantile <- function(k, df) {
  list(k = k, df = df, emmeans = emmeans:::.qdunnx(0.95, k, df),
       root = uniroot(function(x) emmeans:::.pdunnx(x, k, df) - 0.95, c(1, 6), tol = 1e-14)$root,
       pdunnx_at_2 = emmeans:::.pdunnx(2, k, df))
}

out <- list(
  recovered = case(recovered, list(emm_tables(rec_by_time), emm_tables(rec_mean)),
                   list(contrast_entries(rec_by_time, "trt.vs.ctrl"),
                        contrast_entries(rec_mean, "pairwise"),
                        contrast_entries(rec_by_time, "trt.vs.ctrl", "dunnett"))),
  recovered_probit = case(recovered_probit, list(emm_tables(probit_end)),
                          list(contrast_entries(probit_end, "trt.vs.ctrl"))),
  attacks = case(attacks, list(emm_tables(attacks_arm), emm_tables(attacks_cells)),
                 list(contrast_entries(attacks_arm, "trt.vs.ctrl"),
                      contrast_entries(attacks_arm, "pairwise", types = "response"),
                      contrast_entries(attacks_cells, "trt.vs.ctrl"))),
  sim_trial = case(sim_trial, list(),
                   list(contrast_entries(trial_by_time, "trt.vs.ctrl", "dunnett", "link"),
                        contrast_entries(trial_mean, "trt.vs.ctrl", "dunnett", "link"),
                        contrast_entries(trial_by_time, "pairwise", "dunnett", "link"))),
  dunnettx_quantiles = lapply(list(c(2, 10), c(2, 157.3), c(3, 30), c(5, 8), c(2, Inf), c(4, Inf)),
                              function(x) dunnettx_quantile(x[1], x[2])),
  versions = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest")),
    emmeans = as.character(packageVersion("emmeans"))
  )
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "tests/reference/emmeans_glmm.json")
