# Reference values for analysis.sem, computed with lavaan 0.6.
#
# Run from the repository root:
#     .venv/bin/python tests/reference/sem_make_data.py   # writes sem_gse_waves.csv
#     Rscript tests/reference/sem_lavaan.R
# Writes tests/reference/sem_holzinger.csv and sem_politicaldemocracy.csv (lavaan's data
# sets, for the tests to read) and tests/reference/sem_lavaan.json at full precision.
#
# Cases (each: parameterEstimates() with standardized std.all, and fitMeasures()):
#   hs_cfa          cfa() of the three-factor Holzinger-Swineford model
#   pd_sem          sem() of the Political Democracy model (Bollen 1989) with residual covariances
#   pd_defined      sem() with labelled paths and defined parameters (indirect and total effect)
#   hs_covariate    cfa() of two factors regressed on the observed covariate sex (fixed.x = TRUE:
#                   the log-likelihood is conditional on sex)
#   hs_groups       cfa(group = "school") of hs_cfa
#   hs_metric/hs_scalar/hs_strict  the same with group.equal loadings / + intercepts / + residuals
#   growth_linear   growth() of linear growth of gse_total over waves 0-3 (free residual variances),
#                   complete cases of sem_trial_wide.csv (lavaan's default listwise deletion)
#   growth_parallel growth() of parallel-process linear growth of gse_total and phq9_total
#   long_configural/metric/scalar/strict  longitudinal invariance of GSE items 1-5 over waves 0-2
#                   (marker identification; same-item residuals correlated across waves; loadings,
#                   intercepts, residual variances equal over waves by label; latent means free
#                   after wave 0 from the scalar level on), complete cases
#   arm_configural/metric/scalar/strict  invariance of GSE items 1-5 at wave 0 across arms
#                   (group.equal), complete cases
#   growth_fiml     growth_linear with missing = "ml" on every participant (dropout)
#   items_fiml      cfa(missing = "ml") of GSE items 1-5 at wave 0 with their missing values
#   hs_mlr          cfa(estimator = "MLR") of hs_cfa
#   hs_groups_mlr   hs_metric with estimator = "MLR"
#   growth_mlr      growth_linear with estimator = "MLR"
#   fiml_mlr        growth_fiml with estimator = "MLR"
# and compareFit() (semTools) of the two invariance sequences: chisq, df, cfi, rmsea, srmr and
# the likelihood-ratio tests (lavTestLRT) between successive levels; long_compare_mlr: the
# longitudinal sequence with estimator = "MLR" (scaled difference tests).

suppressPackageStartupMessages(library(lavaan))
suppressPackageStartupMessages(library(jsonlite))

hs <- HolzingerSwineford1939
write.csv(hs[, c("id", "sex", "school", "grade", paste0("x", 1:9))], "tests/reference/sem_holzinger.csv",
          row.names = FALSE)
pd <- PoliticalDemocracy
write.csv(pd, "tests/reference/sem_politicaldemocracy.csv", row.names = FALSE)

measures <- c("npar", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli",
              "logl", "unrestricted.logl", "aic", "bic", "ntotal", "rmsea", "rmsea.ci.lower",
              "rmsea.ci.upper", "srmr")
robust <- c("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor", "baseline.chisq.scaled",
            "cfi.scaled", "tli.scaled", "cfi.robust", "rmsea.scaled", "rmsea.robust")

summarise <- function(fit) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  if (is.null(pe$group)) pe$group <- ifelse(pe$op == ":=", 0L, 1L)
  wanted <- if (lavInspect(fit, "options")$test[1] == "standard") measures else c(measures, robust)
  list(
    converged = lavInspect(fit, "converged"),
    pe = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, label = pe$label,
              est = pe$est, se = pe$se, std_all = pe$std.all),
    fit = as.list(fitMeasures(fit, wanted))
  )
}

hs_model <- "visual =~ x1 + x2 + x3
             textual =~ x4 + x5 + x6
             speed =~ x7 + x8 + x9"
pd_model <- "ind60 =~ x1 + x2 + x3
             dem60 =~ y1 + y2 + y3 + y4
             dem65 =~ y5 + y6 + y7 + y8
             dem60 ~ ind60
             dem65 ~ ind60 + dem60
             y1 ~~ y5
             y2 ~~ y4 + y6
             y3 ~~ y7
             y4 ~~ y8
             y6 ~~ y8"
defined_model <- "ind60 =~ x1 + x2 + x3
                  dem60 =~ y1 + y2 + y3 + y4
                  dem65 =~ y5 + y6 + y7 + y8
                  dem60 ~ a*ind60
                  dem65 ~ c*ind60 + b*dem60
                  indirect := a*b
                  total := c + a*b"

out <- list()
out$hs_cfa <- summarise(cfa(hs_model, data = hs))
out$pd_sem <- summarise(sem(pd_model, data = pd))
out$pd_defined <- summarise(sem(defined_model, data = pd))
out$hs_covariate <- summarise(cfa("visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n visual + textual ~ sex",
                                  data = hs))
