# Reference values for analysis.mixed.growth(..., cluster = "therapist") on a partially
# nested trial, computed with lme4 and lmerTest.
#
# Run from the repository root:
#     Rscript tests/reference/lme4_partial.R
# Writes tests/reference/lme4_partial.json at full precision (digits = NA).
#
# Data: data/synthetic_therapists.csv (the bundled partially nested trial: CBT and
# mindfulness patients have therapists, the control arm none). As growth() builds it,
# in_therapist is 1 for participants with a therapist and the others share the label
# "(none)"; rows with a missing phq9_total are dropped.
#
# Case (lmerTest::lmer, REML, tight optimiser tolerances: common.R)
#   phq9_total ~ time * arm + (time | participant_id)
#                + (0 + in_therapist + in_therapist:time | therapist)
# Quantities: fixed effects (Estimate, Std. Error, Satterthwaite df),
# as.data.frame(VarCorr(fit)), logLik, ngrps, isSingular; and the same model without the
# therapist term (its fixed effects), for the "level ignored" comparison.

suppressPackageStartupMessages(library(lmerTest))
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")

d <- read.csv("data/synthetic_therapists.csv", na.strings = "")
d <- d[!is.na(d$phq9_total), ]
d$in_therapist <- as.numeric(!is.na(d$therapist))
d$therapist[is.na(d$therapist)] <- "(none)"
d$arm <- factor(d$arm, levels = c("control", "cbt", "mindfulness"))

fixed <- function(fit) {
  s <- summary(fit)$coefficients
  list(terms = rownames(s), estimate = unname(s[, "Estimate"]), se = unname(s[, "Std. Error"]),
       df = unname(s[, "df"]))
}
three <- lmer(phq9_total ~ time * arm + (time | participant_id) +
                (0 + in_therapist + in_therapist:time | therapist), d, REML = TRUE, control = tight)
two <- lmer(phq9_total ~ time * arm + (time | participant_id), d, REML = TRUE, control = tight)
vc <- as.data.frame(VarCorr(three))
out <- list(
  three_level = c(fixed(three), list(
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
    loglik = as.numeric(logLik(three)), ngrps = as.list(ngrps(three)), singular = isSingular(three))),
  two_level = fixed(two),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest"))))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "tests/reference/lme4_partial.json")
