# Reference values for analysis.scales item statistics, key check, ICC and
# split-half, computed with R's psych.
#
# Run from the repository root:
#     Rscript tests/reference/psych_items.R
# Reads tests/reference/gse_wave0.csv (the GSE items at wave 0 of
# analysis.io.load_trial("synthetic_trial"), written by the test author with
# pandas; NA marks a missing response), writes tests/reference/bfi_items.csv
# (psych's bfi, items N1-N5 and A1-A5) and tests/reference/psych_items.json at
# full precision. The Python tests read the CSVs and the JSON and never call R.
#
# Item cases (psych::alpha with its defaults, use = "pairwise"; check.keys as
# named; psych::splitHalf with its defaults, check.keys = TRUE, all splits):
#   bfi_agree   A1-A5 (A1 negatively keyed: principal() flags it)
#   bfi_neuro   N1-N5
#   bfi_n_a     N1-N5 and A1-A5 together
#   bfi_odd     N1-N5, A1, A2 (7 items: psych's odd-k enumeration)
#   gse_wave0   the simulated GSE-10 items at wave 0 (missing responses)
# ICC cases (psych::ICC(x, lmer = FALSE) on complete cases: psych stops on
# missing data when lmer = FALSE, so the NA rows are dropped here first):
#   sf          Shrout & Fleiss (1979) 6 subjects x 4 judges (psych's example)
#   gse_raters  GSE items 1-4 at wave 0 read as 4 raters (incomplete rows dropped)
#   sf_lmer     psych's default ICC(sf) (lmer = TRUE): variance components from
#               REML, equal to the ANOVA values up to lme4's optimiser tolerance.

suppressPackageStartupMessages(library(psych))
suppressPackageStartupMessages(library(jsonlite))

bfi_items <- bfi[, c(paste0("N", 1:5), paste0("A", 1:5))]
rownames(bfi_items) <- NULL
write.csv(bfi_items, "tests/reference/bfi_items.csv", row.names = FALSE, na = "NA")
gse <- read.csv("tests/reference/gse_wave0.csv")

alpha_case <- function(x, check_keys) {
  a <- suppressWarnings(alpha(x, check.keys = check_keys, warnings = FALSE))
  list(
    check_keys = check_keys,
    raw_alpha = a$total$raw_alpha,
    std_alpha = a$total$std.alpha,
    g6 = a$total[["G6(smc)"]],
    average_r = a$total$average_r,
    raw_r = a$item.stats$raw.r,
    std_r = a$item.stats$std.r,
    r_cor = a$item.stats$r.cor,
    r_drop = a$item.stats$r.drop,
    mean = a$item.stats$mean,
    sd = a$item.stats$sd,
    alpha_if_dropped = a$alpha.drop$raw_alpha
  )
}

item_case <- function(x, description) {
  x <- as.data.frame(x)
  p1 <- principal(x, scores = FALSE)
  s <- suppressWarnings(splitHalf(x))
  list(
    description = description,
    columns = colnames(x),
    flagged = as.list(colnames(x)[p1$loadings < 0]),
    alpha = alpha_case(x, FALSE),
    alpha_keyed = alpha_case(x, TRUE),
    split_half = list(max = s$maxrb, min = s$minrb, mean = s$meanr)
  )
}

icc_case <- function(x, description, lmer = FALSE) {
  x <- as.data.frame(x)
  n_rows <- nrow(x)
  if (!lmer) x <- na.omit(x)
  res <- suppressMessages(ICC(x, lmer = lmer))$results
  list(
    description = description,
    n_rows = n_rows,
    n_used = nrow(x),
    index = res$type,
    icc = res$ICC,
    F = res$F,
    df1 = res$df1,
    df2 = res$df2,
    p = res$p,
    ci_low = res[["lower bound"]],
    ci_high = res[["upper bound"]]
  )
}

sf <- matrix(c(9, 2, 5, 8,
               6, 1, 3, 2,
               8, 4, 6, 8,
               7, 1, 2, 6,
               10, 5, 6, 9,
               6, 2, 4, 7), ncol = 4, byrow = TRUE)
colnames(sf) <- paste0("J", 1:4)

out <- list(
  generated_by = "tests/reference/psych_items.R",
  r_version = R.version.string,
  psych_version = as.character(packageVersion("psych")),
  items = list(
    bfi_agree = item_case(bfi_items[, paste0("A", 1:5)], "psych bfi A1-A5"),
    bfi_neuro = item_case(bfi_items[, paste0("N", 1:5)], "psych bfi N1-N5"),
    bfi_n_a = item_case(bfi_items, "psych bfi N1-N5 and A1-A5"),
    bfi_odd = item_case(bfi_items[, c(paste0("N", 1:5), "A1", "A2")], "psych bfi N1-N5, A1, A2"),
    gse_wave0 = item_case(gse, "synthetic_trial GSE-10 items at wave 0")
  ),
  icc = list(
    sf = icc_case(sf, "Shrout & Fleiss (1979) example, 6 subjects x 4 judges"),
    gse_raters = icc_case(gse[, 1:4], "GSE items 1-4 at wave 0 as 4 raters, complete cases"),
    sf_lmer = icc_case(sf, "psych's default ICC(sf), lmer = TRUE", lmer = TRUE)
  ),
  sf = unname(sf)
)
writeLines(
  toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
  "tests/reference/psych_items.json"
)
