# Reference values for analysis.mediation.medsens with a binary (probit) mediator and a linear
# outcome, from R's mediation 4.5 medsens() on JOBS II (data/jobs.csv), its case "bm":
#   mediator job_dich ~ treat + econ_hard + sex + age (glm, probit),
#   outcome depress2 ~ treat + job_dich + econ_hard + sex + age (lm), and the same outcome
#   model with treat:job_dich (INT = TRUE).
#
# Build mediation from its public source first (see mediation_models.R), then run from the
# repository root:
#     MEDIATION_LIB=/tmp/Rlib Rscript tests/reference/mediation_medsens_binary_mediator.R
# Writes tests/reference/mediation_medsens_binary_mediator.json at full precision (digits = NA):
# per model, medsens(rho.by = 0.1, sims = SIMS) ACME(0), ACME(1) and their quantile limits per
# rho (means of simulations: compare within Monte Carlo error), the rho at which the ACME is
# nearest 0 (err.cr.d), and the R-squared values (deterministic). MEDSENS_SIMS and MEDSENS_OUT
# override the 1000 sims and the output path for a trial run. `corrected`: medsens' own steps
# 1-3 and 2-1/2-2 (the selection-corrected outcome fit, iterated feasible GLS) run at the fitted
# mediator coefficients for a few rho: the outcome coefficients, vcov and sigma (deterministic).

if (nzchar(Sys.getenv("MEDIATION_LIB"))) .libPaths(c(Sys.getenv("MEDIATION_LIB"), .libPaths()))
suppressPackageStartupMessages({
  library(jsonlite)
  library(mediation)
})
SIMS <- as.integer(Sys.getenv("MEDSENS_SIMS", "1000"))
jobs <- read.csv("data/jobs.csv")
# glm stops ~1e-8 from the maximum; single IRLS steps from there reach it (as mediation_models.R).
polish <- function(fit) {
  for (i in 1:30) fit <- suppressWarnings(update(fit, start = coef(fit), control = glm.control(maxit = 1)))
  fit
}
med <- polish(glm(job_dich ~ treat + econ_hard + sex + age, data = jobs, family = binomial("probit")))
sensitivity <- function(out, interaction, seed) {
  set.seed(seed)
  fit <- mediate(med, out, treat = "treat", mediator = "job_dich", sims = 50)
  sens <- medsens(fit, rho.by = 0.1, sims = SIMS)
  list(interaction = interaction, rho = sens$rho, d0 = c(sens$d0), d1 = c(sens$d1),
       lower_d0 = c(sens$lower.d0), upper_d0 = c(sens$upper.d0), lower_d1 = c(sens$lower.d1),
       upper_d1 = c(sens$upper.d1), rho_zero = sens$err.cr.d, r_square_m = c(sens$r.square.m),
       r_square_y = sens$r.square.y, r2_tilde_zero = c(sens$R2tilde.d.thresh))
}
# medsens' lambda and its Step 2-1/2-2 loop, verbatim, at the fitted mediator coefficients.
corrected_fit <- function(model.y, model.m, rho, eps = sqrt(.Machine$double.eps)) {
  y.data <- model.frame(model.y)
  Y.value <- y.data[, 1]
  weights <- rep(1, nrow(y.data))
  mu <- model.matrix(model.m) %*% model.m$coef
  m <- model.m$y
  lambda <- (m * dnorm(-mu) - (1 - m) * dnorm(-mu)) / (m * pnorm(mu) + (1 - m) * pnorm(-mu))
  adj <- lambda * rho
  w <- 1 - rho^2 * lambda * (lambda + mu)
  y.data.adj <- data.frame(y.data, w, adj, weights)
  model.y.adj <- update(model.y, as.formula(paste(". ~ . + adj")), weights = w * weights, data = y.data.adj)
  sigma.3 <- summary(model.y.adj)$sigma
  sigma.dif <- 1
  while (abs(sigma.dif) > eps) {
    Y.star <- Y.value - sigma.3 * adj
    y.data.star <- data.frame(Y.star, y.data.adj)
    model.y.update <- update(model.y, as.formula(paste("Y.star ~ .")), weights = w * weights, data = y.data.star)
    sigma.3.temp <- summary(model.y.update)$sigma
    sigma.dif <- sigma.3.temp - sigma.3
    sigma.3 <- sigma.3.temp
  }
  list(rho = rho, coef = unname(coef(model.y.update)), vcov = unname(vcov(model.y.update)), sigma = sigma.3)
}
plain <- lm(depress2 ~ treat + job_dich + econ_hard + sex + age, data = jobs)
interacted <- lm(depress2 ~ treat + job_dich + treat:job_dich + econ_hard + sex + age, data = jobs)
result <- list(sims = SIMS, mediator_coef = unname(coef(med)),
               corrected = lapply(c(-0.6, 0.3, 0.9), function(r) corrected_fit(plain, med, r)),
               plain = sensitivity(plain, FALSE, 11), interaction = sensitivity(interacted, TRUE, 12))
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           Sys.getenv("MEDSENS_OUT", "tests/reference/mediation_medsens_binary_mediator.json"))
