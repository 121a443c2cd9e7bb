# Reference values for analysis.meta's small-study and robustness tools, computed with metafor.
#
# Run from the repository root:
#     Rscript tests/reference/metafor_bias.R
# Writes tests/reference/metafor_bias.json at full precision (digits = NA), inputs included,
# so that the Python tests never need R. Deterministic: the permutation tests are exact.
#
# Data sets (outcomes yi, sampling variances vi, sample sizes ni as escalc keeps them)
#   bcg      data/dat_bcg.csv, escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg); k = 13,
#            ni = tpos + tneg + cpos + cneg
#   molloy   data/dat_molloy2014.csv, escalc("ZCOR", ri=ri, ni=ni); k = 16
#   symptom  data/se_symptom_meta.csv, escalc("ZCOR", ri=ri, ni=ni); k = 46 (ties in vi)
#
# Cases
#   selmodel  REML fits refitted by selmodel() (metafor refits with ML): step functions with
#             one and two steps, beta, half-normal and logistic selection; a model with a
#             moderator; the beta models again with the integral computed precisely (tight);
#             errors (an empty interval of the step function, k too small).
#   ranktest  ranktest(fit) (exact p-value where there are no ties).
#   fsn       fsn(yi, vi, type = "Rosenthal" | "Orwin" | "Rosenberg"), Orwin with a target.
#   cumul     cumul(fit) in the data order and ordered by a column; REML, DL, FE, knha.
#   regtest   regtest(fit, model = "rma" | "lm", predictor = each of the six).
#   permutest permutest(fit) on subsets small enough that the test is exact.
#   petpeese  lm(yi ~ sqrt(vi), weights = 1/vi) and lm(yi ~ vi, weights = 1/vi) by hand.

source("tests/reference/metafor_common.R")

bcg <- bcg_rr()
molloy <- molloy_zcor()
symptom <- bundled("se_symptom_meta")
symptom <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = symptom)

frames <- list(bcg = bcg, molloy = molloy, symptom = symptom)
datasets <- lapply(frames, function(d) {
  out <- list(yi = c(d$yi), vi = c(d$vi), ni = attr(d$yi, "ni"), year = d$year)
  if (!is.null(d$ablat)) out$ablat <- d$ablat
  out
})

fit_of <- function(data, mods = NULL, method = "REML", test = "z", rows = NULL) {
  d <- frames[[data]]
  if (!is.null(rows)) d <- d[rows, ]
  mods <- as.formula(if (is.null(mods)) "~ 1" else mods)
  rma(yi, vi, mods = mods, data = d, method = method, test = test)
}

attempt <- function(expr) {
  out <- tryCatch(suppressWarnings(expr), error = function(e) list(error = conditionMessage(e)))
  out
}

