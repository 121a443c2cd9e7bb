# Reference values for analysis.scales.reliability, computed with R's psych.
#
# Run from the repository root:
#     Rscript tests/reference/psych_reliability.R
# Reads data/HELPfull.csv (mosaicData::HELPfull) and writes
# tests/reference/psych_reliability.json at full precision. Each case stores the
# exact item matrix it was computed from, so the Python test never calls R and
# does not depend on the CSV.
#
# Cases
#   help_cesd_pairwise  HELP baseline (TIME == 0) CES-D items F1A-F1T, items
#                       F1D, F1H, F1L, F1P reverse keyed (3 - x); incomplete rows
#                       kept, psych's default use = "pairwise".
#   help_cesd_listwise  the same items with incomplete rows dropped (na.omit).
#   gse_synthetic       a GSE-like 10-item, 1-4 response matrix simulated from a
#                       one-factor model with a fixed seed (no missing values).
#   gse_synthetic_unreversed
#                       the same matrix with item 10 reflected (5 - x), so its
#                       loading is negative: exercises psych::omega's sign flip.
#   heywood_synthetic   6 items, n = 80, simulated so that the first item's
#                       minres uniqueness sits at psych's 0.005 bound (seed 19).
#
# Quantities: psych::alpha (raw_alpha, std.alpha, Feldt CI from alpha.ci,
# item.stats r.drop/mean/sd, alpha.drop raw_alpha) and omega total from
# psych::omega(x, nfactors = 1) (fm = "minres"). psych's minres stops at optim's
# default L-BFGS-B tolerance (factr = 1e7), which leaves omega up to ~1e-5 off
# the optimum (more in Heywood cases). omega_tot_tight re-solves psych's own
# minres problem (same objective, start, bounds and parscale) with
# factr = 1, pgtol = 0, and applies psych::omegah's omega total formula.

suppressPackageStartupMessages(library(psych))
suppressPackageStartupMessages(library(jsonlite))

# psych:::fac's fit.residuals for fm = "minres", one factor (psych 2.2.9).
minres_residual <- function(Psi, S) {
  diag(S) <- 1 - Psi
  eigens <- eigen(S)
  eigens$values[eigens$values < .Machine$double.eps] <- 100 * .Machine$double.eps
  loadings <- eigens$vectors[, 1] * sqrt(eigens$values[1])
  residual <- (S - loadings %*% t(loadings))[lower.tri(S)]
  sum(residual^2)
}

omega_total_tight <- function(x) {
  R <- cor(x, use = "pairwise")
  start <- diag(R) - smc(R)
  control <- list(factr = 1, pgtol = 0, maxit = 10000, parscale = rep(0.01, length(start)))
  for (pass in 1:2) {  # restart once from the solution to settle finite-difference stops
    fit <- optim(start, minres_residual, method = "L-BFGS-B", lower = 0.005,
                 upper = max(smc(R), 1), control = control, S = R)
    start <- fit$par
  }
  S <- R
  diag(S) <- 1 - fit$par
  eigens <- eigen(S, symmetric = TRUE)
  lambda <- eigens$vectors[, 1] * sqrt(max(eigens$values[1], 0))
  key <- sign(lambda)
  key[key == 0] <- 1
  Rk <- diag(key) %*% R %*% diag(key)
  (sum(Rk) - sum(1 - lambda^2)) / sum(Rk)
}

reference_case <- function(x, description, missing) {
  x <- as.data.frame(x)
  a <- suppressWarnings(alpha(x, warnings = FALSE))
  ci90 <- alpha.ci(a$total$raw_alpha, nrow(x), ncol(x), p.val = 0.10)
  om <- suppressWarnings(suppressMessages(
    omega(x, nfactors = 1, plot = FALSE)))
  list(
    description = description,
    missing = missing,
    columns = colnames(x),
    data = unname(as.matrix(x)),
    n = nrow(x),
    k = ncol(x),
    alpha = a$total$raw_alpha,
    std_alpha = a$total$std.alpha,
    alpha_ci_95 = c(a$feldt$lower.ci[[1]], a$feldt$upper.ci[[1]]),
    alpha_ci_90 = c(ci90$lower.ci[[1]], ci90$upper.ci[[1]]),
    r_drop = a$item.stats$r.drop,
    alpha_if_dropped = a$alpha.drop$raw_alpha,
    item_mean = a$item.stats$mean,
    item_sd = a$item.stats$sd,
    omega_tot = om$omega.tot,
    omega_tot_tight = omega_total_tight(x)
  )
}

help <- read.csv("data/HELPfull.csv")
cesd_items <- paste0("F1", LETTERS[1:20])
cesd <- help[help$TIME == 0, cesd_items]
for (item in c("F1D", "F1H", "F1L", "F1P")) cesd[[item]] <- 3 - cesd[[item]]
rownames(cesd) <- NULL

set.seed(20240611)
n_gse <- 250
loading <- c(0.75, 0.70, 0.65, 0.60, 0.72, 0.55, 0.68, 0.50, 0.62, 0.58)
eta <- rnorm(n_gse)
latent <- outer(eta, loading) +
  sweep(matrix(rnorm(n_gse * 10), n_gse), 2, sqrt(1 - loading^2), "*")
gse <- apply(latent, 2, function(y) as.integer(cut(y, c(-Inf, -1, 0, 0.9, Inf))))
colnames(gse) <- paste0("gse_", 1:10)
gse_unrev <- gse
gse_unrev[, 10] <- 5L - gse_unrev[, 10]

set.seed(19)
n_hw <- 80
loading_hw <- c(0.95, 0.6, 0.5, 0.5, 0.45, 0.4)
eta_hw <- rnorm(n_hw)
latent_hw <- outer(eta_hw, loading_hw) +
  sweep(matrix(rnorm(n_hw * 6), n_hw), 2, sqrt(1 - loading_hw^2), "*")
heywood <- apply(latent_hw, 2, function(y) as.integer(cut(y, c(-Inf, -1, 0, 0.9, Inf))))
colnames(heywood) <- paste0("item_", 1:6)

cases <- list(
  help_cesd_pairwise = reference_case(
    cesd, "HELP baseline CES-D items F1A-F1T (reverse keyed), incomplete rows kept",
    "pairwise"),
  help_cesd_listwise = reference_case(
    na.omit(cesd), "HELP baseline CES-D items F1A-F1T (reverse keyed), complete rows",
    "listwise"),
  gse_synthetic = reference_case(
    gse, "Simulated GSE-like 10 items (1-4), one-factor model, seed 20240611",
    "pairwise"),
  gse_synthetic_unreversed = reference_case(
    gse_unrev, "gse_synthetic with item 10 reflected (5 - x)", "pairwise"),
  heywood_synthetic = reference_case(
    heywood, "Simulated 6 items (1-4), n = 80, minres Heywood case (seed 19)",
    "pairwise")
)

out <- list(
  generated_by = "tests/reference/psych_reliability.R",
  r_version = R.version.string,
  psych_version = as.character(packageVersion("psych")),
  cases = cases
)
writeLines(
  toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
  "tests/reference/psych_reliability.json"
)
