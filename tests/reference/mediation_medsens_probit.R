# Reference values for analysis.mediation.medsens with a binary (probit) outcome and a linear
# mediator, from R's mediation 4.5 medsens() on JOBS II (data/jobs.csv):
#   mediator job_seek ~ treat + econ_hard + sex + age (lm),
#   outcome employed ~ treat + job_seek + econ_hard + sex + age (glm, probit),
#   employed = 1 when work1 is "psyemp".
#
# Build mediation from its public source first (see mediation_models.R), then run from the
# repository root:
#     MEDIATION_LIB=/tmp/Rlib Rscript tests/reference/mediation_medsens_probit.R
# Writes tests/reference/mediation_medsens_probit.json at full precision (digits = NA):
# medsens(rho.by = 0.1, sims = SIMS) ACME(0), ACME(1) and their quantile limits per rho (means
# of simulations: compare within Monte Carlo error), the rho at which each ACME is nearest 0,
# and the R-squared values (deterministic).

if (nzchar(Sys.getenv("MEDIATION_LIB"))) .libPaths(c(Sys.getenv("MEDIATION_LIB"), .libPaths()))
suppressPackageStartupMessages({
  library(jsonlite)
  library(mediation)
})
SIMS <- 4000
jobs <- read.csv("data/jobs.csv")
jobs$employed <- as.integer(jobs$work1 == "psyemp")
# glm stops ~1e-8 from the maximum; single IRLS steps from there reach it (as mediation_models.R).
polish <- function(fit) {
  for (i in 1:30) fit <- suppressWarnings(update(fit, start = coef(fit), control = glm.control(maxit = 1)))
  fit
}
med <- lm(job_seek ~ treat + econ_hard + sex + age, data = jobs)
out <- polish(glm(employed ~ treat + job_seek + econ_hard + sex + age, data = jobs, family = binomial("probit")))
set.seed(5)
fit <- mediate(med, out, treat = "treat", mediator = "job_seek", sims = 50)
sens <- medsens(fit, rho.by = 0.1, sims = SIMS)
result <- list(sims = SIMS, rho = sens$rho, d0 = sens$d0, d1 = sens$d1, lower_d0 = sens$lower.d0,
               upper_d0 = sens$upper.d0, lower_d1 = sens$lower.d1, upper_d1 = sens$upper.d1,
               rho_zero = sens$err.cr.d, r_square_m = sens$r.square.m, r_square_y = unname(sens$r.square.y[1]),
               r2_tilde_zero = unname(sens$R2tilde.d.thresh))
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/mediation_medsens_probit.json")
