# Set-up shared by the metafor reference scripts (metafor_meta.R, metafor_bias.R, metafor_mh.R and
# metafor_mv.R), each run from the repository root and starting with
#     source("tests/reference/metafor_common.R")

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

# Where the scripts write their JSON (and any data they export).
here <- "tests/reference"

# A bundled data set of the suite (data/NAME.csv).
bundled <- function(name) read.csv(file.path("data", paste0(name, ".csv")))

# metafor's teaching examples as the tests use them: the BCG trials as log risk ratios and
# Molloy et al. (2014) as Fisher's z.
bcg_rr <- function() escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bundled("dat_bcg"))
molloy_zcor <- function() escalc(measure = "ZCOR", ri = ri, ni = ni, data = bundled("dat_molloy2014"))

# Write a script's results to tests/reference/NAME at full precision (R's NA and NULL as null).
write_reference <- function(out, name, ...) {
  write(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", ...), file.path(here, name))
}
