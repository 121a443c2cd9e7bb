# Reference for analysis.sem's restart when Fisher scoring stalls: a configural CFA of four GSE items
# in the three arms of the bundled synthetic trial at baseline (tests/reference/sem_gse4_baseline.csv,
# written from analysis.io.load_trial("synthetic_trial")), FIML. From lavaan's simple start values our
# scoring ran one arm's loadings off to -200; lavaan converges.
#
# Run from the repository root: Rscript tests/reference/sem_restart.R  (lavaan 0.6; deterministic)
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})
d <- read.csv("tests/reference/sem_gse4_baseline.csv")
fit <- cfa("SE =~ gse_1 + gse_2 + gse_3 + gse_4", d, group = "arm", missing = "fiml")
p <- parameterEstimates(fit)
out <- list(lavaan = as.character(packageVersion("lavaan")), converged = lavInspect(fit, "converged"),
            fit = as.list(fitMeasures(fit, c("chisq", "df", "cfi", "rmsea", "srmr"))),
            lhs = p$lhs, op = p$op, rhs = p$rhs, group = p$group, est = p$est, se = p$se)
write(toJSON(out, auto_unbox = TRUE, digits = NA), "tests/reference/sem_restart.json")
