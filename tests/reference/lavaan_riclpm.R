# Reference values for analysis.panel, computed with lavaan.
#
# Run from the repository root, after the panels exist:
#     .venv/bin/python tests/reference/make_panels.py   # writes riclpm_panels.csv
#     Rscript tests/reference/lavaan_riclpm.R
# Writes tests/reference/lavaan_riclpm.json at full precision (digits = NA).
#
# Model syntax: the standard RI-CLPM of Hamaker, Kuiper & Grasman (2015) as written
# for lavaan by Mulder & Hamaker (2021, https://jeroendmulder.github.io/RI-CLPM/):
# random intercepts RIx, RIy with loadings fixed to 1 on x1..x5 and y1..y5; within
# components wx_t =~ 1*x_t, wy_t =~ 1*y_t; lagged regressions of wx_t, wy_t on
# wx_{t-1}, wy_{t-1} (labels a, b, c, d when held equal over waves); covariance of
# wx1 and wy1 and of the wave-t residuals; variances of RIx, RIy, their
# covariance; variances of wx1, wy1 and of the wave-t residuals; observed residual
# variances 0 (lavaan() frees nothing by itself). The classic CLPM is the same
# syntax without RIx and RIy.
#
# Fitted with lavaan(model, data, missing = "ml", meanstructure = TRUE,
# int.ov.free = TRUE, estimator = "ML"), everything else at lavaan's defaults
# (information = "observed" for missing = "ml", observed-information standard
# errors, the unrestricted h1 model by EM, the independence baseline model).
#
# Cases: {complete, missing, trial, help} panels of riclpm_panels.csv x models
#   riclpm_equal  RI-CLPM, lagged effects equal over waves
#   riclpm_free   RI-CLPM, lagged effects free per wave
#   clpm_equal    CLPM, lagged effects equal over waves
# (trial and help: riclpm_equal only). Per case: parameterEstimates() (lhs, op, rhs, est,
# se), the std.all lagged effects of standardizedSolution() with their se, and
# fitMeasures() npar, chisq, df, pvalue, baseline.chisq, baseline.df, cfi, tli,
# rmsea, logl, unrestricted.logl, aic, bic, ntotal.

suppressPackageStartupMessages(library(lavaan))
suppressPackageStartupMessages(library(jsonlite))

waves <- 1:5

riclpm_syntax <- function(random_intercepts, equal_lags) {
  lines <- c()
  if (random_intercepts) {
    lines <- c(lines,
               paste("RIx =~", paste0("1*x", waves, collapse = " + ")),
               paste("RIy =~", paste0("1*y", waves, collapse = " + ")),
               "RIx ~~ RIx", "RIy ~~ RIy", "RIx ~~ RIy")
  }
  lines <- c(lines, paste0("wx", waves, " =~ 1*x", waves), paste0("wy", waves, " =~ 1*y", waves))
  for (t in waves[-1]) {
    s <- t - 1
    lab <- if (equal_lags) c("a*", "b*", "c*", "d*") else rep("", 4)
    lines <- c(lines,
               paste0("wx", t, " ~ ", lab[1], "wx", s, " + ", lab[2], "wy", s),
               paste0("wy", t, " ~ ", lab[3], "wx", s, " + ", lab[4], "wy", s))
  }
  lines <- c(lines, paste0("wx", waves, " ~~ wy", waves),
             paste0("wx", waves, " ~~ wx", waves), paste0("wy", waves, " ~~ wy", waves))
  paste(lines, collapse = "\n")
}

panels <- read.csv("tests/reference/riclpm_panels.csv")

wide_panel <- function(name) {
  long <- panels[panels$panel == name, c("id", "wave", "x", "y")]
  wide <- reshape(long, idvar = "id", timevar = "wave", direction = "wide", sep = "")
  wide[order(wide$id), c("id", paste0("x", waves), paste0("y", waves))]
}

fit_case <- function(panel, random_intercepts, equal_lags) {
  fit <- lavaan(riclpm_syntax(random_intercepts, equal_lags), data = wide_panel(panel),
                missing = "ml", meanstructure = TRUE, int.ov.free = TRUE, estimator = "ML")
  pe <- parameterEstimates(fit)
  free <- pe[!is.na(pe$se) & pe$se > 0, ]
  std <- standardizedSolution(fit)
  lags <- std[std$op == "~", ]
  measures <- fitMeasures(fit, c("npar", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df",
                                 "cfi", "tli", "rmsea", "logl", "unrestricted.logl", "aic", "bic",
                                 "ntotal"))
  list(
    converged = lavInspect(fit, "converged"),
    lhs = free$lhs, op = free$op, rhs = free$rhs, est = free$est, se = free$se,
    std_lhs = lags$lhs, std_rhs = lags$rhs, std_est = lags$est.std, std_se = lags$se,
    fit = as.list(measures)
  )
}

cases <- list()
for (panel in c("complete", "missing")) {
  cases[[paste0(panel, "_riclpm_equal")]] <- fit_case(panel, TRUE, TRUE)
  cases[[paste0(panel, "_riclpm_free")]] <- fit_case(panel, TRUE, FALSE)
  cases[[paste0(panel, "_clpm_equal")]] <- fit_case(panel, FALSE, TRUE)
}
cases[["trial_riclpm_equal"]] <- fit_case("trial", TRUE, TRUE)
cases[["help_riclpm_equal"]] <- fit_case("help", TRUE, TRUE)
cases[["lavaan_version"]] <- as.character(packageVersion("lavaan"))

writeLines(toJSON(cases, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/lavaan_riclpm.json")
