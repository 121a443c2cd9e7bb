# Reference values for analysis.mixed's Kenward-Roger inference (analysis.mixed.kenward),
# computed with pbkrtest, lmerTest and emmeans.
#
# Run from the repository root:
#     Rscript tests/reference/pbkrtest_kr.R
# Writes tests/reference/pbkrtest_kr.json at full precision (digits = NA).
#
# Data (read as in emmeans_mixed.R and lme4_multilevel.R; rows with a missing outcome dropped):
#   lmm_sim.csv      arm levels control, cbt, mindfulness; time in weeks; wave = factor(time)
#   therapists.csv   arm levels control, cbt; time 0..4; wave = factor(time)
#   penicillin.csv   lme4's Penicillin
#
# Cases (lmerTest::lmer, REML, tight optimiser tolerances as in emmeans_mixed.R, so that the
# variance parameters agree with analysis.mixed's to ~1e-7):
#   sim_trial     phq9_total ~ time * arm + (time | participant_id)           (growth, one factor)
#   sim_wave      phq9_total ~ wave * arm + (1 | participant_id)              (one factor, 5-df terms)
#   three_level   phq9_total ~ time * arm + (time | participant_id) + (1 | therapist)  (therapists)
#   nested        phq9_total ~ time * arm + (1 | therapist/participant_id)    (therapists)
#   uncorrelated  phq9_total ~ time * arm + (time || participant_id)          (therapists)
#   crossed_waves phq9_total ~ time * arm + (1 | participant_id) + (1 | wave) (therapists; crossed)
#   penicillin    diameter ~ 1 + (1 | plate) + (1 | sample)                   (crossed)
#
# Per case: the fixed-effect names, lme4's vcov (Phi) and pbkrtest's adjusted covariance
# vcovAdj (PhiA, row by row), the KR df of each coefficient (pbkrtest::Lb_ddf of the unit
# vector, as get_Lb_ddf), loglik; where the model has fixed-effect terms, lmerTest's
# anova(type = 3, ddf = "Kenward-Roger") (NumDF, DenDF, F value -- the scaled F, as lmerTest
# reports F.scaling * FstatU -- and Pr(>F)) and, for each type III hypothesis matrix,
# pbkrtest::KRmodcomp's F (scaled), unscaled F and F.scaling; and emmeans / contrast with
# lmer.df = "kenward-roger" (estimate, SE, df; pbkrtest.limit raised so that emmeans does not
# fall back to Satterthwaite above 3000 rows). Each emmeans entry records specs, by and at.

suppressPackageStartupMessages(library(lmerTest))
suppressPackageStartupMessages(library(pbkrtest))
suppressPackageStartupMessages(library(emmeans))
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")

emm_options(lmer.df = "kenward-roger", pbkrtest.limit = 1e6)

emm_entry <- function(fit, specs, by = NULL, at = NULL, method = "trt.vs.ctrl") {
  emm <- emm_at(fit, specs, by, at)
  list(specs = specs, by = by, at = at, method = method,
       emmeans = columns(summary(emm, infer = c(TRUE, FALSE))),
       contrast = columns(summary(contrast(emm, method = method, adjust = "none"), infer = TRUE)))
}

kr_case <- function(fit, emms = list()) {
  phi <- as.matrix(vcov(fit))
  phi_adj <- vcovAdj(fit)
  p <- ncol(phi)
  out <- list(
    terms = colnames(phi),
    vcov = unname(phi),
    vcov_adj = unname(as.matrix(phi_adj)),
    df = vapply(seq_len(p), function(i) Lb_ddf(diag(p)[i, ], phi, phi_adj), numeric(1)),
    loglik = as.numeric(logLik(fit)),
    emmeans = emms
  )
  if (p > 1) {
    table <- anova(fit, type = 3, ddf = "Kenward-Roger")
    hypotheses <- attr(table, "hypotheses")
    kr <- lapply(hypotheses, function(L) KRmodcomp(fit, L)$test)
    out$anova <- list(
      terms = rownames(table), num_df = unname(table$NumDF), den_df = unname(table$DenDF),
      F = unname(table[["F value"]]), p = unname(table[["Pr(>F)"]]),
      kr_F = unname(vapply(kr, function(x) x["Ftest", "stat"], numeric(1))),
      kr_F_unscaled = unname(vapply(kr, function(x) x["FtestU", "stat"], numeric(1))),
      kr_F_scaling = unname(vapply(kr, function(x) x["Ftest", "F.scaling"], numeric(1)))
    )
  }
  out
}

sim <- read.csv("tests/reference/lmm_sim.csv")
sim <- sim[!is.na(sim$phq9_total), ]
sim$arm <- factor(sim$arm, levels = c("control", "cbt", "mindfulness"))
sim$wave <- factor(sim$time)

trial <- read.csv("tests/reference/therapists.csv")
trial <- trial[!is.na(trial$phq9_total), ]
trial$arm <- factor(trial$arm, levels = c("control", "cbt"))
trial$wave <- factor(trial$time)

penicillin <- read.csv("tests/reference/penicillin.csv")

fit <- function(formula, data) lmer(formula, data, REML = TRUE, control = tight)

sim_trial <- fit(phq9_total ~ time * arm + (time | participant_id), sim)
sim_wave <- fit(phq9_total ~ wave * arm + (1 | participant_id), sim)
three_level <- fit(phq9_total ~ time * arm + (time | participant_id) + (1 | therapist), trial)
nested <- fit(phq9_total ~ time * arm + (1 | therapist/participant_id), trial)
uncorrelated <- fit(phq9_total ~ time * arm + (time || participant_id), trial)
crossed_waves <- fit(phq9_total ~ time * arm + (1 | participant_id) + (1 | wave), trial)
penicillin_fit <- fit(diameter ~ 1 + (1 | plate) + (1 | sample), penicillin)

out <- list(
  sim_trial = kr_case(sim_trial, list(
    emm_entry(sim_trial, "arm", "time", list(time = c(0, 12))),
    emm_entry(sim_trial, "arm", NULL, list(time = 12), "pairwise"))),
  sim_wave = kr_case(sim_wave, list(emm_entry(sim_wave, "arm", NULL, NULL, "pairwise"))),
  three_level = kr_case(three_level, list(emm_entry(three_level, "arm", "time", list(time = 4)))),
  nested = kr_case(nested, list(emm_entry(nested, "arm", "time", list(time = 4)))),
  uncorrelated = kr_case(uncorrelated),
  crossed_waves = kr_case(crossed_waves, list(emm_entry(crossed_waves, "arm", "time", list(time = 4)))),
  penicillin = kr_case(penicillin_fit),
  versions = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest")),
    pbkrtest = as.character(packageVersion("pbkrtest")),
    emmeans = as.character(packageVersion("emmeans"))
  )
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "tests/reference/pbkrtest_kr.json")
