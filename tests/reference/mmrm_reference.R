# Reference values for tests/test_mmrm.py from R's mmrm (MMRM by REML/ML, Kenward-Roger and
# Satterthwaite df), on a simulated trial with dropout (written to mmrm_trial.csv).
#
# How mmrm was built (it is not on CRAN's Debian packages): R 4.2.2 with Debian's r-cran-tmb
# (TMB 1.9.2), r-cran-rcppeigen, r-cran-checkmate, r-cran-emmeans etc. already installed; mmrm from
# the openpharma/mmrm git mirror at HEAD (version 0.3.18, commit ec290b2, whose DESCRIPTION needs
# only R >= 4.1 and TMB >= 1.9.1):
#   git --git-dir=/work/.mirror/openpharma+mmrm/repo archive HEAD | tar -x -C /tmp/mmrm_src
#   MAKEFLAGS=-j2 R CMD INSTALL --no-docs --no-multiarch -l /tmp/Rlib /tmp/mmrm_src
# (mmrm warns that with TMB < 1.9.15 "reproducible model fits are not guaranteed"; rerunning this
# script changed the JSON by at most 1.2e-10 relative.) mmrm's defaults
# throughout: L-BFGS-B, "Kenward-Roger" (not "-Linear") covariance for method "Kenward-Roger".
# Run from the repository root:
#   R_LIBS=/tmp/Rlib Rscript tests/reference/mmrm_reference.R
suppressPackageStartupMessages({
  library(mmrm)
  library(emmeans)
  library(jsonlite)
})

out_dir <- "tests/reference"

# --- a simulated trial: 200 participants, 3 arms, 5 visits, baseline covariate, dropout ----------
set.seed(20240517)
n <- 200
visits <- 1:5
arms <- c("control", "cbt", "med")
id <- rep(sprintf("p%03d", seq_len(n)), each = length(visits))
arm <- rep(arms[(seq_len(n) - 1) %% 3 + 1], each = length(visits))
visit <- rep(visits, times = n)
base <- rep(round(rnorm(n, 22, 4), 1), each = length(visits))
sds <- c(3, 3.5, 4, 4.5, 5)
corr <- outer(visits, visits, function(a, b) 0.8^abs(a - b) * 0.85 + 0.15 * (a == b))
Sigma <- diag(sds) %*% corr %*% diag(sds)
errors <- matrix(rnorm(n * 5), n, 5) %*% chol(Sigma)
effect <- c(control = 0, cbt = -0.8, med = -0.5)
mu <- 22 - 0.9 * visit + 0.6 * (base - 22) + effect[arm] * visit
y <- mu + as.vector(t(errors))
# Monotone dropout (more likely after a high score) and a few intermittent missed visits.
missing <- rep(FALSE, length(y))
for (i in seq_len(n)) {
  rows <- (i - 1) * 5 + 1:5
  for (j in 2:5) {
    if (missing[rows[j - 1]] && j > 2 && missing[rows[j - 2]]) {
      missing[rows[j:5]] <- TRUE
      break
    }
    p_drop <- plogis(-3.2 + 0.15 * (y[rows[j - 1]] - 20))
    if (runif(1) < p_drop) {
      missing[rows[j:5]] <- TRUE
      break
    }
    if (runif(1) < 0.04) missing[rows[j]] <- TRUE
  }
}
y[missing] <- NA
w <- rep(1 + (seq_len(n) %% 3) / 2, each = length(visits))  # prior weights of the weighted fit
trial <- data.frame(id = id, arm = arm, visit = visit, base = base, w = w, y = round(y, 3))
write.csv(trial, file.path(out_dir, "mmrm_trial.csv"), row.names = FALSE, na = "")

trial <- read.csv(file.path(out_dir, "mmrm_trial.csv"))
trial$id <- factor(trial$id)
trial$arm <- factor(trial$arm, levels = arms)
trial$visit <- factor(trial$visit)

# --- fits --------------------------------------------------------------------------------------
fit_one <- function(cov, method, reml = TRUE, by = NULL, weights = FALSE) {
  cov_term <- if (is.null(by)) sprintf("%s(visit | id)", cov) else sprintf("%s(visit | %s / id)", cov, by)
  formula <- as.formula(sprintf("y ~ base + arm * visit + %s", cov_term))
  args <- list(formula = formula, data = trial, reml = reml, method = method)
  if (method == "Residual") args$vcov <- "Asymptotic"  # mmrm's default for "Residual" is "Empirical"
  if (weights) args$weights <- trial$w
  fit <- do.call(mmrm, args)
  s <- summary(fit)
  coefs <- s$coefficients
  emm <- emmeans(fit, ~ arm | visit, at = list(visit = "5"))
  con <- as.data.frame(contrast(emm, method = "trt.vs.ctrl", adjust = "none"))
  varcor <- VarCorr(fit)
  cov_out <- if (is.list(varcor)) lapply(varcor, unname) else unname(varcor)
  list(
    cov = cov, method = method, reml = reml, cov_by = if (is.null(by)) NULL else by, weights = weights,
    terms = rownames(coefs),
    estimate = unname(coefs[, "Estimate"]), se = unname(coefs[, "Std. Error"]),
    df = unname(coefs[, "df"]), t = unname(coefs[, "t value"]), p = unname(coefs[, "Pr(>|t|)"]),
    loglik = as.numeric(logLik(fit)), aic = AIC(fit), bic = BIC(fit),
    covariance = cov_out, theta = unname(component(fit, "theta_est")),
    n_obs = component(fit, "n_obs"), n_subjects = component(fit, "n_subjects"),
    converged = isTRUE(attr(fit, "converged")),
    contrast = list(label = as.character(con$contrast), estimate = con$estimate, se = con$SE, df = con$df,
                    t = con$t.ratio, p = con$p.value)
  )
}

fits <- list()
for (cov in c("us", "cs", "ar1", "csh", "toep", "ar1h", "toeph")) {
  for (method in c("Kenward-Roger", "Satterthwaite")) {
    fits[[length(fits) + 1]] <- fit_one(cov, method)
  }
}
fits[[length(fits) + 1]] <- fit_one("us", "Satterthwaite", reml = FALSE)
fits[[length(fits) + 1]] <- fit_one("ar1", "Satterthwaite", reml = FALSE)
fits[[length(fits) + 1]] <- fit_one("us", "Kenward-Roger", by = "arm")
fits[[length(fits) + 1]] <- fit_one("cs", "Satterthwaite", by = "arm")
fits[[length(fits) + 1]] <- fit_one("us", "Kenward-Roger", weights = TRUE)
fits[[length(fits) + 1]] <- fit_one("us", "Residual")

reference <- list(
  mmrm_version = as.character(packageVersion("mmrm")),
  emmeans_version = as.character(packageVersion("emmeans")),
  tmb_version = as.character(packageVersion("TMB")),
  r_version = R.version.string,
  formula = "y ~ base + arm * visit + <cov>(visit | id)",
  fits = fits
)
write_json(reference, file.path(out_dir, "mmrm_reference.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, null = "null")
cat("wrote", length(fits), "fits\n")
