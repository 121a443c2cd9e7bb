# Reference values for analysis.mixed, computed with lme4 and lmerTest.
#
# Run from the repository root:
#     Rscript tests/reference/lme4_mixed.R
# Writes tests/reference/lme4_mixed.json at full precision (digits = NA).
#
# Cases (all fitted with lmerTest::lmer, default optimiser and settings)
#   sleepstudy_reml   Reaction ~ Days + (Days | Subject), REML   (data/sleepstudy.csv)
#   sleepstudy_ml     the same model, ML
#   sleepstudy_ri_ml  Reaction ~ Days + (1 | Subject), ML (smaller model of the LRT)
#   btheb_ri          Beat the Blues (data/BtheB.csv) in long form: one row per
#                     follow-up (bdi.2m, bdi.4m, bdi.6m, bdi.8m -> time 2, 4, 6, 8
#                     months), subject 1..100 in file order, rows with missing bdi
#                     dropped; bdi ~ bdi.pre + time + treatment + drug + length +
#                     (1 | subject), REML (HSAUR's analysis).
#   btheb_slope       the same with (time | subject), REML.
#   sim_trial         tests/reference/lmm_sim.csv (analysis.simulate.trial(
#                     n_per_arm=60, seed=11), columns participant_id, time, arm,
#                     gse_total, phq9_total, written with to_csv(index=False)): phq9_total ~ time * arm +
#                     (time | participant_id), arm levels control, cbt,
#                     mindfulness, REML; rows with missing phq9_total dropped.
#   sim_within        the same rows with gse_total observed too: gse_total split into
#                     the person mean over those rows (gse_between) and the deviation
#                     from it (gse_within); phq9_total ~ time * arm + gse_within +
#                     gse_between + (time | participant_id), REML.
#   help_growth       tests/reference/help_long.csv (analysis.io.load_trial("HELPfull") columns
#                     participant_id, time (weeks), arm, cesd_total, social_support), time
#                     rescaled to years (time / 52): cesd_total ~ time * arm +
#                     (time | participant_id), arm levels "usual care", "clinic", REML;
#                     rows with missing cesd_total dropped.
#   help_growth_weeks the same with time in weeks, where lme4 reports non-convergence
#                     (kept to show that analysis.mixed reaches the optimum there).
#   help_within       rows with cesd_total and social_support: social_support split into
#                     person mean and deviation as in sim_within; cesd_total ~ time * arm
#                     + social_support_within + social_support_between + (time | participant_id).
#
# Quantities per case: fixed effects (Estimate, Std. Error, Satterthwaite df,
# t value, Pr(>|t|)) from summary(); random-effect covariance matrix, SDs and
# correlations (VarCorr), sigma, logLik, AIC, BIC, nobs, ngroups, isSingular,
# and for the first five groups (in factor-level order) the conditional modes and
# their conditional SDs (ranef(condVar = TRUE)) and the first ten fitted values.
# lrt_sleepstudy holds anova(ri, slope) for the two REML fits (anova refits by ML).

suppressPackageStartupMessages(library(lmerTest))
suppressPackageStartupMessages(library(jsonlite))

summarise_fit <- function(fit) {
  coefs <- summary(fit)$coefficients
  vc <- VarCorr(fit)[[1]]
  cov <- matrix(as.numeric(vc), nrow(vc))
  re <- ranef(fit, condVar = TRUE)[[1]]
  list(
    terms = rownames(coefs),
    estimate = unname(coefs[, "Estimate"]),
    se = unname(coefs[, "Std. Error"]),
    df = unname(coefs[, "df"]),
    t = unname(coefs[, "t value"]),
    p = unname(coefs[, "Pr(>|t|)"]),
    re_terms = rownames(vc),
    re_cov = cov,
    re_sd = unname(attr(vc, "stddev")),
    re_corr = matrix(as.numeric(cov2cor(cov)), nrow(vc)),
    sigma = sigma(fit),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    ngroups = unname(ngrps(fit)),
    singular = isSingular(fit),
    reml = isREML(fit),
    lme4_messages = as.list(fit@optinfo$conv$lme4$messages),
    ranef_groups = head(rownames(re), 5),
    ranef = unname(as.matrix(head(re, 5))),
    ranef_sd = unname(head(t(matrix(sqrt(apply(attr(re, "postVar"), 3, diag)), ncol(re))), 5)),
    fitted = unname(head(fitted(fit), 10))
  )
}

