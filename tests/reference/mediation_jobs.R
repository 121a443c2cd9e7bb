# Reference values for analysis.mediation on JOBS II (data/jobs.csv).
#
# Run from the repository root:
#     Rscript tests/reference/mediation_jobs.R
# Writes tests/reference/mediation_jobs.json at full precision (digits = NA).
#
# R's mediation package is not installed here, so this script gives the pieces its
# linear-linear results are built from, computed with base R:
#   * lm() fits of the mediator model job_seek ~ treat + econ_hard + sex + age, the
#     outcome model depress2 ~ treat + job_seek + econ_hard + sex + age and the
#     total-effect model depress2 ~ treat + econ_hard + sex + age (coefficients,
#     standard errors, R-squared); ACME = a * b, ADE = c', total = a * b + c'.
#   * medsens()'s rho at which ACME = 0 for a model without interaction,
#     cor(residuals(mediator model), residuals(total-effect model)).
#   * ACME(rho) and its variance at rho = -0.9, -0.8, ..., 0.9 by iterated feasible
#     GLS of the stacked mediator and outcome equations with the error correlation
#     fixed at rho, the algorithm of medsens() for two lm fits (Imai, Keele &
#     Yamamoto, 2010): start at OLS; repeat {residual SDs (divisor n - 1), Omega with
#     correlation rho, GLS on the stacked system} until the squared change of the
#     coefficients is below a tolerance; ACME = a * b and var = a^2 var(b) +
#     b^2 var(a) from (X' (Omega^-1 %x% I) X)^-1. medsens() stops at
#     sqrt(.Machine$double.eps) (kept as acme_medsens_tol, var_medsens_tol: the
#     coefficients are then ~1e-4 from the fixed point); acme and var iterate to
#     1e-26, the fixed point that analysis.mediation computes in closed form.
# The published mediation output for this model is quoted in tests/test_mediation.py.

suppressPackageStartupMessages(library(jsonlite))

jobs <- read.csv("data/jobs.csv")
med <- lm(job_seek ~ treat + econ_hard + sex + age, data = jobs)
out <- lm(depress2 ~ treat + job_seek + econ_hard + sex + age, data = jobs)
tot <- lm(depress2 ~ treat + econ_hard + sex + age, data = jobs)

coef_table <- function(fit) {
  s <- summary(fit)$coefficients
  list(terms = rownames(s), estimate = unname(s[, 1]), se = unname(s[, 2]),
       r_squared = summary(fit)$r.squared)
}

sur_acme <- function(rho, tol) {
  xm <- model.matrix(med)
  xy <- model.matrix(out)
  n <- nrow(xm)
  km <- ncol(xm)
  ky <- ncol(xy)
  X <- rbind(cbind(xm, matrix(0, n, ky)), cbind(matrix(0, n, km), xy))
  Y <- c(jobs$job_seek, jobs$depress2)
  b <- solve(crossprod(X), crossprod(X, Y))
  repeat {
    e <- Y - X %*% b
    e1 <- e[1:n]
    e2 <- e[(n + 1):(2 * n)]
    omega <- matrix(c(sum(e1^2) / (n - 1), rho * sd(e1) * sd(e2),
                      rho * sd(e1) * sd(e2), sum(e2^2) / (n - 1)), 2)
    w <- solve(omega)
    info <- rbind(cbind(w[1, 1] * crossprod(xm), w[1, 2] * crossprod(xm, xy)),
                  cbind(w[2, 1] * crossprod(xy, xm), w[2, 2] * crossprod(xy)))
    rhs <- c(w[1, 1] * crossprod(xm, e1 + xm %*% b[1:km]) +
               w[1, 2] * crossprod(xm, e2 + xy %*% b[(km + 1):(km + ky)]),
             w[2, 1] * crossprod(xy, e1 + xm %*% b[1:km]) +
               w[2, 2] * crossprod(xy, e2 + xy %*% b[(km + 1):(km + ky)]))
    new <- solve(info, rhs)
    change <- sum((new - b)^2)
    b <- new
    if (change < tol) break
  }
  v <- solve(info)
  a <- b[2]
  bm <- b[km + 3]  # job_seek in the outcome model (after intercept and treat)
  c(acme = unname(a * bm), var = unname(a^2 * v[km + 3, km + 3] + bm^2 * v[2, 2]))
}

rhos <- round(seq(-0.9, 0.9, by = 0.1), 10)
sens <- sapply(rhos, sur_acme, tol = 1e-26)
sens_default <- sapply(rhos, sur_acme, tol = sqrt(.Machine$double.eps))

result <- list(
  nobs = nrow(jobs),
  mediator_model = coef_table(med),
  outcome_model = coef_table(out),
  total_model = coef_table(tot),
  acme = unname(coef(med)["treat"] * coef(out)["job_seek"]),
  ade = unname(coef(out)["treat"]),
  total = unname(coef(tot)["treat"]),
  rho_zero = cor(residuals(med), residuals(tot)),
  sensitivity = list(rho = rhos, acme = unname(sens["acme", ]), var = unname(sens["var", ]),
                     acme_medsens_tol = unname(sens_default["acme", ]),
                     var_medsens_tol = unname(sens_default["var", ]))
)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/mediation_jobs.json")
