# Reference values for analysis.meta, computed with metafor.
#
# Run from the repository root:
#     Rscript tests/reference/metafor_meta.R
# Writes tests/reference/metafor_meta.json at full precision (digits = NA), inputs included,
# so that the Python tests never need R. Deterministic (no random numbers).
#
# Data sets (outcomes yi, sampling variances vi, moderators)
#   bcg          data/dat_bcg.csv, escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg); k = 13
#   molloy       data/dat_molloy2014.csv, escalc("ZCOR", ri=ri, ni=ni); k = 16
#   small5       five made-up studies (k = 5)
#   homogeneous  six made-up studies with less spread than their sampling error (tau2 -> 0)
#   extreme      eight made-up studies with sampling variances from 1e-4 to 25
#
# Models: each data set without moderators; bcg ~ ablat; bcg ~ ablat + year;
# bcg ~ alloc + ablat (a factor); molloy ~ meanage + quality. Every model is fitted with
# every method (FE, EE, DL, HE, HS, SJ, ML, REML, EB, PM) and test (z, t, knha, adhoc),
# default level 95 and metafor's default control settings. Per fit:
#   coefficients (beta, se, zval, pval, ci.lb, ci.ub), tau2, se.tau2, I2, H2, QE, QEp, QM,
#   QMp, R2; confint() Q-profile limits of tau2, I2, H2 (random/mixed models);
#   predict(): the pooled effect (no moderators) or predictions at `newmods`;
#   regtest(res) (model = "rma", predictor = "sei"): zval, pval, ddf, limit estimate and CI;
#   trimfill(res) (estimator L0; also R0 and Q0 for the bcg REML and FE z fits): k0, se.k0,
#   side, and the refitted model's beta, se, ci, tau2, QE;
#   leave1out(res): every column.
# Fits that metafor refuses are stored with their error message.
#
# escalc cases: RR, OR, RD on bcg and on made-up 2x2 tables with zero cells (to = "only0",
# "all", "if0all", "none"; drop00 = TRUE); SMD and MD on dat.normand1999 (metadat);
# SMCC on made-up pre-post data; COR and ZCOR on molloy.

source("tests/reference/metafor_common.R")

bcg <- bcg_rr()
molloy <- molloy_zcor()

datasets <- list(
  bcg = data.frame(yi = c(bcg$yi), vi = c(bcg$vi), ablat = bcg$ablat, year = bcg$year, alloc = bcg$alloc),
  molloy = data.frame(yi = c(molloy$yi), vi = c(molloy$vi), meanage = molloy$meanage, quality = molloy$quality),
  small5 = data.frame(yi = c(0.10, 0.30, 0.35, 0.65, 0.45), vi = c(0.030, 0.020, 0.050, 0.010, 0.040)),
  homogeneous = data.frame(yi = c(0.20, 0.22, 0.19, 0.21, 0.23, 0.18),
                           vi = c(0.010, 0.020, 0.015, 0.030, 0.012, 0.025)),
  extreme = data.frame(yi = c(0.05, 0.80, -0.30, 1.90, 0.40, -2.50, 0.25, 0.60),
                       vi = c(1e-4, 0.002, 0.05, 0.5, 0.0008, 25, 0.01, 3))
)

models <- list(
  bcg = list(data = "bcg", mods = NULL),
  molloy = list(data = "molloy", mods = NULL),
  small5 = list(data = "small5", mods = NULL),
  homogeneous = list(data = "homogeneous", mods = NULL),
  extreme = list(data = "extreme", mods = NULL),
  bcg_ablat = list(data = "bcg", mods = "~ ablat", newmods = cbind(c(10, 30, 50))),
  bcg_ablat_year = list(data = "bcg", mods = "~ ablat + year", newmods = cbind(c(10, 30, 50), c(1950, 1970, 1970))),
  bcg_alloc_ablat = list(data = "bcg", mods = "~ alloc + ablat",
                         newmods = rbind(c(0, 0, 20), c(1, 0, 40), c(0, 1, 40))),
  molloy_two = list(data = "molloy", mods = "~ meanage + quality", newmods = rbind(c(40, 1), c(60, 3)))
)