# ---------------------------------------------------------------- selmodel
sel_cases <- list(
  bcg_step1 = list(data = "bcg", type = "stepfun", steps = 0.025, alternative = "less"),
  bcg_step2 = list(data = "bcg", type = "stepfun", steps = c(0.025, 0.5), alternative = "less"),
  bcg_beta = list(data = "bcg", type = "beta", alternative = "greater"),
  bcg_halfnorm = list(data = "bcg", type = "halfnorm", alternative = "less"),
  bcg_ablat_step1 = list(data = "bcg", mods = "~ ablat", type = "stepfun", steps = 0.05, alternative = "less"),
  molloy_step1 = list(data = "molloy", type = "stepfun", steps = 0.025, alternative = "greater"),
  molloy_step2 = list(data = "molloy", type = "stepfun", steps = c(0.025, 0.1), alternative = "greater"),
  molloy_beta = list(data = "molloy", type = "beta", alternative = "greater"),
  symptom_logistic = list(data = "symptom", type = "logistic", alternative = "less"),
  symptom_step2 = list(data = "symptom", type = "stepfun", steps = c(0.025, 0.1), alternative = "less"),
  symptom_beta = list(data = "symptom", type = "beta", alternative = "less"),
  bcg_beta_tight = list(data = "bcg", type = "beta", alternative = "greater", tight = TRUE),
  molloy_beta_tight = list(data = "molloy", type = "beta", alternative = "greater", tight = TRUE),
  symptom_beta_tight = list(data = "symptom", type = "beta", alternative = "less", tight = TRUE),
  molloy_empty_interval = list(data = "molloy", type = "stepfun", steps = c(0.025, 0.0251),
                               alternative = "greater"),
  bcg_too_few = list(data = "bcg", rows = 1:3, type = "stepfun", steps = c(0.025, 0.5), alternative = "less")
)
# tight = TRUE: the integral of the continuous selection functions computed to rel.tol 1e-10 (metafor's
# default, rel.tol = eps^0.25, leaves errors of about 1e-4 in the log-likelihood, which move the estimates
# by as much and the numerical Hessian, hence the standard errors, by far more).
tight <- list(intCtrl = list(rel.tol = 1e-10, abs.tol = 1e-12, subdivisions = 1000L))
selmodels <- lapply(sel_cases, function(case) {
  res <- fit_of(case$data, case$mods, rows = case$rows)
  control <- if (isTRUE(case$tight)) tight else list()
  sel <- attempt(if (is.null(case$steps)) selmodel(res, type = case$type, alternative = case$alternative, control = control)
                 else selmodel(res, type = case$type, steps = case$steps, alternative = case$alternative,
                               control = control))
  out <- c(case, list(rows = case$rows))
  if (!is.null(sel$error)) return(c(out, list(error = sel$error)))
  c(out, list(beta = c(sel$beta), se = sel$se, zval = sel$zval, pval = sel$pval, ci_lb = sel$ci.lb,
              ci_ub = sel$ci.ub, tau2 = sel$tau2, se_tau2 = sel$se.tau2, delta = sel$delta,
              se_delta = sel$se.delta, LRT = sel$LRT, LRTdf = sel$LRTdf, LRTp = sel$LRTp, ll = sel$ll,
              ll0 = sel$ll0, QM = sel$QM, QMp = sel$QMp, ptable = if (is.data.frame(sel$ptable)) sel$ptable$k else NULL))
})

# ---------------------------------------------------------------- ranktest
ranktests <- lapply(names(frames), function(name) {
  rt <- ranktest(fit_of(name))
  list(data = name, tau = unname(rt$tau), pval = rt$pval)
})
names(ranktests) <- names(frames)

# ---------------------------------------------------------------- fsn
fsn_cases <- list(
  bcg_Rosenthal = list(data = "bcg", type = "Rosenthal"),
  bcg_Orwin = list(data = "bcg", type = "Orwin"),
  bcg_Orwin_target = list(data = "bcg", type = "Orwin", target = -0.2),
  bcg_Rosenberg = list(data = "bcg", type = "Rosenberg"),
  molloy_Rosenthal = list(data = "molloy", type = "Rosenthal"),
  molloy_Orwin = list(data = "molloy", type = "Orwin"),
  molloy_Orwin_target = list(data = "molloy", type = "Orwin", target = 0.05),
  molloy_Rosenberg = list(data = "molloy", type = "Rosenberg"),
  symptom_Rosenthal = list(data = "symptom", type = "Rosenthal")
)
fsns <- lapply(fsn_cases, function(case) {
  d <- frames[[case$data]]
  f <- if (is.null(case$target)) fsn(yi, vi, data = d, type = case$type)
       else fsn(yi, vi, data = d, type = case$type, target = case$target)
  c(case, list(fsnum = f$fsnum, alpha = f$alpha, pval = f$pval, meanes = f$meanes, target_out = f$target))
})

