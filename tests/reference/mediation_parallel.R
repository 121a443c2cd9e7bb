# Reference values for analysis.mediation.mediate_parallel: two parallel mediators in the
# bundled synthetic trial (data/synthetic_trial.csv), cbt vs control, one row per person:
#   gse_change  = gse_total at wave 3 - wave 0   (self-efficacy, mediator 1)
#   gad7_change = gad7_total at wave 3 - wave 0  (anxiety, mediator 2)
#   phq9_change = phq9_total at wave 5 - wave 0  (outcome), covariate age;
# people with all three waves observed.
#
# Run from the repository root:
#     Rscript tests/reference/mediation_parallel.R
# Writes tests/reference/mediation_parallel.json at full precision (digits = NA):
#   * lm() coefficients of the three models and the products a_j * b_j;
#   * lavaan's sem() of the same model (saturated: its estimates are the lm ones) with
#     defined parameters for the specific, total and contrasted indirect effects, the direct
#     and total effects, se = "bootstrap" with BOOT resamples and percentile intervals
#     (parameterEstimates(boot.ci.type = "perc")), with the bootstrap SDs of the defined
#     parameters (for the Monte Carlo error of the limits).

suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
})
BOOT <- 4000
trial <- read.csv("data/synthetic_trial.csv")
trial <- trial[trial$arm %in% c("control", "cbt"), ]
wave <- function(w, columns) {
  rows <- trial[trial$wave == w, c("participant_id", columns)]
  names(rows)[-1] <- paste0(columns, "_", w)
  rows
}
d <- merge(merge(wave(0, c("gse_total", "gad7_total", "phq9_total", "arm", "age")),
                 wave(3, c("gse_total", "gad7_total"))), wave(5, "phq9_total"))
d <- data.frame(treat = as.integer(d$arm_0 == "cbt"), age = d$age_0,
                gse_change = d$gse_total_3 - d$gse_total_0, gad7_change = d$gad7_total_3 - d$gad7_total_0,
                phq9_change = d$phq9_total_5 - d$phq9_total_0)
d <- d[complete.cases(d), ]

m1 <- lm(gse_change ~ treat + age, data = d)
m2 <- lm(gad7_change ~ treat + age, data = d)
out <- lm(phq9_change ~ treat + gse_change + gad7_change + age, data = d)
products <- c(gse = unname(coef(m1)["treat"] * coef(out)["gse_change"]),
              gad7 = unname(coef(m2)["treat"] * coef(out)["gad7_change"]))

model <- "
  gse_change ~ a1 * treat + age
  gad7_change ~ a2 * treat + age
  phq9_change ~ c * treat + b1 * gse_change + b2 * gad7_change + age
  ind_gse := a1 * b1
  ind_gad7 := a2 * b2
  ind_total := a1 * b1 + a2 * b2
  contrast := a1 * b1 - a2 * b2
  direct := c
  total := c + a1 * b1 + a2 * b2
"
set.seed(20240601)
fit <- sem(model, data = d, se = "bootstrap", bootstrap = BOOT)
est <- parameterEstimates(fit, boot.ci.type = "perc")
defined <- est[est$op == ":=", ]
boot <- lavInspect(fit, "boot")
coefs <- coef(fit)
defined_draws <- function(row) {
  apply(boot, 1, function(b) {
    a1 <- b["a1"]; a2 <- b["a2"]; b1 <- b["b1"]; b2 <- b["b2"]; cc <- b["c"]
    switch(row, ind_gse = a1 * b1, ind_gad7 = a2 * b2, ind_total = a1 * b1 + a2 * b2,
           contrast = a1 * b1 - a2 * b2, direct = cc, total = cc + a1 * b1 + a2 * b2)
  })
}
result <- list(
  nobs = nrow(d), boot = nrow(boot), lavaan_version = as.character(packageVersion("lavaan")),
  lm = list(a = c(gse = unname(coef(m1)["treat"]), gad7 = unname(coef(m2)["treat"])),
            b = c(gse = unname(coef(out)["gse_change"]), gad7 = unname(coef(out)["gad7_change"])),
            direct = unname(coef(out)["treat"]), products = as.list(products)),
  lavaan = list(label = defined$label, estimate = defined$est, ci_low = defined$ci.lower,
                ci_high = defined$ci.upper,
                boot_sd = unname(vapply(defined$label, function(l) sd(defined_draws(l)), numeric(1))))
)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/mediation_parallel.json")
