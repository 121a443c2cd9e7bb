# Reference values for analysis.mixed with several random-effect terms, computed
# with lme4 and lmerTest.
#
# Run from the repository root:
#     Rscript tests/reference/lme4_multilevel.R
# Writes tests/reference/therapists.csv and tests/reference/penicillin.csv (the data)
# and tests/reference/lme4_multilevel.json at full precision (digits = NA).
#
# Data
#   therapists.csv  a simulated three-level trial (set.seed(14)): 24 therapists (T01..T24),
#                   12 per arm (control, cbt), 10 patients each (participant_id P001..P240,
#                   unique across therapists), 5 waves (time 0..4); phq9_total =
#                   16 - 0.6 time + arm effects + therapist intercept (SD 1.5)
#                   + patient intercept and slope (SD 3 and 0.6, correlation -0.3)
#                   + residual (SD 2.5), 6% of the outcomes missing completely at random.
#   penicillin.csv  lme4's Penicillin data (144 rows: diameter, plate a..x, sample A..F).
#
# Cases (all fitted with lmerTest::lmer, default optimiser and settings; rows with
# missing phq9_total dropped)
#   three_level       phq9_total ~ time * arm + (time | participant_id) + (1 | therapist), REML
#   three_level_tight the same model with tight optimiser tolerances (xtol_abs 1e-12,
#                     ftol_abs 1e-14, xtol_rel 1e-12, ftol_rel 1e-15): lme4's default stops
#                     ~8e-7 log-likelihood short of the optimum here, on a flat ridge
#                     along the intercept-slope covariance
#   three_level_ml    the same model, ML
#   nested            phq9_total ~ time * arm + (1 | therapist/participant_id), REML
#   crossed           diameter ~ 1 + (1 | plate) + (1 | sample), REML (Penicillin)
#   uncorrelated      phq9_total ~ time * arm + (time || participant_id), REML
#   estimands         on three_level_tight: emmeans(~ arm | time, at = list(time = 4)) with
#                     Satterthwaite df, contrast(..., "trt.vs.ctrl"), and lmerTest's type III
#                     anova (Satterthwaite)
#   lrt_therapist     anova(two-level, three_level): the two-level model
#                     phq9_total ~ time * arm + (time | participant_id) against three_level
#                     (anova refits both by ML)
#
# Quantities per case: fixed effects (Estimate, Std. Error, Satterthwaite df) from
# summary(); as.data.frame(VarCorr(fit)) (columns grp, var1, var2, vcov, sdcor); theta;
# logLik, AIC, BIC, nobs, ngrps, isSingular, lme4's convergence messages; for each
# grouping factor the conditional modes and conditional SDs of its first three levels
# in sorted order (as.data.frame(ranef(fit, condVar = TRUE)): term, level, mode, sd);
# the first ten fitted values.

suppressPackageStartupMessages(library(lmerTest))
suppressPackageStartupMessages(library(emmeans))
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")

simulate_therapists <- function() {
  set.seed(14)
  therapists <- 24
  per_therapist <- 10
  waves <- 0:4
  arm <- rep(c("control", "cbt"), each = therapists / 2)
  therapist_effect <- rnorm(therapists, sd = 1.5)
  patients <- therapists * per_therapist
  patient_therapist <- rep(seq_len(therapists), each = per_therapist)
  slope_cov <- matrix(c(3^2, -0.3 * 3 * 0.6, -0.3 * 3 * 0.6, 0.6^2), 2)
  patient_effect <- matrix(rnorm(2 * patients), patients) %*% chol(slope_cov)
  rows <- expand.grid(time = waves, patient = seq_len(patients))
  t_of <- patient_therapist[rows$patient]
  cbt <- arm[t_of] == "cbt"
  mean <- 16 - 0.6 * rows$time + 0.5 * cbt - 0.8 * cbt * rows$time
  y <- mean + therapist_effect[t_of] + patient_effect[rows$patient, 1] +
    patient_effect[rows$patient, 2] * rows$time + rnorm(nrow(rows), sd = 2.5)
  y[runif(nrow(rows)) < 0.06] <- NA
  data.frame(therapist = sprintf("T%02d", t_of), participant_id = sprintf("P%03d", rows$patient),
             arm = arm[t_of], time = rows$time, phq9_total = y)
}

write.csv(simulate_therapists(), "tests/reference/therapists.csv", row.names = FALSE)
write.csv(Penicillin, "tests/reference/penicillin.csv", row.names = FALSE)

trial <- read.csv("tests/reference/therapists.csv")
trial <- trial[!is.na(trial$phq9_total), ]
trial$arm <- factor(trial$arm, levels = c("control", "cbt"))
penicillin <- read.csv("tests/reference/penicillin.csv")

three_level <- phq9_total ~ time * arm + (time | participant_id) + (1 | therapist)
tight_header <- lmerControl(optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12,
                                           ftol_rel = 1e-15, maxeval = 1e5))  # the tolerances of the header
three_level_fit <- lmer(three_level, trial, REML = TRUE)
two_level_fit <- lmer(phq9_total ~ time * arm + (time | participant_id), trial, REML = TRUE)
lrt <- anova(two_level_fit, three_level_fit)
tight_fit <- lmer(three_level, trial, REML = TRUE, control = tight_header)
means <- emmeans(tight_fit, ~ arm | time, at = list(time = 4), lmer.df = "satterthwaite")
grid <- as.data.frame(summary(means))
contrasts <- as.data.frame(summary(contrast(means, "trt.vs.ctrl", adjust = "none")))
type3 <- anova(tight_fit, type = 3, ddf = "Satterthwaite")
out <- list(
  three_level = summarise_fit(three_level_fit),
  three_level_tight = summarise_fit(tight_fit),
  estimands = list(
    emmeans = list(arm = as.character(grid$arm), estimate = grid$emmean, se = grid$SE, df = grid$df),
    contrast = list(label = as.character(contrasts$contrast), estimate = contrasts$estimate,
                    se = contrasts$SE, df = contrasts$df, p = contrasts$p.value),
    anova = list(term = rownames(type3), num_df = type3$NumDF, den_df = type3$DenDF,
                 F = type3[["F value"]], p = type3[["Pr(>F)"]])
  ),
  three_level_ml = summarise_fit(lmer(three_level, trial, REML = FALSE)),
  nested = summarise_fit(lmer(phq9_total ~ time * arm + (1 | therapist/participant_id), trial)),
  crossed = summarise_fit(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), penicillin)),
  uncorrelated = summarise_fit(lmer(phq9_total ~ time * arm + (time || participant_id), trial)),
  lrt_therapist = list(
    npar = unname(lrt$npar), loglik = unname(lrt$logLik), chisq = unname(lrt$Chisq[2]),
    df = unname(lrt$Df[2]), p = unname(lrt[["Pr(>Chisq)"]][2])
  ),
  versions = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest")),
    emmeans = as.character(packageVersion("emmeans"))
  )
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/lme4_multilevel.json")
