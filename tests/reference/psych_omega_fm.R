# Reference values for analysis.scales.omega with psych's other factoring
# methods (fm = "pa", "ml", "wls", "gls"; psych's omega refuses "uls"), computed with R's psych and
# GPArotation.
#
# Run from the repository root (after psych_omega.R, which writes
# sim_hierarchical.csv):
#     Rscript tests/reference/psych_omega_fm.R
# Writes tests/reference/bfi25_items.csv (psych's bfi, all 25 personality items)
# and reads it, tests/reference/bfi_items.csv (psych's bfi N1-N5 and A1-A5),
# tests/reference/gse_wave0.csv (the synthetic trial's GSE-10 items at wave 0)
# and tests/reference/sim_hierarchical.csv (psych::sim.hierarchical, 9 items) and
# writes tests/reference/psych_omega_fm.json at full precision. The Python tests
# read the CSVs and the JSON and never call R.
#
# Cases: psych::omega(x, nfactors, fm = fm, plot = FALSE), rotate = "oblimin"
# and use = "pairwise" (psych's defaults), for every fm above, on
#   bfi_neuro   N1-N5, 3 factors (the issue's case; with fm = "pa" psych stops
#               with an error, stored as `error`: the principal axes turn
#               imaginary)
#   bfi_n_a     N1-N5 and A1-A5, 3 factors (A1 reversed by psych's flip)
#   bfi_n_a_4   N1-N5 and A1-A5, 4 factors
#   gse_wave0   the simulated GSE-10 items at wave 0 (missing responses), 3 factors
#   sim_hier    sim.hierarchical's 9 variables, 3 factors
#   bfi25       psych's bfi, all 25 items, 5 factors (also with fm = "minres")

suppressPackageStartupMessages(library(psych))
suppressPackageStartupMessages(library(GPArotation))
suppressPackageStartupMessages(library(jsonlite))

bfi_items <- read.csv("tests/reference/bfi_items.csv")
gse <- read.csv("tests/reference/gse_wave0.csv")
sim <- read.csv("tests/reference/sim_hierarchical.csv")
bfi25 <- bfi[, 1:25]
rownames(bfi25) <- NULL
write.csv(bfi25, "tests/reference/bfi25_items.csv", row.names = FALSE, na = "NA")
bfi25 <- read.csv("tests/reference/bfi25_items.csv")

omega_case <- function(x, nfactors, fm) {
  om <- try(suppressMessages(suppressWarnings(omega(x, nfactors = nfactors, fm = fm, plot = FALSE))),
            silent = TRUE)
  if (inherits(om, "try-error")) {
    return(list(columns = colnames(x), nfactors = nfactors, fm = fm,
                error = conditionMessage(attr(om, "condition"))))
  }
  sl <- om$schmid$sl
  list(
    columns = colnames(x),
    nfactors = nfactors,
    fm = fm,
    omega_h = om$omega_h,
    omega_t = om$omega.tot,
    omega_lim = om$omega.lim,
    ecv = unname(om$ECV),
    key = unname(om$key),
    general = unname(sl[, 1]),
    group = unname(sl[, 2:(nfactors + 1)]),
    h2 = unname(sl[, "h2"]),
    orthogonal = unname(unclass(om$schmid$orthog)),
    phi = unname(om$schmid$phi),
    gloading = unname(as.vector(om$schmid$gloading)),
    omega_group = list(index = rownames(om$omega.group), total = om$omega.group$total,
                       general = om$omega.group$general, group = om$omega.group$group)
  )
}

data_sets <- list(
  bfi_neuro = list(x = bfi_items[, paste0("N", 1:5)], nfactors = 3),
  bfi_n_a = list(x = bfi_items, nfactors = 3),
  bfi_n_a_4 = list(x = bfi_items, nfactors = 4),
  gse_wave0 = list(x = gse, nfactors = 3),
  sim_hier = list(x = sim, nfactors = 3),
  bfi25 = list(x = bfi25, nfactors = 5)
)
cases <- list()
for (fm in c("pa", "ml", "wls", "gls")) {
  for (name in names(data_sets)) {
    d <- data_sets[[name]]
    cases[[paste(name, fm, sep = "_")]] <- c(list(data = name), omega_case(d$x, d$nfactors, fm))
  }
}
cases[["bfi25_minres"]] <- c(list(data = "bfi25"), omega_case(bfi25, 5, "minres"))

out <- list(
  generated_by = "tests/reference/psych_omega_fm.R",
  r_version = R.version.string,
  psych_version = as.character(packageVersion("psych")),
  gparotation_version = as.character(packageVersion("GPArotation")),
  cases = cases
)
writeLines(
  toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE, matrix = "rowmajor"),
  "tests/reference/psych_omega_fm.json"
)
