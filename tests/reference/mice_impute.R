# Reference values for analysis.missing.impute: mice's pooled ANCOVA arm effects on the bundled
# synthetic trial, with m large, to compare with impute + pool within Monte Carlo error.
#
# Run from the repository root:
#     Rscript tests/reference/mice_impute.R [m]
# Writes tests/reference/mice_impute.json at full precision (digits = NA). m defaults to 200 (the
# recorded run: about 11 minutes on two shared cores).
#
# Data: data/synthetic_trial.csv (the bundled "synthetic_trial"), laid out wide per participant
# with columns age, sex (factor: female, male), then for each wave w = 0..5 phq9_total_w and
# gse_total_w (waves after dropout, and totals missing for missing items, are NA). This is the
# layout and column order analysis.missing.impute(outcome="phq9_total", auxiliary=["gse_total"],
# covariates=["age", "sex"]) builds, so mice's default visit sequence (left to right) matches.
#
# Imputation: per arm (control, cbt, mindfulness) mice(wide_arm, m, maxit = 5, method, seed)
# with the default predictor matrix (every other column), for method "pmm" (donors = 5, type 1
# matching) and "norm". Analysis per completed table (the arms stacked):
#     lm(phq9_total_5 ~ arm + phq9_total_0 + age + sex), arm levels control, cbt, mindfulness,
# pooled by pool.scalar(n = nobs, k = number of coefficients) for the cbt and mindfulness
# coefficients. Recorded per method and term: m, qbar, ubar, b, t, df, and the Monte Carlo
# standard error of qbar, sqrt(b / m); the seconds mice took.

suppressPackageStartupMessages(library(mice))
suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = TRUE)
m <- if (length(args)) as.integer(args[1]) else 200L
waves <- 0:5

long <- read.csv("data/synthetic_trial.csv")
people <- unique(long[, c("participant_id", "arm", "age", "sex")])
people <- people[order(people$participant_id), ]
wide <- people
for (w in waves) {
  at <- long[long$wave == w, c("participant_id", "phq9_total", "gse_total")]
  names(at) <- c("participant_id", paste0(c("phq9_total_", "gse_total_"), w))
  wide <- merge(wide, at, by = "participant_id", all.x = TRUE, sort = TRUE)
}
wide$sex <- factor(wide$sex, levels = c("female", "male"))
wide$arm <- factor(wide$arm, levels = c("control", "cbt", "mindfulness"))
vars <- c("age", "sex", as.vector(rbind(paste0("phq9_total_", waves), paste0("gse_total_", waves))))

run <- function(method, seed) {
  started <- proc.time()[["elapsed"]]
  imps <- lapply(seq_along(levels(wide$arm)), function(a) {
    rows <- wide[wide$arm == levels(wide$arm)[a], ]
    list(rows = rows, imp = mice(rows[, vars], m = m, maxit = 5, method = method,
                                 seed = seed + a, print = FALSE))
  })
  seconds <- proc.time()[["elapsed"]] - started
  terms <- c("armcbt", "armmindfulness")
  est <- matrix(NA, m, 2, dimnames = list(NULL, terms))
  var <- est
  nobs <- NA
  for (i in seq_len(m)) {
    done <- do.call(rbind, lapply(imps, function(x) cbind(x$rows[, c("participant_id", "arm")],
                                                          complete(x$imp, i))))
    fit <- lm(phq9_total_5 ~ arm + phq9_total_0 + age + sex, data = done)
    est[i, ] <- coef(fit)[terms]
    var[i, ] <- diag(vcov(fit))[terms]
    nobs <- nobs(fit)
    k <- length(coef(fit))
  }
  pooled <- lapply(terms, function(term) {
    p <- pool.scalar(est[, term], var[, term], n = nobs, k = k)
    list(term = term, m = m, qbar = p$qbar, ubar = p$ubar, b = p$b, t = p$t, df = p$df,
         mc_se = sqrt(p$b / m))
  })
  names(pooled) <- terms
  list(pooled = pooled, seconds = seconds, nobs = nobs, dfcom = nobs - k)
}

out <- list(pmm = run("pmm", 1000L), norm = run("norm", 2000L), m = m,
            mice_version = as.character(packageVersion("mice")))
write_json(out, "tests/reference/mice_impute.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
