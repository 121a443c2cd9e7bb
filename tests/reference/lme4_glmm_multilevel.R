# Reference values for analysis.mixed.fit_glmm with several random-effect terms, computed
# with lme4's glmer.
#
# Run from the repository root:
#     Rscript tests/reference/lme4_glmm_multilevel.R
# Writes tests/reference/glmm_crossed.csv (simulated Poisson counts, written once with
# set.seed) and tests/reference/lme4_glmm_multilevel.json at full precision (digits = NA).
#
# Every case is fitted with PIRLS converged to tolPwrss = 1e-12 and bobyqa, with tight
# tolerances (rhoend = 1e-10), for both stages (as the "tight" fits of lme4_glmm.R): the
# Laplace fit itself, which fit_glmm reaches.
#
# Data
#   therapists.csv   (tests/reference/lme4_multilevel.R) rows with phq9_total observed:
#                    1121 rows, 240 patients (P001..P240, unique across therapists) of 24
#                    therapists, arm levels control, cbt; below_12 = phq9_total < 12 (28%
#                    of rows), recovered = phq9_total < 10 (16%).
#   glmm_crossed.csv simulated below: 60 participants (P01..P60, arm control/cbt
#                    alternating) x 10 items (I01..I10), every participant rated on every
#                    item once (600 rows); days of exposure 7..28, a standardised row-level
#                    covariate stress; events ~ Poisson(days exp(-2 - 0.3 cbt + 0.25 stress
#                    + participant (SD 0.5) + item (SD 0.4))).
#
# Cases
#   three_level      below_12 ~ time * arm + (1 | participant_id) + (1 | therapist), binomial
#                    (logit), Laplace.
#   three_level_slope below_12 ~ time * arm + (1 + time | participant_id) + (1 | therapist).
#   nested_singular  recovered ~ time * arm + (1 | therapist/participant_id): the therapist
#                    variance is estimated at 0 (a singular fit).
#   crossed_poisson  events ~ arm + stress + (1 | participant_id) + (1 | item), Poisson (log)
#                    with offset(log(days)).
#
# Quantities per case: fixed effects (Estimate, Std. Error, z, p) from summary(), i.e.
# vcov() with lme4's default (the finite-difference Hessian of the deviance over
# (theta, beta)); as.data.frame(VarCorr(fit)); theta; logLik, AIC, BIC; nobs, ngrps;
# isSingular; lme4's convergence messages; for each grouping factor the conditional modes of
# its first three levels in sorted order (as.data.frame(ranef(fit)): term, level, mode);
# the first ten fitted values (response scale); the seconds glmer took (one run).

suppressPackageStartupMessages(library(lme4))
suppressPackageStartupMessages(library(jsonlite))

control <- glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa",
                        optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

summarise_fit <- function(make) {
  seconds <- system.time(fit <- suppressWarnings(make()))[["elapsed"]]
  coefs <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  re <- as.data.frame(ranef(fit))
  modes <- do.call(rbind, lapply(split(re, re$grpvar, drop = TRUE), function(block) {
    first <- head(sort(unique(as.character(block$grp))), 3)
    block[as.character(block$grp) %in% first, ]
  }))
  list(
    terms = rownames(coefs),
    estimate = unname(coefs[, "Estimate"]),
    se = unname(coefs[, "Std. Error"]),
    z = unname(coefs[, "z value"]),
    p = unname(coefs[, "Pr(>|z|)"]),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
    theta = unname(getME(fit, "theta")),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    ngrps = as.list(ngrps(fit)),
    singular = isSingular(fit),
    lme4_messages = as.list(fit@optinfo$conv$lme4$messages),
    ranef = list(grpvar = as.character(modes$grpvar), term = as.character(modes$term),
                 level = as.character(modes$grp), mode = modes$condval),
    fitted = unname(head(fitted(fit), 10)),
    seconds = seconds
  )
}

therapists <- read.csv("tests/reference/therapists.csv")
therapists <- therapists[!is.na(therapists$phq9_total), ]
therapists$arm <- factor(therapists$arm, levels = c("control", "cbt"))
therapists$below_12 <- as.integer(therapists$phq9_total < 12)
therapists$recovered <- as.integer(therapists$phq9_total < 10)

three_level <- summarise_fit(function()
  glmer(below_12 ~ time * arm + (1 | participant_id) + (1 | therapist), therapists, family = binomial,
        control = control))
three_level_slope <- summarise_fit(function()
  glmer(below_12 ~ time * arm + (1 + time | participant_id) + (1 | therapist), therapists,
        family = binomial, control = control))
nested_singular <- summarise_fit(function()
  glmer(recovered ~ time * arm + (1 | therapist/participant_id), therapists, family = binomial,
        control = control))

set.seed(20240615)
n_id <- 60
n_item <- 10
crossed <- expand.grid(item = seq_len(n_item), id = seq_len(n_id))
crossed$participant_id <- sprintf("P%02d", crossed$id)
crossed$item <- sprintf("I%02d", crossed$item)
crossed$arm <- ifelse(crossed$id %% 2 == 0, "cbt", "control")
crossed$days <- sample(7:28, nrow(crossed), replace = TRUE)
crossed$stress <- round(rnorm(nrow(crossed)), 3)
person <- rnorm(n_id, 0, 0.5)
item <- rnorm(n_item, 0, 0.4)
rate <- exp(-2 - 0.3 * (crossed$arm == "cbt") + 0.25 * crossed$stress + person[crossed$id] +
            item[as.integer(substr(crossed$item, 2, 3))])
crossed$events <- rpois(nrow(crossed), rate * crossed$days)
crossed <- crossed[, c("participant_id", "item", "arm", "days", "stress", "events")]
write.csv(crossed, "tests/reference/glmm_crossed.csv", row.names = FALSE)
crossed$arm <- factor(crossed$arm, levels = c("control", "cbt"))
crossed_poisson <- summarise_fit(function()
  glmer(events ~ arm + stress + (1 | participant_id) + (1 | item), crossed, family = poisson,
        offset = log(days), control = control))

out <- list(
  three_level = three_level,
  three_level_slope = three_level_slope,
  nested_singular = nested_singular,
  crossed_poisson = crossed_poisson,
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/lme4_glmm_multilevel.json")
