# Helpers shared by the reference scripts; each script sources this file from the
# repository root: source("tests/reference/common.R").

suppressPackageStartupMessages(library(lme4))

# lmer with the optimiser run to tight tolerances: lme4's defaults stop early where the
# likelihood is flat, so parity is checked against the optimum itself.
tight <- lmerControl(optCtrl = list(ftol_abs = 1e-15, ftol_rel = 1e-15, xtol_abs = 1e-12,
                                    xtol_rel = 1e-12, maxeval = 1e6))

# A data frame as a list of columns, factors as character (for toJSON).
columns <- function(frame) {
  frame <- as.data.frame(frame)
  for (name in names(frame)) {
    if (is.factor(frame[[name]])) frame[[name]] <- as.character(frame[[name]])
  }
  as.list(frame)
}

# emmeans(fit, ~ specs | by, at = at).
emm_at <- function(fit, specs, by = NULL, at = NULL) {
  formula <- as.formula(paste("~", paste(specs, collapse = " * "),
                              if (length(by)) paste("|", paste(by, collapse = " * ")) else ""))
  if (is.null(at)) emmeans::emmeans(fit, formula) else emmeans::emmeans(fit, formula, at = at)
}

# An lmer fit as the tests read it: fixed effects with Satterthwaite df (lmerTest),
# as.data.frame(VarCorr()), theta, fit statistics, lme4's messages, the conditional modes
# and SDs of the first three levels (sorted) of each grouping factor, the first ten fitted values.
summarise_fit <- function(fit) {
  coefs <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  re <- as.data.frame(ranef(fit, condVar = TRUE))
  list(
    terms = rownames(coefs),
    estimate = unname(coefs[, "Estimate"]),
    se = unname(coefs[, "Std. Error"]),
    df = unname(coefs[, "df"]),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov,
                   sdcor = vc$sdcor),
    sigma = sigma(fit),
    theta = unname(getME(fit, "theta")),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    ngrps = as.list(ngrps(fit)),
    singular = isSingular(fit),
    reml = isREML(fit),
    lme4_messages = as.list(fit@optinfo$conv$lme4$messages),
    ranef = lapply(split(re, re$grpvar), function(rows) {
      rows <- rows[rows$grp %in% head(sort(unique(as.character(rows$grp))), 3), ]
      list(term = as.character(rows$term), level = as.character(rows$grp),
           mode = rows$condval, sd = rows$condsd)
    }),
    fitted = unname(head(fitted(fit), 10))
  )
}
