# Reference values for analysis.scales.omega (Schmid-Leiman omega hierarchical),
# computed with R's psych and GPArotation.
#
# Run from the repository root:
#     Rscript tests/reference/psych_omega.R
# Reads tests/reference/bfi_items.csv (psych's bfi N1-N5 and A1-A5, written by
# psych_items.R) and tests/reference/gse_wave0.csv (the synthetic trial's GSE
# items at wave 0), writes tests/reference/sim_hierarchical.csv (psych's
# sim.hierarchical, 500 simulated respondents, seed 20240601) and
# tests/reference/psych_omega.json at full precision. The Python tests read the
# CSVs and the JSON and never call R.
#
# Cases: psych::omega(x, nfactors, plot = FALSE) with its defaults otherwise
# (fm = "minres", rotate = "oblimin", flip = TRUE, use = "pairwise"):
#   bfi_neuro      N1-N5, 3 factors (the issue's numbers: omega_h 0.729, omega_t 0.852)
#   bfi_n_a        N1-N5 and A1-A5, 3 factors (A1 reversed by psych's flip)
#   bfi_n_a_4      N1-N5 and A1-A5, 4 factors (second-order minres on a 4 x 4 Phi)
#   bfi_n_a_2      N1-N5 and A1-A5, 2 factors (option = "equal" general loadings)
#   gse_wave0      the simulated GSE-10 items at wave 0 (missing responses), 3 factors
#   sim_hier       sim.hierarchical's 9 variables, 3 factors

suppressPackageStartupMessages(library(psych))
suppressPackageStartupMessages(library(GPArotation))
suppressPackageStartupMessages(library(jsonlite))

bfi_items <- read.csv("tests/reference/bfi_items.csv")
gse <- read.csv("tests/reference/gse_wave0.csv")
set.seed(20240601)
sim <- as.data.frame(sim.hierarchical(n = 500)$observed)
write.csv(sim, "tests/reference/sim_hierarchical.csv", row.names = FALSE)
sim <- read.csv("tests/reference/sim_hierarchical.csv")

omega_case <- function(x, nfactors, description) {
  om <- suppressMessages(suppressWarnings(omega(x, nfactors = nfactors, plot = FALSE)))
  sl <- om$schmid$sl
  list(
    description = description,
    columns = colnames(x),
    nfactors = nfactors,
    omega_h = om$omega_h,
    omega_t = om$omega.tot,
    omega_lim = om$omega.lim,
    alpha = om$alpha,
    g6 = om$G6,
    ecv = unname(om$ECV),
    key = unname(om$key),
    general = unname(sl[, 1]),
    group = unname(sl[, 2:(nfactors + 1)]),
    h2 = unname(sl[, "h2"]),
    u2 = unname(sl[, "u2"]),
    p2 = unname(sl[, "p2"]),
    orthogonal = unname(unclass(om$schmid$orthog)),
    oblique = unname(unclass(om$schmid$oblique)),
    phi = unname(om$schmid$phi),
    gloading = unname(as.vector(om$schmid$gloading)),
    omega_group = list(index = rownames(om$omega.group), total = om$omega.group$total,
                       general = om$omega.group$general, group = om$omega.group$group)
  )
}

n_a <- bfi_items
out <- list(
  generated_by = "tests/reference/psych_omega.R",
  r_version = R.version.string,
  psych_version = as.character(packageVersion("psych")),
  gparotation_version = as.character(packageVersion("GPArotation")),
  cases = list(
    bfi_neuro = omega_case(bfi_items[, paste0("N", 1:5)], 3, "psych bfi N1-N5"),
    bfi_n_a = omega_case(n_a, 3, "psych bfi N1-N5 and A1-A5"),
    bfi_n_a_4 = omega_case(n_a, 4, "psych bfi N1-N5 and A1-A5, 4 factors"),
    bfi_n_a_2 = omega_case(n_a, 2, "psych bfi N1-N5 and A1-A5, 2 factors"),
    gse_wave0 = omega_case(gse, 3, "synthetic_trial GSE-10 items at wave 0"),
    sim_hier = omega_case(sim, 3, "psych::sim.hierarchical(n = 500), seed 20240601")
  )
)
writeLines(
  toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE, matrix = "rowmajor"),
  "tests/reference/psych_omega.json"
)
