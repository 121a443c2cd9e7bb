# Bootstrap replicates of lavaan 0.6-14 with the rows they drew, so that analysis.sem's refits can be
# checked replicate by replicate (the Monte Carlo-free part of the bootstrap).
#
# Run from the repository root: Rscript tests/reference/sem_lavaan_bootidx.R
# Writes tests/reference/sem_lavaan_bootidx.json: per case the estimates (coef()), and from
# bootstrapLavaan(FUN = "coef", keep.idx = TRUE) the rows drawn per group (1-based, rows of each
# group in data order) and each replicate's free-parameter estimates (NA where it failed).
#   hs_cfa      Holzinger-Swineford CFA, 30 replicates
#   pd_defined  Political Democracy with the defined indirect effect, 30 replicates
#   hs_groups   Holzinger-Swineford CFA by school (resampled within school), 20 replicates
# and, for the formulas that turn replicates into standard errors and intervals, se = "bootstrap" with
# 30 replicates (set.seed(1)): the replicates (lavInspect(fit, "boot")) and parameterEstimates(boot.ci.type
# = "perc") of hs_cfa (se_hs_cfa) and pd_defined (se_pd_defined).

suppressPackageStartupMessages(library(lavaan))
suppressPackageStartupMessages(library(jsonlite))

hs <- read.csv("tests/reference/sem_holzinger.csv")
pd <- read.csv("tests/reference/sem_politicaldemocracy.csv")
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

replicates <- function(fit, R) {
  boot <- bootstrapLavaan(fit, R = R, FUN = "coef", keep.idx = TRUE, iseed = 20261201)
  idx <- attr(boot, "boot.idx")
  list(coef = unname(coef(fit)), boot = unname(lapply(seq_len(nrow(boot)), function(b) boot[b, ])),
       idx = lapply(idx, function(m) unname(lapply(seq_len(nrow(m)), function(b) m[b, ]))))
}

out <- list()
out$hs_cfa <- replicates(cfa(hs_model, data = hs), 30)
out$pd_defined <- replicates(sem(defined_model, data = pd), 30)
out$hs_groups <- replicates(cfa(hs_model, data = hs, group = "school"), 20)
with_se <- function(fit) {
  pe <- parameterEstimates(fit, boot.ci.type = "perc")
  boot <- lavInspect(fit, "boot")
  list(boot = unname(lapply(seq_len(nrow(boot)), function(b) boot[b, ])), est = pe$est, se = pe$se,
       ci_low = pe$ci.lower, ci_high = pe$ci.upper)
}
set.seed(1)
out$se_hs_cfa <- with_se(cfa(hs_model, data = hs, se = "bootstrap", bootstrap = 30))
set.seed(1)
out$se_pd_defined <- with_se(sem(defined_model, data = pd, se = "bootstrap", bootstrap = 30))
write(toJSON(out, digits = NA, auto_unbox = FALSE, null = "null", na = "null"),
      "tests/reference/sem_lavaan_bootidx.json")