sleep <- read.csv("data/sleepstudy.csv")
sleep$Subject <- factor(sleep$Subject)
sleep_reml <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = TRUE)
sleep_ml <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE)
sleep_ri_ml <- lmer(Reaction ~ Days + (1 | Subject), sleep, REML = FALSE)
sleep_ri_reml <- lmer(Reaction ~ Days + (1 | Subject), sleep, REML = TRUE)
lrt <- anova(sleep_ri_reml, sleep_reml)

wide <- read.csv("data/BtheB.csv", check.names = FALSE)
wide$subject <- seq_len(nrow(wide))
months <- c(2, 4, 6, 8)
long <- do.call(rbind, lapply(seq_len(nrow(wide)), function(i) {
  data.frame(
    subject = wide$subject[i], treatment = wide$treatment[i],
    drug = wide$drug[i], length = wide$length[i], bdi.pre = wide[["bdi.pre"]][i],
    time = months, bdi = unlist(wide[i, paste0("bdi.", months, "m")])
  )
}))
long <- long[!is.na(long$bdi), ]
long$subject <- factor(long$subject)
long$treatment <- factor(long$treatment, levels = c("BtheB", "TAU"))
long$drug <- factor(long$drug, levels = c("No", "Yes"))
long$length <- factor(long$length, levels = c("<6m", ">6m"))
btheb_ri <- lmer(bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject),
                 long, REML = TRUE)
btheb_slope <- lmer(bdi ~ bdi.pre + time + treatment + drug + length + (time | subject),
                    long, REML = TRUE)

sim <- read.csv("tests/reference/lmm_sim.csv")
sim <- sim[!is.na(sim$phq9_total), ]
sim$arm <- factor(sim$arm, levels = c("control", "cbt", "mindfulness"))
sim_fit <- lmer(phq9_total ~ time * arm + (time | participant_id), sim, REML = TRUE)
both <- sim[!is.na(sim$gse_total), ]
both$gse_between <- ave(both$gse_total, both$participant_id)
both$gse_within <- both$gse_total - both$gse_between
sim_within <- lmer(phq9_total ~ time * arm + gse_within + gse_between + (time | participant_id),
                   both, REML = TRUE)

help <- read.csv("tests/reference/help_long.csv")
help$arm <- factor(help$arm, levels = c("usual care", "clinic"))
help_growth_weeks <- lmer(cesd_total ~ time * arm + (time | participant_id),
                          help[!is.na(help$cesd_total), ], REML = TRUE)
help$time <- help$time / 52
help_growth <- lmer(cesd_total ~ time * arm + (time | participant_id),
                    help[!is.na(help$cesd_total), ], REML = TRUE)
help_both <- help[!is.na(help$cesd_total) & !is.na(help$social_support), ]
help_both$social_support_between <- ave(help_both$social_support, help_both$participant_id)
help_both$social_support_within <- help_both$social_support - help_both$social_support_between
help_within <- lmer(cesd_total ~ time * arm + social_support_within + social_support_between +
                      (time | participant_id), help_both, REML = TRUE)

out <- list(
  sleepstudy_reml = summarise_fit(sleep_reml),
  sleepstudy_ml = summarise_fit(sleep_ml),
  sleepstudy_ri_ml = summarise_fit(sleep_ri_ml),
  btheb_ri = summarise_fit(btheb_ri),
  btheb_slope = summarise_fit(btheb_slope),
  sim_trial = summarise_fit(sim_fit),
  sim_within = summarise_fit(sim_within),
  help_growth = summarise_fit(help_growth),
  help_growth_weeks = summarise_fit(help_growth_weeks),
  help_within = summarise_fit(help_within),
  lrt_sleepstudy = list(
    npar = unname(lrt$npar), aic = unname(lrt$AIC), bic = unname(lrt$BIC),
    loglik = unname(lrt$logLik), deviance = unname(lrt$deviance),
    chisq = unname(lrt$Chisq[2]), df = unname(lrt$Df[2]),
    p = unname(lrt[["Pr(>Chisq)"]][2])
  ),
  versions = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest"))
  )
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/lme4_mixed.json")
