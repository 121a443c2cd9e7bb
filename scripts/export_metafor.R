#!/usr/bin/env Rscript
# Export three meta-analytic data sets from metafor's companion package metadat.
#
#   dat.bcg        -> data/dat_bcg.csv         (Colditz et al., 1994; 13 BCG trials)
#   dat.molloy2014 -> data/dat_molloy2014.csv  (Molloy, O'Carroll & Ferguson, 2014; 16 studies)
#   dat.assink2016 -> data/dat_assink2016.csv  (Assink et al., 2016; 100 effects in 17 studies)
#
# All columns are kept as they are. Output is deterministic: no row names,
# 15 significant digits, "\n" line ends, UTF-8, missing values written as empty fields.
#
# Usage (from the repository root or anywhere):
#   Rscript scripts/export_metafor.R

suppressPackageStartupMessages(library(metafor))  # attaches metadat, which holds the data

script_path <- function() {
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(arg) == 0) stop("run this file with Rscript")
  normalizePath(sub("^--file=", "", arg[1]))
}

data_dir <- file.path(dirname(dirname(script_path())), "data")
dir.create(data_dir, showWarnings = FALSE)

exports <- list(dat_bcg = "dat.bcg", dat_molloy2014 = "dat.molloy2014", dat_assink2016 = "dat.assink2016")

for (stem in names(exports)) {
  frame <- get(exports[[stem]], envir = asNamespace("metadat"))
  path <- file.path(data_dir, paste0(stem, ".csv"))
  old <- options(digits = 15)
  write.csv(frame, path, row.names = FALSE, na = "", fileEncoding = "UTF-8", eol = "\n")
  options(old)
  cat(sprintf("metadat::%s -> data/%s.csv (%d rows, %d columns)\n",
              exports[[stem]], stem, nrow(frame), ncol(frame)))
}
cat(sprintf("metafor %s, metadat %s\n", packageVersion("metafor"), packageVersion("metadat")))
