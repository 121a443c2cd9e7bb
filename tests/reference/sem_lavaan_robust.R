# Reference values for analysis.sem's bootstrap standard errors and robust (MLR) fit indices,
# computed with lavaan 0.6-14.
#
# Run from the repository root (after tests/reference/sem_lavaan.R, which writes the data sets):
#     Rscript tests/reference/sem_lavaan_robust.R
# Writes tests/reference/sem_lavaan_robust.json at full precision.
#
# Cases:
#   fit_<case>   fitMeasures() of the scaled and robust indices (Brosseau-Liard & Savalei 2014,
#                Savalei 2018; FIML-corrected versions with missing = "ml") with estimator = "MLR":
#                hs_mlr (Holzinger-Swineford CFA), growth_mlr (linear growth of gse_total, complete
#                cases), fiml_mlr (the same on every participant, missing = "ml")
#   boot_<case>  se = "bootstrap" (ordinary nonparametric, 2000 replicates, set.seed(20261201)):
#                parameterEstimates(boot.ci.type = "perc") of hs_cfa (Holzinger-Swineford CFA) and
#                pd_defined (Political Democracy with the indirect effect a*b defined by :=), and the
#                number of replicates that converged. The Monte Carlo SD of a bootstrap SE from B
#                replicates is about SE / sqrt(2 B) (1.6% of the SE at B = 2000) for normal replicates,
#                more for heavy-tailed ones: mc_var (below) gives it from the replicates' moments.

suppressPackageStartupMessages(library(lavaan))
suppressPackageStartupMessages(library(jsonlite))

hs <- read.csv("tests/reference/sem_holzinger.csv")
pd <- read.csv("tests/reference/sem_politicaldemocracy.csv")
trial <- read.csv("tests/reference/sem_trial_wide.csv")

hs_model <- "visual =~ x1 + x2 + x3
             textual =~ x4 + x5 + x6
             speed =~ x7 + x8 + x9"
defined_model <- "ind60 =~ x1 + x2 + x3
                  dem60 =~ y1 + y2 + y3 + y4
                  dem65 =~ y5 + y6 + y7 + y8
                  dem60 ~ a*ind60
                  dem65 ~ c*ind60 + b*dem60
                  indirect := a*b
                  total := c + a*b"
waves <- 0:3
linear <- paste0("igse =~ ", paste0("1*gse_total_w", waves, collapse = " + "), "\n",
                 "sgse =~ ", paste0(waves, "*gse_total_w", waves, collapse = " + "))

robust <- c("chisq", "df", "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
            "baseline.chisq", "baseline.df", "baseline.chisq.scaled", "baseline.df.scaled",
            "baseline.pvalue.scaled", "baseline.chisq.scaling.factor", "cfi.scaled", "tli.scaled",
            "cfi.robust", "tli.robust", "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled",
            "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust")

out <- list()
out$version <- as.character(packageVersion("lavaan"))
out$fit_hs_mlr <- as.list(fitMeasures(cfa(hs_model, data = hs, estimator = "MLR"), robust))
out$fit_growth_mlr <- as.list(fitMeasures(growth(linear, data = trial, estimator = "MLR"), robust))
out$fit_fiml_mlr <- as.list(fitMeasures(growth(linear, data = trial, missing = "ml", estimator = "MLR"),
                                        robust))

B <- 2000
# mc_var: per parameterEstimates() row, the variance per replicate of a bootstrap SE,
# (m4 - s^4) / (4 s^2) from the replicates' second and fourth central moments (s^2 / 2 for normal
# replicates), so that the Monte Carlo SD of an SE from B replicates is sqrt(mc_var / B).
se_mc_var <- function(draws) {
  centred <- sweep(draws, 2, colMeans(draws))
  s2 <- colMeans(centred^2)
  (colMeans(centred^4) - s2^2) / (4 * s2)
}
boot_case <- function(fit) {
  pe <- parameterEstimates(fit, boot.ci.type = "perc")
  boot <- lavInspect(fit, "boot")
  mc_var <- rep(0, nrow(pe))
  free <- which(fit@ParTable$free > 0)
  mc_var[free] <- se_mc_var(boot)[fit@ParTable$free[free]]
  defined <- which(pe$op == ":=")
  if (length(defined)) mc_var[defined] <- se_mc_var(t(rbind(apply(boot, 1, fit@Model@def.function))))
  list(B = B, ok = nrow(boot), lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se,
       ci_low = pe$ci.lower, ci_high = pe$ci.upper, mc_var = mc_var)
}
set.seed(20261201)
out$boot_hs_cfa <- boot_case(cfa(hs_model, data = hs, se = "bootstrap", bootstrap = B))
set.seed(20261201)
out$boot_pd_defined <- boot_case(sem(defined_model, data = pd, se = "bootstrap", bootstrap = B))

write(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
      "tests/reference/sem_lavaan_robust.json")
