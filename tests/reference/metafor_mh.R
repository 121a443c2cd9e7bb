# Reference values for analysis.meta.rma_mh / rma_peto and escalc("SMCR"/"SMCC"), computed with metafor.
#
# Run from the repository root:
#     Rscript tests/reference/metafor_mh.R
# Writes tests/reference/metafor_mh.json at full precision (digits = NA), inputs included,
# so that the Python tests never need R. Deterministic (no random numbers).
#
# 2x2 data sets (cells ai, bi, ci, di)
#   bcg      data/dat_bcg.csv (tpos, tneg, cpos, cneg); k = 13, no zero cells
#   yusuf6   metadat's dat.yusuf1985, table "6" (bi = n1i - ai, di = n2i - ci); k = 22 with one
#            table of missing counts (Snow 1), three tables without events in either arm
#            (Pitt, Hutton, Yusuf) and one with a single zero cell (Gupta)
#   yusuf9   metadat's dat.yusuf1985, table "9"; 26 tables, 11 with a zero cell, 6 without events
#
# Fits, with metafor's defaults (add = 1/2, to = "only0", drop00 = TRUE for the study-level
# outcomes; no correction for the pooled estimate; correct = TRUE) unless the case says otherwise:
#   rma.mh(measure = "OR" / "RR" / "RD") and rma.peto() on every data set, and
#   yusuf6 OR with correct = FALSE, drop00 = FALSE and with add = 1, to = "all".
#   Per fit: beta, se, zval, pval, ci.lb, ci.ub, QE, QEp, I2, H2, k, k.yi, k.pos, the study-level
#   yi and vi used for QE; for OR also the Cochran-Mantel-Haenszel (MH, MHp), Cochran (CO, COp),
#   Breslow-Day (BD, BDp) and Tarone (TA, TAp) statistics.
#
# escalc cases: SMCR and SMCC on a small made-up pre-post set (m1i post-test means, m2i pre-test
# means, sd1i pre-test SDs, sd2i post-test SDs, ri pre-post correlations, ni sample sizes).

source("tests/reference/metafor_common.R")
suppressPackageStartupMessages(library(metadat))

bcg <- bundled("dat_bcg")
yusuf <- function(table) {
  d <- dat.yusuf1985[dat.yusuf1985$table == table, ]
  data.frame(trial = d$trial, ai = d$ai, bi = d$n1i - d$ai, ci = d$ci, di = d$n2i - d$ci)
}
tables <- list(
  bcg = data.frame(trial = bcg$author, ai = bcg$tpos, bi = bcg$tneg, ci = bcg$cpos, di = bcg$cneg),
  yusuf6 = yusuf("6"),
  yusuf9 = yusuf("9")
)

cases <- list()
for (name in names(tables)) {
  for (measure in c("OR", "RR", "RD", "PETO")) {
    cases[[paste(name, measure, sep = "_")]] <- list(data = name, measure = measure, options = list())
  }
}
cases$yusuf6_OR_uncorrected <- list(data = "yusuf6", measure = "OR", options = list(correct = FALSE, drop00 = FALSE))
cases$yusuf6_OR_all <- list(data = "yusuf6", measure = "OR", options = list(add = 1, to = "all"))
cases$yusuf6_PETO_all <- list(data = "yusuf6", measure = "PETO", options = list(add = 1, to = "all"))

num <- function(x) if (is.null(x)) NA else unname(c(x))

fit_case <- function(case) {
  d <- tables[[case$data]]
  args <- c(list(ai = d$ai, bi = d$bi, ci = d$ci, di = d$di), case$options)
  res <- suppressWarnings(if (case$measure == "PETO") do.call(rma.peto, args)
                          else do.call(rma.mh, c(args, measure = case$measure)))
  out <- list(data = case$data, measure = case$measure, options = case$options,
              beta = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
              ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub), QE = num(res$QE), QEp = num(res$QEp),
              I2 = num(res$I2), H2 = num(res$H2), k = res$k, k_yi = res$k.yi, k_pos = num(res$k.pos),
              yi = num(res$yi.f), vi = num(res$vi.f))
  if (case$measure == "OR") {
    out <- c(out, list(MH = num(res$MH), MHp = num(res$MHp), CO = num(res$CO), COp = num(res$COp),
                       BD = num(res$BD), BDp = num(res$BDp), TA = num(res$TA), TAp = num(res$TAp)))
  }
  out$printed <- paste(capture.output(print(res)), collapse = "\n")
  out
}

prepost <- data.frame(m1i = c(38.5, 26.8, 0.7, 75.9, 36.0, 12.0), m2i = c(30.6, 23.5, 0.5, 53.4, 35.6, 12.4),
                      sd1i = c(15.0, 3.1, 0.1, 14.5, 4.7, 2.2), sd2i = c(11.6, 4.1, 0.1, 4.4, 4.6, 2.5),
                      ni = c(20, 50, 9, 10, 14, 4), ri = c(0.47, 0.64, 0.77, 0.89, 0.44, -0.2))
smc <- list()
for (measure in c("SMCR", "SMCC")) {
  es <- if (measure == "SMCR") escalc(measure, m1i = m1i, m2i = m2i, sd1i = sd1i, ni = ni, ri = ri, data = prepost)
        else escalc(measure, m1i = m1i, m2i = m2i, sd1i = sd1i, sd2i = sd2i, ni = ni, ri = ri, data = prepost)
  smc[[measure]] <- list(yi = num(es$yi), vi = num(es$vi))
}

out <- list(metafor = as.character(packageVersion("metafor")), metadat = as.character(packageVersion("metadat")),
            tables = lapply(tables, as.list), fits = lapply(cases, fit_case),
            prepost = as.list(prepost), smc = smc)
write_reference(out, "metafor_mh.json")
