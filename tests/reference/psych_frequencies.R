# Reference values for analysis.scales.response_frequencies and
# reliability()$response_freq: psych::alpha()$response.freq, computed with R's psych.
#
# Run from the repository root:
#     Rscript tests/reference/psych_frequencies.R
# Reads tests/reference/bfi_items.csv (psych's bfi N1-N5 and A1-A5, written by
# psych_items.R) and tests/reference/gse_wave0.csv (the synthetic trial's GSE
# items at wave 0) and writes tests/reference/psych_frequencies.json at full
# precision. Cases built here store their data; the Python tests never call R.
#
# Cases (psych::alpha(x, warnings = FALSE), check.keys as named; psych computes
# the frequencies before any reversal, on every row):
#   bfi_n_a          N1-N5 and A1-A5 (missing responses), check.keys FALSE
#   bfi_n_a_keyed    the same with check.keys = TRUE (A1 reversed)
#   gse_wave0        the simulated GSE-10 items at wave 0 (missing responses)
#   wide_item        4 items 1-5 and an age column 18-80 (range above max = 10:
#                    left out of the table), row 7 entirely missing (seed 20240615)
#   half_points      3 items with responses 1, 1.5, 2 and a row with no responses
#   eleven_values    3 items 0-10, no missing: 11 values, psych's table is NULL
#   ten_values_na    3 items 1-10 with one missing response: NA counts as an
#                    11th value, psych's table is NULL

suppressPackageStartupMessages(library(psych))
suppressPackageStartupMessages(library(jsonlite))

bfi_items <- read.csv("tests/reference/bfi_items.csv")
gse <- read.csv("tests/reference/gse_wave0.csv")

set.seed(20240615)
wide <- data.frame(i1 = sample(1:5, 60, TRUE), i2 = sample(1:5, 60, TRUE),
                   i3 = sample(1:5, 60, TRUE), age = sample(18:80, 60, TRUE),
                   i4 = sample(1:5, 60, TRUE))
wide$i2[c(3, 11)] <- NA
wide[7, ] <- NA
half <- data.frame(h1 = sample(c(1, 1.5, 2), 30, TRUE), h2 = sample(c(1, 1.5, 2), 30, TRUE),
                   h3 = sample(c(1, 1.5, 2), 30, TRUE))
half[5, ] <- NA
half$h3[9] <- NA
eleven <- data.frame(e1 = sample(0:10, 80, TRUE), e2 = sample(0:10, 80, TRUE),
                     e3 = sample(0:10, 80, TRUE))
ten <- data.frame(t1 = sample(1:10, 80, TRUE), t2 = sample(1:10, 80, TRUE),
                  t3 = sample(1:10, 80, TRUE))
ten$t1[4] <- NA

frequency_case <- function(x, description, check_keys = FALSE, store_data = FALSE) {
  a <- suppressWarnings(suppressMessages(alpha(x, check.keys = check_keys, warnings = FALSE)))
  f <- a$response.freq
  out <- list(description = description, columns = colnames(x), check_keys = check_keys)
  if (store_data) out$data <- columns(x)
  if (is.null(f)) {
    out$response_freq <- NULL
    out$is_null <- TRUE
  } else {
    out$is_null <- FALSE
    out$response_freq <- list(index = rownames(f), columns = colnames(f), values = unname(f))
  }
  out
}

source("tests/reference/common.R")
out <- list(
  generated_by = "tests/reference/psych_frequencies.R",
  r_version = R.version.string,
  psych_version = as.character(packageVersion("psych")),
  cases = list(
    bfi_n_a = frequency_case(bfi_items, "psych bfi N1-N5 and A1-A5"),
    bfi_n_a_keyed = frequency_case(bfi_items, "psych bfi N1-N5 and A1-A5, check.keys = TRUE", TRUE),
    gse_wave0 = frequency_case(gse, "synthetic_trial GSE-10 items at wave 0"),
    wide_item = frequency_case(wide, "4 items 1-5 and age 18-80, row 7 empty", store_data = TRUE),
    half_points = frequency_case(half, "3 items answered 1, 1.5 or 2, row 5 empty", store_data = TRUE),
    eleven_values = frequency_case(eleven, "3 items 0-10 (11 values)", store_data = TRUE),
    ten_values_na = frequency_case(ten, "3 items 1-10 with one NA", store_data = TRUE)
  )
)
writeLines(
  toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE, matrix = "rowmajor"),
  "tests/reference/psych_frequencies.json"
)
