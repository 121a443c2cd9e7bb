# Reference values for analysis.mixed.emmeans, contrast and anova, computed with
# lme4, lmerTest and emmeans.
#
# Run from the repository root:
#     Rscript tests/reference/emmeans_mixed.R
# Writes tests/reference/emmeans_mixed.json at full precision (digits = NA).
#
# Data (read as in lme4_mixed.R):
#   sim    tests/reference/lmm_sim.csv, rows with missing phq9_total dropped, arm levels
#          control, cbt, mindfulness; time in weeks (0, 2, ..., 10); wave = factor(time);
#          late = as.numeric(time >= 6) (a numeric covariate with two values).
#   help   tests/reference/help_long.csv, rows with missing cesd_total dropped, arm levels
#          "usual care", "clinic", time in years (weeks / 52).
#
# Cases (all fitted with lmerTest::lmer, default optimiser with tightened tolerances, `tight`
# below: lme4's default stopping rule ends up to 8e-6 below the maximum log-likelihood here
# (and fails its gradient check on sim_arm_only and sim_binary), which moves estimates by
# ~5e-5 and SEs by ~1.5e-4 relative, more than the estimands' tolerances; the tight fits reach
# analysis.mixed's log-likelihood to 1e-10. Default fits are held against analysis.mixed in
# lme4_mixed.R):
#   sim_trial        phq9_total ~ time * arm + (time | participant_id), REML
#   sim_trial_ml     the same, ML
#   help_growth      cesd_total ~ time * arm + (time | participant_id), REML
#   sim_wave         phq9_total ~ wave * arm + (1 | participant_id), REML
#   sim_constrained  phq9_total ~ time + time:arm + (time | participant_id), REML
#                    (no baseline arm term: arm enters without contrasts in time:arm)
#   sim_arm_only     phq9_total ~ arm + (time | participant_id), REML (one term: lmerTest
#                    uses type I hypotheses)
#   sim_binary       phq9_total ~ time * arm + late + (time | participant_id), REML (emmeans
#                    keeps a covariate with two values at both, cov.keep = "2")
#
# The trial cases (sim_trial, sim_trial_ml, help_growth) hold emmeans(fit, ~ arm | time) at
# time 0 and 12 weeks (sim) or 0 and 2 years (help), ~ arm at the later time, ~ arm at the mean
# time, and their contrasts (trt.vs.ctrl and pairwise, unadjusted; pairwise with holm and
# trt.vs.ctrl with bonferroni on the first).
#
# Per case, as applicable: "emmeans" (emmeans(fit, specs, at), lmer.df = "satterthwaite",
# with estimate, SE, df and 95% limits), "contrasts" (contrast(emm, method, adjust) with
# summary(infer = TRUE)), and "anova" (anova(fit, type = 3), Satterthwaite). Each emmeans
# entry records its specs, by variables and at values so that the test can make the same
# call; `~ arm | time` with at = list(time = c(0, 12)) is what analysis.mixed.emmeans(fit,
# "arm", at={"time": [0, 12]}) returns (a numeric variable given several values joins the
# index as emmeans' `by`; R's `~ arm` with those two times would average over them). Each
# case also records reml, logLik and lme4's convergence messages.

suppressPackageStartupMessages(library(lmerTest))
suppressPackageStartupMessages(library(emmeans))
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")

emm_options(lmer.df = "satterthwaite")

emm_entry <- function(fit, specs, by = NULL, at = NULL) {
  emm <- emm_at(fit, specs, by, at)
  list(specs = specs, by = by, at = at, emm = emm,
       table = columns(summary(emm, infer = c(TRUE, FALSE))))
}

contrast_entry <- function(entry, method, adjust) {
  result <- contrast(entry$emm, method = method, adjust = adjust)
  list(specs = entry$specs, by = entry$by, at = entry$at, method = method, adjust = adjust,
       table = columns(summary(result, infer = TRUE)))
}

anova_entry <- function(fit) {
  table <- anova(fit, type = 3)
  list(terms = rownames(table), num_df = unname(table$NumDF), den_df = unname(table$DenDF),
       F = unname(table[["F value"]]), p = unname(table[["Pr(>F)"]]))
}

