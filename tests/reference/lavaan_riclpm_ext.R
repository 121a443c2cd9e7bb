# Reference values for analysis.panel's extensions (covariates, groups, MLR, a third
# variable), computed with lavaan.
#
# Run from the repository root, after the panel exists:
#     .venv/bin/python tests/reference/make_riclpm_ext.py   # writes riclpm_ext_panel.csv
#     Rscript tests/reference/lavaan_riclpm_ext.R
# Writes tests/reference/lavaan_riclpm_ext.json at full precision (digits = NA).
#
# Model syntax: the RI-CLPM of Mulder & Hamaker (2021) as in lavaan_riclpm.R, for the
# variables x, y (and z) at waves 1-4, lags labelled <out>_on_<pred> and so held equal
# over waves (per group: c(<label>_g1, <label>_g2, ...), free across groups); all
# (co)variances of the random intercepts, of the wave-1 within components and of
# the innovations of a wave are free. Time-invariant covariates predict the random
# intercepts (RIx + RIy ~ age + female), in the CLPM the wave-1 components (wx1 + wy1 ~ ...).
# (Predicting both the random intercepts and the wave-1 within components leaves the
# model barely identified: lavaan does not converge on this panel.)
#
# Fitted with lavaan(model, data, missing = "ml", meanstructure = TRUE,
# int.ov.free = TRUE, estimator = "ML" or "MLR"), everything else at lavaan's defaults
# (observed information, h1 by EM, fixed.x, groups in order of appearance in the data
# sorted by id), then refitted once from its own estimates, kept when it converges to
# a log-likelihood at least as high: nlminb stops early at its default rel.tol (a
# tighter one makes it report false convergence on these data). The baseline-model
# measures (CFI, TLI) that lavaan fails to recompute on the refit come from the first fit.
#
# Cases (panel of riclpm_ext_panel.csv):
#   covariates  x, y; covariates age and female
#   covariates_clpm  the CLPM with these covariates
#   groups      x, y; groups = arm (three groups)
#   mlr         x, y; estimator = "MLR"
#   three       x, y, z (a 3 x 3 lag matrix)
#   three_clpm  x, y, z without random intercepts, MLR
#   lrt_groups, lrt_groups_mlr  groups = arm with each lag held equal across the groups (one label for
#               every group), by ML and MLR: that fit (as the cases above, under "equal") and
#               lavTestLRT against the groups model with lags free per group (chisq_diff, df_diff,
#               p_diff; for MLR lavaan's default, the Satorra-Bentler 2001 scaled difference)
# Per case: parameterEstimates() of the free parameters (lhs, op, rhs, group, est, se),
# the std.all lagged effects of standardizedSolution() with their se, and fitMeasures()
# npar, chisq, df, pvalue, baseline.chisq, baseline.df, cfi, tli, rmsea, srmr, logl,
# unrestricted.logl, aic, bic, ntotal (MLR: also chisq.scaled, chisq.scaling.factor,
# pvalue.scaled).

suppressPackageStartupMessages(library(lavaan))
suppressPackageStartupMessages(library(jsonlite))

waves <- 1:4

panel_syntax <- function(letters, random_intercepts = TRUE, covariates = character(0), n_groups = 1,
                         equal_groups = FALSE) {
  pairs <- list()
  for (i in seq_along(letters)) for (j in i:length(letters)) pairs[[length(pairs) + 1]] <- letters[c(i, j)]
  lines <- c()
  if (random_intercepts) {
    lines <- c(lines, sapply(letters, function(a) paste0("RI", a, " =~ ", paste0("1*", a, waves, collapse = " + "))))
    lines <- c(lines, sapply(pairs, function(p) paste0("RI", p[1], " ~~ RI", p[2])))
  }
  for (a in letters) lines <- c(lines, paste0("w", a, waves, " =~ 1*", a, waves))
  label <- function(out, pred) {
    name <- paste0(out, "_on_", pred)
    if (n_groups == 1 || equal_groups) paste0(name, "*") else
      paste0("c(", paste0(name, "_g", 1:n_groups, collapse = ", "), ")*")
  }
  for (t in waves[-1]) {
    for (out in letters) {
      terms <- sapply(letters, function(pred) paste0(label(out, pred), "w", pred, t - 1))
      lines <- c(lines, paste0("w", out, t, " ~ ", paste(terms, collapse = " + ")))
    }
  }
  for (t in waves) lines <- c(lines, sapply(pairs, function(p) paste0("w", p[1], t, " ~~ w", p[2], t)))
  if (length(covariates)) {
    outcomes <- if (random_intercepts) paste0("RI", letters) else paste0("w", letters, 1)
    lines <- c(lines, paste(paste(outcomes, collapse = " + "), "~", paste(covariates, collapse = " + ")))
  }
  paste(lines, collapse = "\n")
}

