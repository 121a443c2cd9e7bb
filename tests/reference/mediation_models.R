# Reference values for analysis.mediation's binary models, interaction and moderated
# mediation on JOBS II (data/jobs.csv), from R's mediation package 4.5.
#
# mediation has no Debian package: build it from its public source first, e.g.
#     R CMD INSTALL -l /tmp/Rlib <mediation source>
# then run from the repository root:
#     MEDIATION_LIB=/tmp/Rlib Rscript tests/reference/mediation_models.R
# Writes tests/reference/mediation_models.json at full precision (digits = NA).
#
# For each model pair:
#   * the coefficients and vcov() of both fits (lm or glm);
#   * `plugin`: the effects at the fitted coefficients with the mediator's
#     distribution integrated out exactly, computed with predict(): for each arm t
#     and mediator arm t', the mean over rows of E[Y | t, M(t')], a Bernoulli mean for
#     a binary mediator, a normal integral (integrate()) for a linear mediator. This
#     is what mediate() estimates by simulation (its draws only add Monte Carlo
#     noise), and is deterministic;
#   * `qb`: summary(mediate(..., sims = SIMS)) by the quasi-Bayesian method (boot =
#     FALSE), with the standard deviation of each quantity's draws (sd / sqrt(sims)
#     is the Monte Carlo standard error of R's point estimate), test.TMint for the
#     interaction model, and test.modmed's difference of the ACMEs for the moderator.
# Employment: employed = 1 when work1 is "psyemp".

if (nzchar(Sys.getenv("MEDIATION_LIB"))) .libPaths(c(Sys.getenv("MEDIATION_LIB"), .libPaths()))
suppressPackageStartupMessages({
  library(jsonlite)
  library(mediation)
})
SIMS <- 10000
# glm stops when the deviance stops changing, which leaves the coefficients about 1e-8 from the
# maximum (the deviance is flat there to double precision, even with a tiny epsilon); further
# single IRLS steps from the fitted coefficients reach the maximum itself (score ~1e-10).
polish <- function(fit) {
  for (i in 1:30) fit <- suppressWarnings(update(fit, start = coef(fit), control = glm.control(maxit = 1)))
  fit
}
jobs <- read.csv("data/jobs.csv")
jobs$employed <- as.integer(jobs$work1 == "psyemp")

# E[Y | treat = t, M(t')] averaged over rows, at the fitted coefficients.
expected_outcome <- function(med, out, t, t_m, mediator, at = list()) {
  rows <- jobs
  for (name in names(at)) rows[[name]] <- at[[name]]
  with_treat <- function(value) { r <- rows; r$treat <- value; r }
  m_rows <- with_treat(t_m)
  y_rows <- with_treat(t)
  predict_y <- function(m) { r <- y_rows; r[[mediator]] <- m; predict(out, newdata = r, type = "response") }
  if (inherits(med, "glm")) {
    p <- predict(med, newdata = m_rows, type = "response")
    return(mean(p * predict_y(rep(1, nrow(rows))) + (1 - p) * predict_y(rep(0, nrow(rows)))))
  }
  mu <- predict(med, newdata = m_rows)
  sigma <- summary(med)$sigma
  if (!inherits(out, "glm")) return(mean(predict_y(mu)))
  base <- predict(out, newdata = { r <- y_rows; r[[mediator]] <- 0; r })
  slope <- predict(out, newdata = { r <- y_rows; r[[mediator]] <- 1; r }) - base
  inv <- out$family$linkinv
  mean(vapply(seq_along(mu), function(i) {
    integrate(function(z) inv(base[i] + slope[i] * (mu[i] + sigma * z)) * dnorm(z), -Inf, Inf,
              rel.tol = 1e-12, abs.tol = 0)$value
  }, numeric(1)))
}

plugin <- function(med, out, mediator, at = list()) {
  q <- function(t, t_m) expected_outcome(med, out, t, t_m, mediator, at)
  q11 <- q(1, 1); q10 <- q(1, 0); q01 <- q(0, 1); q00 <- q(0, 0)
  list(d1 = q11 - q10, d0 = q01 - q00, z1 = q11 - q01, z0 = q10 - q00, tau = q11 - q00)
}