out$hs_groups <- summarise(cfa(hs_model, data = hs, group = "school"))
out$hs_metric <- summarise(cfa(hs_model, data = hs, group = "school", group.equal = "loadings"))
out$hs_scalar <- summarise(cfa(hs_model, data = hs, group = "school",
                               group.equal = c("loadings", "intercepts")))
out$hs_strict <- summarise(cfa(hs_model, data = hs, group = "school",
                               group.equal = c("loadings", "intercepts", "residuals")))

trial <- read.csv("tests/reference/sem_trial_wide.csv")
waves <- 0:3
growth_syntax <- function(v) {
  paste0("i", v, " =~ ", paste0("1*", v, "_w", waves, collapse = " + "), "\n",
         "s", v, " =~ ", paste0(waves, "*", v, "_w", waves, collapse = " + "))
}
linear <- growth_syntax("gse_total")
parallel <- paste(growth_syntax("gse_total"), growth_syntax("phq9_total"), sep = "\n")
totals <- paste0("gse_total_w", waves)
out$growth_linear <- summarise(growth(linear, data = trial))
out$growth_parallel <- summarise(growth(parallel, data = trial))

items <- paste0("gse_", 1:5)
long_syntax <- function(level) {
  lines <- c()
  for (w in 0:2) {
    terms <- sapply(seq_along(items), function(k) {
      if (k > 1 && level != "configural") paste0("l", k, "*", items[k], "_w", w) else paste0(items[k], "_w", w)
    })
    lines <- c(lines, paste0("SE_w", w, " =~ ", paste(terms, collapse = " + ")))
    if (level %in% c("scalar", "strict")) {
      lines <- c(lines, paste0(items, "_w", w, " ~ n", seq_along(items), "*1"))
      if (w > 0) lines <- c(lines, paste0("SE_w", w, " ~ 1"))
    }
    if (level == "strict") lines <- c(lines, paste0(items, "_w", w, " ~~ r", seq_along(items), "*", items, "_w", w))
  }
  for (k in seq_along(items)) {
    lines <- c(lines, paste0(items[k], "_w0 ~~ ", items[k], "_w1 + ", items[k], "_w2"),
               paste0(items[k], "_w1 ~~ ", items[k], "_w2"))
  }
  paste(lines, collapse = "\n")
}
levels <- c("configural", "metric", "scalar", "strict")
long_data <- trial[complete.cases(trial[, paste0(rep(items, 3), "_w", rep(0:2, each = 5))]), ]
long_fits <- lapply(levels, function(level) cfa(long_syntax(level), data = long_data, meanstructure = TRUE))
names(long_fits) <- levels
for (level in levels) out[[paste0("long_", level)]] <- summarise(long_fits[[level]])
out$long_syntax <- as.list(sapply(levels, long_syntax))

arm_model <- paste0("SE =~ ", paste0(items, "_w0", collapse = " + "))
arm_data <- trial[complete.cases(trial[, paste0(items, "_w0")]), ]
equal <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"),
              strict = c("loadings", "intercepts", "residuals"))
arm_fits <- lapply(levels, function(level) cfa(arm_model, data = arm_data, group = "arm",
                                               group.equal = equal[[level]]))
names(arm_fits) <- levels
for (level in levels) out[[paste0("arm_", level)]] <- summarise(arm_fits[[level]])

compare <- function(fits) {
  cf <- semTools::compareFit(fits, nested = TRUE)
  nested <- cf@nested
  fit <- cf@fit
  list(level = names(fits), chisq = fit$chisq, df = fit$df, cfi = fit$cfi, rmsea = fit$rmsea,
       srmr = fit$srmr, chisq_diff = nested[["Chisq diff"]], df_diff = nested[["Df diff"]],
       p_diff = nested[["Pr(>Chisq)"]], nested_rows = rownames(nested))
}
out$long_compare <- compare(long_fits)
long_mlr <- lapply(levels, function(level) cfa(long_syntax(level), data = long_data, meanstructure = TRUE,
                                               estimator = "MLR"))
names(long_mlr) <- levels
out$long_compare_mlr <- compare(long_mlr)
out$arm_compare <- compare(arm_fits)

out$growth_fiml <- summarise(growth(linear, data = trial, missing = "ml"))
out$items_fiml <- summarise(cfa(arm_model, data = trial, missing = "ml"))
out$hs_mlr <- summarise(cfa(hs_model, data = hs, estimator = "MLR"))
out$hs_groups_mlr <- summarise(cfa(hs_model, data = hs, group = "school", group.equal = "loadings",
                                   estimator = "MLR"))
out$growth_mlr <- summarise(growth(linear, data = trial, estimator = "MLR"))
out$fiml_mlr <- summarise(growth(linear, data = trial, missing = "ml", estimator = "MLR"))
out$options_mlr <- lavInspect(cfa(hs_model, data = hs, estimator = "MLR"), "options")[c("information", "test", "se", "observed.information", "h1.information")]
out$options_fiml_mlr <- lavInspect(growth(linear, data = trial, missing = "ml", estimator = "MLR"), "options")[c("information", "test", "se", "observed.information", "h1.information")]

write(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
      "tests/reference/sem_lavaan.json")
