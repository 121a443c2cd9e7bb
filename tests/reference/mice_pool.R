# Reference values for analysis.missing.pool and analysis.missing.with_imputations: Rubin's
# rules with the Barnard-Rubin degrees of freedom, as mice computes them.
#
# Run from the repository root:
#     Rscript tests/reference/mice_pool.R
# Writes tests/reference/mice_pool.json at full precision (digits = NA).
#
# Part 1, "scalar": mice::pool.scalar(Q, U, n, k) on fixed numbers (no randomness):
#   basic      m = 5, complete-data df infinite (n = Inf)
#   dfcom      the same numbers, n = 100, k = 3 (dfcom = 97)
#   m2         m = 2, n = 30, k = 2
#   no_between all estimates equal (b = 0: lambda is floored at 1e-4 for the df)
#   small_df   m = 10, n = 12, k = 4 (dfcom = 8: the observed-data df dominate)
#   big_b      m = 3, between-imputation variance far above the within (lambda near 1)
#
# Part 2, "nhanes": imp <- mice(nhanes, m = 5, seed = 20240611, print = FALSE) (pmm); the completed
# tables (complete(imp, "long")), fit <- with(imp, lm(chl ~ age + bmi + hyp)) and
# summary(pool(fit), conf.int = TRUE) with the pooled quantities (ubar, b, t, dfcom, df, riv,
# lambda, fmi). dfcom comes from the model (df.residual = 25 - 4 = 21).

suppressPackageStartupMessages(library(mice))
suppressPackageStartupMessages(library(jsonlite))

scalar_case <- function(Q, U, n = Inf, k = 1) {
  p <- pool.scalar(Q, U, n = n, k = k)
  list(Q = Q, U = U, dfcom = if (is.infinite(n)) "Inf" else n - k,
       qbar = p$qbar, ubar = p$ubar, b = p$b, t = p$t, df = p$df, r = p$r,
       lambda = (1 + 1 / p$m) * p$b / p$t, fmi = p$fmi)
}

Q5 <- c(1.21, 0.93, 1.47, 1.12, 1.30)
U5 <- c(0.041, 0.052, 0.047, 0.039, 0.050)
scalar <- list(
  basic = scalar_case(Q5, U5),
  dfcom = scalar_case(Q5, U5, n = 100, k = 3),
  m2 = scalar_case(c(-2.5, -1.75), c(0.8, 0.95), n = 30, k = 2),
  no_between = scalar_case(rep(3.25, 4), c(0.2, 0.25, 0.22, 0.21), n = 50, k = 2),
  small_df = scalar_case(c(0.5, 0.61, 0.44, 0.73, 0.58, 0.39, 0.66, 0.52, 0.48, 0.7),
                         c(0.011, 0.013, 0.012, 0.010, 0.014, 0.012, 0.011, 0.013, 0.012, 0.010),
                         n = 12, k = 4),
  big_b = scalar_case(c(10, 25, 4), c(0.5, 0.6, 0.4), n = 200, k = 5)
)

imp <- mice(nhanes, m = 5, seed = 20240611, print = FALSE)
fit <- with(imp, lm(chl ~ age + bmi + hyp))
pooled <- pool(fit)
s <- summary(pooled, conf.int = TRUE)
completed <- complete(imp, "long")
nhanes_out <- list(
  completed = completed[, c(".imp", ".id", "age", "bmi", "hyp", "chl")],
  summary = data.frame(term = as.character(s$term), estimate = s$estimate, std.error = s$std.error,
                       statistic = s$statistic, df = s$df, p.value = s$p.value,
                       conf.low = s[["2.5 %"]], conf.high = s[["97.5 %"]]),
  pooled = data.frame(term = as.character(pooled$pooled$term), ubar = pooled$pooled$ubar,
                      b = pooled$pooled$b, t = pooled$pooled$t, dfcom = pooled$pooled$dfcom,
                      df = pooled$pooled$df, riv = pooled$pooled$riv, lambda = pooled$pooled$lambda,
                      fmi = pooled$pooled$fmi),
  mice_version = as.character(packageVersion("mice"))
)

write_json(list(scalar = scalar, nhanes = nhanes_out), "tests/reference/mice_pool.json",
           digits = NA, auto_unbox = TRUE, pretty = TRUE)