strip <- function(entry) entry[names(entry) != "emm"]

case <- function(fit, emms, contrasts = list()) {
  list(emmeans = lapply(emms, strip),
       contrasts = contrasts,
       anova = anova_entry(fit),
       reml = isREML(fit),
       loglik = as.numeric(logLik(fit)),
       lme4_messages = as.list(fit@optinfo$conv$lme4$messages))
}

sim <- read.csv("tests/reference/lmm_sim.csv")
sim <- sim[!is.na(sim$phq9_total), ]
sim$arm <- factor(sim$arm, levels = c("control", "cbt", "mindfulness"))
sim$wave <- factor(sim$time)
sim$late <- as.numeric(sim$time >= 6)

help <- read.csv("tests/reference/help_long.csv")
help <- help[!is.na(help$cesd_total), ]
help$arm <- factor(help$arm, levels = c("usual care", "clinic"))
help$time <- help$time / 52

trial_case <- function(fit, times) {
  by_time <- emm_entry(fit, "arm", "time", list(time = times))
  at_end <- emm_entry(fit, "arm", NULL, list(time = times[2]))
  at_mean <- emm_entry(fit, "arm")
  contrasts <- list(
    contrast_entry(by_time, "trt.vs.ctrl", "none"),
    contrast_entry(by_time, "pairwise", "none"),
    contrast_entry(by_time, "pairwise", "holm"),
    contrast_entry(by_time, "trt.vs.ctrl", "bonferroni"),
    contrast_entry(at_end, "trt.vs.ctrl", "none"),
    contrast_entry(at_end, "pairwise", "none"),
    contrast_entry(at_mean, "pairwise", "none")
  )
  case(fit, list(by_time, at_end, at_mean), contrasts)
}

sim_trial <- lmer(phq9_total ~ time * arm + (time | participant_id), sim, REML = TRUE,
                  control = tight)
sim_trial_ml <- lmer(phq9_total ~ time * arm + (time | participant_id), sim, REML = FALSE,
                     control = tight)
help_growth <- lmer(cesd_total ~ time * arm + (time | participant_id), help, REML = TRUE,
                    control = tight)
sim_wave <- lmer(phq9_total ~ wave * arm + (1 | participant_id), sim, REML = TRUE,
                 control = tight)
sim_constrained <- lmer(phq9_total ~ time + time:arm + (time | participant_id), sim, REML = TRUE,
                        control = tight)
sim_arm_only <- lmer(phq9_total ~ arm + (time | participant_id), sim, REML = TRUE,
                     control = tight)
sim_binary <- lmer(phq9_total ~ time * arm + late + (time | participant_id), sim, REML = TRUE,
                   control = tight)

wave_arm <- emm_entry(sim_wave, "arm")
wave_cells <- emm_entry(sim_wave, c("arm", "wave"))
wave_end <- emm_entry(sim_wave, "arm", NULL, list(wave = "10"))
constrained_end <- emm_entry(sim_constrained, "arm", NULL, list(time = 12))
binary_arm <- emm_entry(sim_binary, "arm")

out <- list(
  sim_trial = trial_case(sim_trial, c(0, 12)),
  sim_trial_ml = trial_case(sim_trial_ml, c(0, 12)),
  help_growth = trial_case(help_growth, c(0, 2)),
  sim_wave = case(sim_wave, list(wave_arm, wave_cells, emm_entry(sim_wave, "wave"), wave_end),
                  list(contrast_entry(wave_arm, "pairwise", "none"),
                       contrast_entry(wave_end, "trt.vs.ctrl", "holm"),
                       contrast_entry(wave_cells, "trt.vs.ctrl", "none"))),
  sim_constrained = case(sim_constrained, list(constrained_end),
                         list(contrast_entry(constrained_end, "trt.vs.ctrl", "none"))),
  sim_arm_only = case(sim_arm_only, list(emm_entry(sim_arm_only, "arm"))),
  sim_binary = case(sim_binary, list(binary_arm),
                    list(contrast_entry(binary_arm, "trt.vs.ctrl", "none"))),
  versions = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest")),
    emmeans = as.character(packageVersion("emmeans"))
  )
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "tests/reference/emmeans_mixed.json")