fit_info <- function(fit) list(terms = names(coef(fit)), estimate = unname(coef(fit)),
                               vcov = unname(vcov(fit)))

qb_info <- function(m) {
  s <- summary(m)
  draws <- list(d0 = m$d0.sims, d1 = m$d1.sims, z0 = m$z0.sims, z1 = m$z1.sims, tau = m$tau.sims,
                n0 = m$n0.sims, n1 = m$n1.sims)
  list(sims = m$sims,
       estimate = list(d0 = s$d0, d1 = s$d1, z0 = s$z0, z1 = s$z1, tau = s$tau.coef, n0 = s$n0,
                       n1 = s$n1, d_avg = s$d.avg, z_avg = s$z.avg, n_avg = s$n.avg),
       ci_low = list(d0 = s$d0.ci[[1]], d1 = s$d1.ci[[1]], z0 = s$z0.ci[[1]], z1 = s$z1.ci[[1]],
                     tau = s$tau.ci[[1]]),
       ci_high = list(d0 = s$d0.ci[[2]], d1 = s$d1.ci[[2]], z0 = s$z0.ci[[2]], z1 = s$z1.ci[[2]],
                      tau = s$tau.ci[[2]]),
       p = list(d0 = s$d0.p, d1 = s$d1.p, z0 = s$z0.p, z1 = s$z1.p, tau = s$tau.p),
       sd = lapply(draws, sd))
}

case <- function(med, out, mediator, seed, at = list(), sims = SIMS) {
  set.seed(seed)
  m <- mediate(med, out, treat = "treat", mediator = mediator, sims = sims,
               covariates = if (length(at)) at else NULL)
  list(mediator_model = fit_info(med), outcome_model = fit_info(out),
       plugin = plugin(med, out, mediator, at), qb = qb_info(m), fit = m)
}
strip <- function(x) { x$fit <- NULL; x }

linear_med <- lm(job_seek ~ treat + econ_hard + sex + age, data = jobs)
cases <- list()

# treatment x mediator interaction
interaction <- case(linear_med, lm(depress2 ~ treat * job_seek + econ_hard + sex + age, data = jobs),
                    "job_seek", 1, sims = 5000)
tm <- test.TMint(interaction$fit)
interaction$tm_interaction <- list(estimate = unname(tm$statistic), p = tm$p.value,
                                   ci_low = tm$conf.int[[1]], ci_high = tm$conf.int[[2]])
cases$interaction <- strip(interaction)

# moderated mediation by sex (covariates = list(sex = v)); same seed for both, as test.modmed
mod_med <- lm(job_seek ~ treat * sex + econ_hard + age, data = jobs)
mod_out <- lm(depress2 ~ treat * sex + job_seek * sex + econ_hard + age, data = jobs)
sex0 <- case(mod_med, mod_out, "job_seek", 2, at = list(sex = 0), sims = 5000)
sex1 <- case(mod_med, mod_out, "job_seek", 2, at = list(sex = 1), sims = 5000)
diff_sims <- sex1$fit$d1.sims - sex0$fit$d1.sims
cases$moderated <- list(sex0 = strip(sex0), sex1 = strip(sex1),
                        modmed = list(estimate = sex1$fit$d1 - sex0$fit$d1, sd = sd(diff_sims),
                                      ci_low = unname(quantile(diff_sims, 0.025)),
                                      ci_high = unname(quantile(diff_sims, 0.975))))

# binary outcome (employment), probit and logit
for (link in c("probit", "logit")) {
  out <- polish(glm(employed ~ treat + job_seek + econ_hard + sex + age, data = jobs, family = binomial(link)))
  cases[[paste0("outcome_", link)]] <- strip(case(linear_med, out, "job_seek", 3))
}

# binary mediator (job_dich), probit, linear outcome
dich_med <- polish(glm(job_dich ~ treat + econ_hard + sex + age, data = jobs, family = binomial("probit")))
cases$mediator_probit <- strip(case(dich_med, lm(depress2 ~ treat + job_dich + econ_hard + sex + age,
                                                  data = jobs), "job_dich", 4))

writeLines(toJSON(c(list(nobs = nrow(jobs), mediation_version = as.character(packageVersion("mediation"))),
                    cases), auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/mediation_models.json")