methods <- c("FE", "EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
tests <- c("z", "t", "knha", "adhoc")

coefs <- function(res) {
  list(beta = unname(c(res$beta)), se = unname(res$se), zval = unname(res$zval), pval = unname(res$pval),
       ci_lb = unname(res$ci.lb), ci_ub = unname(res$ci.ub))
}

fit_one <- function(model, method, test) {
  dat <- datasets[[model$data]]
  mods <- as.formula(if (is.null(model$mods)) "~ 1" else model$mods)  # ~ 1: intercept only
  res <- tryCatch(suppressWarnings(rma(yi, vi, mods = mods, data = dat, method = method, test = test)),
                  error = function(e) e)
  if (inherits(res, "error")) return(list(error = conditionMessage(res)))
  out <- c(coefs(res), list(
    terms = rownames(res$beta), tau2 = res$tau2, se_tau2 = res$se.tau2, I2 = res$I2, H2 = res$H2,
    QE = res$QE, QEp = res$QEp, QM = res$QM, QMp = res$QMp, R2 = res$R2, k = res$k, p = res$p))
  if (!is.element(method, c("FE", "EE"))) {
    ci <- suppressWarnings(confint(res))$random
    out$tau2_ci <- unname(ci["tau^2", c("ci.lb", "ci.ub")])
    out$I2_ci <- unname(ci["I^2(%)", c("ci.lb", "ci.ub")])
    out$H2_ci <- unname(ci["H^2", c("ci.lb", "ci.ub")])
  }
  pred <- if (is.null(model$mods)) predict(res) else predict(res, newmods = model$newmods)
  out$predict <- list(pred = unname(pred$pred), se = unname(pred$se), ci_lb = unname(pred$ci.lb),
                      ci_ub = unname(pred$ci.ub))
  if (!is.null(pred$pi.lb)) {
    out$predict$pi_lb <- unname(pred$pi.lb)
    out$predict$pi_ub <- unname(pred$pi.ub)
  }
  eg <- tryCatch(suppressWarnings(regtest(res)), error = function(e) e)
  out$egger <- if (inherits(eg, "error")) list(error = conditionMessage(eg)) else
    list(zval = eg$zval, pval = eg$pval, ddf = eg$ddf, est = eg$est, ci_lb = eg$ci.lb, ci_ub = eg$ci.ub)
  if (is.null(model$mods)) {
    estimators <- if (model$data == "bcg" && method %in% c("REML", "FE") && test == "z") c("L0", "R0", "Q0") else "L0"
    out$trimfill <- lapply(setNames(estimators, estimators), function(est) {
      tf <- tryCatch(suppressWarnings(trimfill(res, estimator = est)), error = function(e) e)
      if (inherits(tf, "error")) return(list(error = conditionMessage(tf)))
      list(k0 = tf$k0, se_k0 = tf$se.k0, side = tf$side, p_k0 = tf$p.k0, beta = c(tf$beta), se = tf$se,
           ci_lb = tf$ci.lb, ci_ub = tf$ci.ub, tau2 = tf$tau2, QE = tf$QE, k = tf$k)
    })
    l1o <- suppressWarnings(leave1out(res))
    out$leave1out <- lapply(unclass(l1o)[setdiff(names(l1o), c("slab", "digits", "transf"))], unname)
  }
  out
}

fits <- list()
for (name in names(models)) {
  for (method in methods) {
    for (test in tests) {
      fits[[paste(name, method, test, sep = "|")]] <- c(list(model = name, method = method, test = test),
                                                        fit_one(models[[name]], method, test))
    }
  }
}

# ---------------------------------------------------------------- escalc
zero_tables <- data.frame(ai = c(0, 3, 10, 0, 5), bi = c(20, 17, 30, 25, 0),
                          ci = c(2, 0, 12, 0, 6), di = c(18, 25, 28, 25, 0))
normand <- metadat::dat.normand1999
prepost <- data.frame(m1i = c(24.1, 30.2, 18.5, 21.0), m2i = c(19.8, 27.1, 17.9, 15.2),
                      sd1i = c(5.2, 6.8, 4.1, 5.5), sd2i = c(6.0, 7.1, 4.4, 6.3),
                      ri = c(0.62, 0.45, 0.71, 0.30), ni = c(25, 48, 15, 60))

es <- function(measure, args, data, ...) {
  out <- do.call(escalc, c(list(measure = measure, data = data), args, list(...)))
  list(yi = c(out$yi), vi = c(out$vi))
}
two_by_two <- list(ai = quote(ai), bi = quote(bi), ci = quote(ci), di = quote(di))
bcg_cells <- list(ai = quote(tpos), bi = quote(tneg), ci = quote(cpos), di = quote(cneg))
groups <- list(m1i = quote(m1i), sd1i = quote(sd1i), n1i = quote(n1i), m2i = quote(m2i), sd2i = quote(sd2i),
               n2i = quote(n2i))
raw_bcg <- bundled("dat_bcg")

escalc_cases <- list(
  RR_bcg = c(list(measure = "RR", data = "bcg"), es("RR", bcg_cells, raw_bcg)),
  OR_bcg = c(list(measure = "OR", data = "bcg"), es("OR", bcg_cells, raw_bcg)),
  RD_bcg = c(list(measure = "RD", data = "bcg"), es("RD", bcg_cells, raw_bcg)),
  COR_molloy = c(list(measure = "COR", data = "molloy"), es("COR", list(ri = quote(ri), ni = quote(ni)), molloy)),
  ZCOR_molloy = c(list(measure = "ZCOR", data = "molloy"), es("ZCOR", list(ri = quote(ri), ni = quote(ni)), molloy)),
  SMD_normand = c(list(measure = "SMD", data = "normand"), es("SMD", groups, normand)),
  MD_normand = c(list(measure = "MD", data = "normand"), es("MD", groups, normand)),
  SMCC_prepost = c(list(measure = "SMCC", data = "prepost"),
                   es("SMCC", list(m1i = quote(m1i), m2i = quote(m2i), sd1i = quote(sd1i), sd2i = quote(sd2i),
                                   ri = quote(ri), ni = quote(ni)), prepost))
)
for (measure in c("RR", "OR", "RD")) {
  for (to in c("only0", "all", "if0all", "none")) {
    escalc_cases[[paste(measure, "zeros", to, sep = "_")]] <-
      c(list(measure = measure, data = "zeros", to = to, drop00 = FALSE),
        suppressWarnings(es(measure, two_by_two, zero_tables, to = to)))
  }
  escalc_cases[[paste(measure, "zeros", "drop00", sep = "_")]] <-
    c(list(measure = measure, data = "zeros", to = "only0", drop00 = TRUE),
      suppressWarnings(es(measure, two_by_two, zero_tables, drop00 = TRUE)))
}

out <- list(
  metafor = as.character(packageVersion("metafor")),
  R = R.version.string,
  datasets = datasets,
  models = lapply(models, function(m) list(data = m$data, mods = m$mods, newmods = m$newmods)),
  fits = fits,
  escalc_inputs = list(
    bcg = as.list(raw_bcg[c("tpos", "tneg", "cpos", "cneg")]),
    molloy = as.list(molloy[c("ri", "ni")]),
    normand = as.list(normand[c("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")]),
    prepost = as.list(prepost),
    zeros = as.list(zero_tables)
  ),
  escalc = escalc_cases
)
write_reference(out, "metafor_meta.json")
cat(sprintf("wrote %s: %d fits, %d escalc cases (metafor %s)\n", file.path(here, "metafor_meta.json"),
            length(fits), length(escalc_cases), packageVersion("metafor")))