long <- read.csv("tests/reference/riclpm_ext_panel.csv", stringsAsFactors = FALSE)
wide <- reshape(long[, c("id", "wave", "x", "y", "z")], idvar = "id", timevar = "wave", direction = "wide",
                sep = "")
person <- long[!duplicated(long$id), c("id", "arm", "age", "female")]
wide <- merge(wide, person, by = "id")
wide <- wide[order(wide$id), ]

fit_model <- function(letters, random_intercepts = TRUE, covariates = character(0), group = NULL,
                      estimator = "ML", equal_groups = FALSE) {
  n_groups <- if (is.null(group)) 1 else length(unique(wide[[group]]))
  model <- panel_syntax(letters, random_intercepts, covariates, n_groups, equal_groups)
  run <- function(start) {
    lavaan(model, data = wide, group = group, missing = "ml", meanstructure = TRUE, int.ov.free = TRUE,
           estimator = estimator, start = start)
  }
  first <- run("default")
  fit <- suppressWarnings(run(first))  # from the first estimates: stops nearer the optimum
  if (!lavInspect(fit, "converged") || fitMeasures(fit, "logl") < fitMeasures(first, "logl")) fit <- first
  list(fit = fit, first = first)
}

fit_case <- function(..., fitted = fit_model(...)) {
  fit <- fitted$fit
  first <- fitted$first
  pe <- parameterEstimates(fit)
  if (is.null(pe$group)) pe$group <- 1
  free <- pe[pe$op != ":=" & !is.na(pe$se) & pe$se > 0, ]
  std <- standardizedSolution(fit)
  if (is.null(std$group)) std$group <- 1
  lags <- std[std$op == "~" & grepl("^w", std$rhs), ]
  names <- c("npar", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli", "rmsea", "srmr",
             "logl", "unrestricted.logl", "aic", "bic", "ntotal")
  if (lavInspect(fit, "options")$se == "robust.huber.white") {  # MLR
    names <- c(names, "chisq.scaled", "chisq.scaling.factor", "pvalue.scaled")
  }
  measures <- suppressWarnings(fitMeasures(fit, names))
  failed <- is.na(measures)  # the baseline model, which lavaan may fail to refit from the refit's start
  measures[failed] <- fitMeasures(first, names)[failed]
  list(
    converged = lavInspect(fit, "converged"),
    group_labels = lavInspect(fit, "group.label"),
    lhs = free$lhs, op = free$op, rhs = free$rhs, group = free$group, est = free$est, se = free$se,
    std_lhs = lags$lhs, std_rhs = lags$rhs, std_group = lags$group, std_est = lags$est.std, std_se = lags$se,
    fit = as.list(measures)
  )
}

# lavTestLRT of lags held equal across the groups against lags free per group (ML: the chi-square
# difference; MLR: lavaan's default for MLR, the Satorra-Bentler (2001) scaled difference).
lrt_case <- function(estimator) {
  free <- fit_model(c("x", "y"), group = "arm", estimator = estimator)
  equal <- fit_model(c("x", "y"), group = "arm", estimator = estimator, equal_groups = TRUE)
  test <- lavTestLRT(free$fit, equal$fit)
  list(equal = fit_case(fitted = equal), chisq_diff = test[2, "Chisq diff"], df_diff = test[2, "Df diff"],
       p_diff = test[2, "Pr(>Chisq)"])
}

cases <- list(
  covariates = fit_case(c("x", "y"), covariates = c("age", "female")),
  covariates_clpm = fit_case(c("x", "y"), random_intercepts = FALSE, covariates = c("age", "female")),
  groups = fit_case(c("x", "y"), group = "arm"),
  mlr = fit_case(c("x", "y"), estimator = "MLR"),
  three = fit_case(c("x", "y", "z")),
  three_clpm = fit_case(c("x", "y", "z"), random_intercepts = FALSE, estimator = "MLR"),
  lrt_groups = lrt_case("ML"),
  lrt_groups_mlr = lrt_case("MLR")
)
cases[["lavaan_version"]] <- as.character(packageVersion("lavaan"))

writeLines(toJSON(cases, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/lavaan_riclpm_ext.json")