# ---------------------------------------------------------------- cumul
cumul_cases <- list(
  bcg_REML = list(data = "bcg", method = "REML", test = "z"),
  bcg_REML_year = list(data = "bcg", method = "REML", test = "z", order = "year"),
  bcg_FE = list(data = "bcg", method = "FE", test = "z"),
  bcg_knha = list(data = "bcg", method = "REML", test = "knha"),
  molloy_DL = list(data = "molloy", method = "DL", test = "z"),
  molloy_REML_year = list(data = "molloy", method = "REML", test = "z", order = "year")
)
cumuls <- lapply(cumul_cases, function(case) {
  res <- fit_of(case$data, method = case$method, test = case$test)
  cu <- suppressWarnings(if (is.null(case$order)) cumul(res) else cumul(res, order = frames[[case$data]][[case$order]]))
  table <- unclass(cu)[intersect(names(cu), c("estimate", "se", "zval", "tval", "pvals", "ci.lb", "ci.ub",
                                               "Q", "Qp", "tau2", "I2", "H2"))]
  c(case, list(slab = as.character(cu$slab)), lapply(table, unname))
})

# ---------------------------------------------------------------- regtest
reg_cases <- list()
for (name in c("bcg", "molloy")) {
  for (model in c("rma", "lm")) {
    for (predictor in c("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")) {
      reg_cases[[paste(name, model, predictor, sep = "|")]] <- list(data = name, model = model, predictor = predictor)
    }
  }
}
reg_cases[["bcg|rma|sei|knha"]] <- list(data = "bcg", model = "rma", predictor = "sei", test = "knha")
reg_cases[["bcg~ablat|rma|sei"]] <- list(data = "bcg", mods = "~ ablat", model = "rma", predictor = "sei")
reg_cases[["bcg~ablat|lm|ni"]] <- list(data = "bcg", mods = "~ ablat", model = "lm", predictor = "ni")
regtests <- lapply(reg_cases, function(case) {
  res <- fit_of(case$data, case$mods, test = if (is.null(case$test)) "z" else case$test)
  rt <- regtest(res, model = case$model, predictor = case$predictor)
  c(case, list(zval = rt$zval, pval = rt$pval, ddf = rt$ddf, est = rt$est, ci_lb = rt$ci.lb, ci_ub = rt$ci.ub))
})

# ---------------------------------------------------------------- permutest (exact)
perm_cases <- list(
  bcg6_REML = list(data = "bcg", rows = 1:6, method = "REML", test = "z"),
  bcg7_knha = list(data = "bcg", rows = 1:7, method = "REML", test = "knha"),
  molloy6_DL = list(data = "molloy", rows = 1:6, method = "DL", test = "z"),
  bcg6_ablat = list(data = "bcg", rows = 1:6, mods = "~ ablat", method = "REML", test = "z"),
  bcg6_year_t = list(data = "bcg", rows = 1:6, mods = "~ year", method = "DL", test = "t")
)
permutests <- lapply(perm_cases, function(case) {
  res <- fit_of(case$data, case$mods, method = case$method, test = case$test, rows = case$rows)
  pt <- permutest(res, progbar = FALSE)
  c(case, list(pval = pt$pval, QMp = pt$QMp, exact_iter = pt$exact.iter, QM = pt$QM))
})

# ---------------------------------------------------------------- PET and PEESE by hand
petpeese <- lapply(names(frames), function(name) {
  d <- frames[[name]]
  pet <- summary(lm(yi ~ sqrt(vi), weights = 1 / vi, data = d))$coefficients
  peese <- summary(lm(yi ~ vi, weights = 1 / vi, data = d))$coefficients
  list(data = name, pet = lapply(as.data.frame(pet), unname), peese = lapply(as.data.frame(peese), unname),
       dof = nrow(d) - 2)
})
names(petpeese) <- names(frames)

out <- list(
  metafor = as.character(packageVersion("metafor")),
  R = R.version.string,
  datasets = datasets,
  selmodel = selmodels,
  ranktest = ranktests,
  fsn = fsns,
  cumul = cumuls,
  regtest = regtests,
  permutest = permutests,
  petpeese = petpeese
)
write_reference(out, "metafor_bias.json")
cat(sprintf("wrote %s (metafor %s)\n", file.path(here, "metafor_bias.json"), packageVersion("metafor")))
