# Reference values for the Bayesian meta-analysis in analysis.bayes (tests/test_bayes.py).
#
# Run from the repository root:
#     Rscript tests/reference/metafor_bayes_ref.R
# Writes tests/reference/metafor_bayes_ref.json at full precision (digits = NA).
#
# Data: data/dat_bcg.csv (metafor's dat.bcg, 13 BCG vaccine trials), log risk ratios
# from metafor::escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg).
#
# 1. metafor::rma(yi, vi, method = "REML"): estimate, se, tau2, tau, the 95% CI,
#    the prediction interval (predict) and the study BLUPs (blup): the frequentist
#    values the posterior should sit near.
# 2. The exact posterior of the model analysis.bayes.meta_analysis samples,
#        y_k ~ N(theta_k, v_k), theta_k ~ N(mu, tau^2), mu ~ N(0, mu_sd^2),
#        tau ~ half-Cauchy(0, tau_scale) or half-normal(0, tau_scale),
#    by one-dimensional numerical integration over tau (mu integrates out in closed
#    form: given tau, mu | y is normal with precision P = sum(w) + 1/mu_sd^2 and mean
#    sum(w * y) / P, w = 1 / (v + tau^2); theta_k | mu, tau, y has mean
#    B_k mu + (1 - B_k) y_k, B_k = v_k / (v_k + tau^2)). Posterior means and SDs of mu
#    and tau, the means of theta_k, and the mean and SD of theta_new ~ N(mu, tau^2)
#    for three priors: the defaults, a half-normal tau prior, and a narrow mu prior
#    (mu_sd = 0.1) that pulls mu towards 0.

suppressPackageStartupMessages(library(metafor))
suppressPackageStartupMessages(library(jsonlite))

bcg <- read.csv("data/dat_bcg.csv")
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
yi <- as.numeric(dat$yi)
vi <- as.numeric(dat$vi)

res <- rma(yi, vi, method = "REML")
pred <- predict(res)
blups <- blup(res)
reml <- list(
  mu = as.numeric(res$beta), se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
  tau2 = res$tau2, tau = sqrt(res$tau2), pi_lb = pred$pi.lb, pi_ub = pred$pi.ub,
  blup = as.numeric(blups$pred), blup_se = as.numeric(blups$se)
)

tau_density <- function(tau, prior, scale) {
  if (prior == "half_cauchy") 2 / (pi * scale * (1 + (tau / scale)^2)) else 2 * dnorm(tau, 0, scale)
}

exact_posterior <- function(prior, scale, mu_sd) {
  given_tau <- function(tau) {
    w <- 1 / (vi + tau^2)
    P <- sum(w) + 1 / mu_sd^2
    m <- sum(w * yi) / P
    loglik <- 0.5 * sum(log(w / (2 * pi))) - 0.5 * log(2 * pi * mu_sd^2) + 0.5 * log(2 * pi / P) -
      0.5 * sum(w * yi^2) + 0.5 * sum(w * yi)^2 / P
    list(logpost = loglik + log(tau_density(tau, prior, scale)), m = m, P = P)
  }
  peak <- optimize(function(t) given_tau(t)$logpost, c(0, 10), maximum = TRUE)$objective
  moment <- function(f) {
    integrand <- function(taus) sapply(taus, function(t) {
      g <- given_tau(t)
      exp(g$logpost - peak) * f(t, g)
    })
    integrate(integrand, 0, Inf, rel.tol = 1e-12, subdivisions = 1000L)$value
  }
  norm <- moment(function(t, g) 1)
  expect <- function(f) moment(f) / norm
  mu_mean <- expect(function(t, g) g$m)
  mu_sd_post <- sqrt(expect(function(t, g) g$m^2 + 1 / g$P) - mu_mean^2)
  tau_mean <- expect(function(t, g) t)
  tau2_mean <- expect(function(t, g) t^2)
  theta <- sapply(seq_along(yi), function(k) {
    expect(function(t, g) {
      B <- vi[k] / (vi[k] + t^2)
      B * g$m + (1 - B) * yi[k]
    })
  })
  list(tau_prior = prior, tau_scale = scale, mu_sd = mu_sd,
       mu_mean = mu_mean, mu_sd_post = mu_sd_post,
       tau_mean = tau_mean, tau_sd_post = sqrt(tau2_mean - tau_mean^2),
       theta_mean = theta, theta_new_mean = mu_mean,
       theta_new_sd = sqrt(tau2_mean + mu_sd_post^2))
}

out <- list(
  data = "data/dat_bcg.csv, escalc(measure = 'RR')",
  metafor_version = as.character(packageVersion("metafor")),
  yi = yi, vi = vi, reml = reml,
  exact = list(
    default = exact_posterior("half_cauchy", 0.5, 1.0),
    half_normal = exact_posterior("half_normal", 0.5, 1.0),
    narrow_mu = exact_posterior("half_cauchy", 0.5, 0.1)
  )
)
write_json(out, "tests/reference/metafor_bayes_ref.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
