# Reference values for analysis.meta.rma_mv, robust() and influence(), computed with metafor and clubSandwich.
#
# Run from the repository root:
#     Rscript tests/reference/metafor_mv.R
# Writes tests/reference/metafor_mv.json at full precision (digits = NA) and the data it uses:
# data/dat_assink2016.csv (by scripts/export_metafor.R), tests/reference/dat_konstantopoulos2011.csv and
# tests/reference/dat_berkey1998.csv. Deterministic (no random numbers). metafor 3.8-1, clubSandwich 0.5.8.
#
# rma.mv fits (default control, dfs = "residual"):
#   assink_reml      dat.assink2016, random = ~ 1 | study/esid, REML
#   assink_ml        the same, ML
#   assink_deltype   mods = ~ deltype (treatment coded, "covert" the reference), REML
#   assink_vcalc     V = vcalc(vi, cluster = study, obs = esid, rho = 0.6), mods = ~ year, REML
#   konst_reml       dat.konstantopoulos2011, random = ~ 1 | district/school, REML
#   konst_t          the same with mods = ~ year, ML, test = "t"
#   assink_crossed   random = list(~ 1 | study, ~ 1 | deltype) (deltype crossed with study), REML
#   berkey_v         dat.berkey1998, V = bldiag of the trials' 2 x 2 covariance (v1i, v2i),
#                    mods = ~ outcome - 1, random = ~ 1 | trial, REML
# Per fit: coefficients, vb, sigma2, QE, QEp, QM, QMp, QMdf, fitstats (ML and REML columns), predict()
# (pooled, or at newmods), and I2 per level as metafor's FAQ computes it (W = solve(V)).
#
# robust(): CR1 (metafor's default, adjust = TRUE) and clubSandwich = TRUE (CR2, Satterthwaite coef_test,
# HTZ Wald_test) on assink_reml, assink_deltype, konst_reml (cluster = district) and on two rma.uni fits:
# rma(yi, vi, mods = ~ year, data = dat.assink2016) clustered by study and rma(bcg ~ ablat) with every
# trial its own cluster. Also the error clubSandwich gives when the random effects are not nested in the
# clusters (assink_reml clustered by effect), and metafor's CR1 for that clustering (which it allows).
#
# The steps of Assink & Wibbelink's (2016) tutorial on its data (dat.assink2016; random = list(~ 1 | id,
# ~ 1 | study), test = "t", REML): the overall model, each level's component fixed at 0 (sigma2 = c(0, NA),
# c(NA, 0)) with anova() likelihood-ratio tests, and the moderators deltype, year and deltype + year.
#
# influence.rma.uni, rstudent, cooks.distance on dat.bcg (escalc RR) REML, dat.bcg ~ ablat REML with
# test = "knha", and dat.molloy2014 (ZCOR) FE.

source("tests/reference/metafor_common.R")
suppressPackageStartupMessages(library(clubSandwich))

assink <- bundled("dat_assink2016")
konst <- as.data.frame(dat.konstantopoulos2011)
konst <- data.frame(district = konst$district, school = konst$school, study = konst$study, year = konst$year,
                    yi = c(konst$yi), vi = c(konst$vi))
berkey <- as.data.frame(dat.berkey1998)
berkey <- data.frame(trial = berkey$trial, author = berkey$author, year = berkey$year, ni = berkey$ni,
                     outcome = berkey$outcome, yi = c(berkey$yi), vi = c(berkey$vi), v1i = berkey$v1i,
                     v2i = berkey$v2i)
write.csv(konst, file.path(here, "dat_konstantopoulos2011.csv"), row.names = FALSE)
write.csv(berkey, file.path(here, "dat_berkey1998.csv"), row.names = FALSE)
berkey_V <- bldiag(lapply(split(berkey[c("v1i", "v2i")], berkey$trial), as.matrix))
assink_V <- vcalc(vi, cluster = study, obs = esid, rho = 0.6, data = assink)

i2_levels <- function(res) {
  W <- solve(res$V)
  X <- model.matrix(res)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  typical <- (res$k - res$p) / sum(diag(P))
  100 * c(res$sigma2, sum(res$sigma2)) / (sum(res$sigma2) + typical)
}

summarise_mv <- function(res, newmods = NULL) {
  pred <- if (is.null(newmods)) predict(res) else predict(res, newmods = newmods)
  list(k = res$k, p = res$p, method = res$method, test = res$test,
       beta = unname(c(res$beta)), se = unname(res$se), zval = unname(res$zval), pval = unname(res$pval),
       ci_lb = unname(res$ci.lb), ci_ub = unname(res$ci.ub), vb = unname(res$vb),
       sigma2 = unname(res$sigma2), s_names = unname(res$s.names), s_nlevels = unname(res$s.nlevels),
       QE = res$QE, QEp = res$QEp, QM = res$QM, QMp = res$QMp, QMdf = unname(res$QMdf), parms = res$parms,
       fit_stats = list(ML = unname(res$fit.stats[, "ML"]), REML = unname(res$fit.stats[, "REML"])),
       predict = list(pred = unname(c(pred$pred)), se = unname(c(pred$se)), ci_lb = unname(c(pred$ci.lb)),
                      ci_ub = unname(c(pred$ci.ub)), pi_lb = unname(c(pred$pi.lb)), pi_ub = unname(c(pred$pi.ub))),
       newmods = newmods, I2_levels = i2_levels(res))
}

fits <- list(
  assink_reml = rma.mv(yi, vi, random = ~ 1 | study/esid, data = assink),
  assink_ml = rma.mv(yi, vi, random = ~ 1 | study/esid, data = assink, method = "ML"),
  assink_deltype = rma.mv(yi, vi, mods = ~ deltype, random = ~ 1 | study/esid, data = assink),
  assink_vcalc = rma.mv(yi, assink_V, mods = ~ year, random = ~ 1 | study/esid, data = assink),
  konst_reml = rma.mv(yi, vi, random = ~ 1 | district/school, data = konst),
  konst_t = rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school, data = konst, method = "ML",
                   test = "t"),
  assink_crossed = rma.mv(yi, vi, random = list(~ 1 | study, ~ 1 | deltype), data = assink),
  berkey_v = rma.mv(yi, berkey_V, mods = ~ outcome - 1, random = ~ 1 | trial, data = berkey)
)
specs <- list(
  assink_reml = list(data = "assink", V = "vi", random = "~ 1 | study/esid", mods = NULL, method = "REML", test = "z"),
  assink_ml = list(data = "assink", V = "vi", random = "~ 1 | study/esid", mods = NULL, method = "ML", test = "z"),
  assink_deltype = list(data = "assink", V = "vi", random = "~ 1 | study/esid", mods = "~ deltype",
                        method = "REML", test = "z"),
  assink_vcalc = list(data = "assink", V = "vcalc", random = "~ 1 | study/esid", mods = "~ year",
                      method = "REML", test = "z"),
  konst_reml = list(data = "konst", V = "vi", random = "~ 1 | district/school", mods = NULL, method = "REML",
                    test = "z"),
  konst_t = list(data = "konst", V = "vi", random = "~ 1 | district/school", mods = "~ year", method = "ML",
                 test = "t"),
  assink_crossed = list(data = "assink", V = "vi", random = c("~ 1 | study", "~ 1 | deltype"), mods = NULL,
                        method = "REML", test = "z"),
  berkey_v = list(data = "berkey", V = "berkey", random = "~ 1 | trial", mods = "~ 0 + outcome", method = "REML",
                  test = "z")
)
newmods <- list(assink_deltype = rbind(c(0, 0), c(1, 0), c(0, 1)), assink_vcalc = cbind(c(-5, 0, 5)),
                konst_t = cbind(c(1980, 2000)), berkey_v = rbind(c(1, 0), c(0, 1)))
mv <- lapply(names(fits), function(key) c(summarise_mv(fits[[key]], newmods[[key]]), specs[[key]]))
names(mv) <- names(fits)

# ------------------------------------------------------------------ robust
summarise_robust <- function(res, cluster, clubSandwich) {
  rob <- robust(res, cluster = cluster, clubSandwich = clubSandwich)
  out <- list(beta = unname(c(rob$beta)), se = unname(rob$se), tval = unname(rob$zval), df = unname(rob$dfs),
              pval = unname(rob$pval), ci_lb = unname(rob$ci.lb), ci_ub = unname(rob$ci.ub),
              vb = matrix(as.numeric(rob$vb), nrow(rob$vb)),
              QM = rob$QM, QMdf = unname(rob$QMdf), QMp = rob$QMp, n = rob$n)
  if (clubSandwich) {
    vcr <- vcovCR(res, cluster = cluster, type = "CR2")
    ct <- coef_test(res, vcov = vcr, cluster = cluster, test = "Satterthwaite")
    out$coef_test <- list(SE = unname(ct$SE), tstat = unname(ct$tstat), df = unname(ct$df_Satt),
                          p = unname(ct$p_Satt))
    if (!res$int.only) {
      wt <- Wald_test(res, constraints = constrain_zero(res$btt), vcov = vcr, cluster = cluster, test = "HTZ")
      out$wald_test <- list(Fstat = wt$Fstat, delta = wt$delta, df_num = wt$df_num, df_denom = wt$df_denom,
                            p_val = wt$p_val)
    }
  }
  out
}

uni_assink <- rma(yi, vi, mods = ~ year, data = assink)
bcg <- bcg_rr()
uni_bcg <- rma(yi, vi, mods = ~ ablat, data = bcg)
robust_cases <- list(
  assink_reml = list(fit = "assink_reml", cluster = "study", res = fits$assink_reml, cl = assink$study),
  assink_deltype = list(fit = "assink_deltype", cluster = "study", res = fits$assink_deltype, cl = assink$study),
  konst_reml = list(fit = "konst_reml", cluster = "district", res = fits$konst_reml, cl = konst$district),
  uni_assink = list(fit = "uni_assink", cluster = "study", res = uni_assink, cl = assink$study),
  uni_bcg = list(fit = "uni_bcg", cluster = "trial", res = uni_bcg, cl = bcg$trial)
)
robust_out <- lapply(robust_cases, function(case) {
  list(fit = case$fit, cluster = case$cluster, CR1 = summarise_robust(case$res, case$cl, FALSE),
       CR2 = summarise_robust(case$res, case$cl, TRUE))
})
not_nested <- tryCatch(robust(fits$assink_reml, cluster = assink$id, clubSandwich = TRUE),
                       error = function(e) conditionMessage(e))
not_nested_cs <- tryCatch(vcovCR(fits$assink_reml, cluster = assink$id, type = "CR2"),
                          error = function(e) conditionMessage(e))

# ------------------------------------------------------------------ influence
molloy <- molloy_zcor()
influence_fits <- list(
  bcg_reml = list(data = "bcg", mods = NULL, method = "REML", test = "z", res = rma(yi, vi, data = bcg)),
  bcg_ablat_knha = list(data = "bcg", mods = "~ ablat", method = "REML", test = "knha",
                        res = rma(yi, vi, mods = ~ ablat, data = bcg, test = "knha")),
  molloy_fe = list(data = "molloy", mods = NULL, method = "FE", test = "z", res = rma(yi, vi, data = molloy, method = "FE"))
)
influence_out <- lapply(influence_fits, function(case) {
  inf <- influence(case$res)
  rs <- rstudent(case$res)
  list(data = case$data, mods = case$mods, method = case$method, test = case$test,
       rstudent = inf$inf$rstudent, dffits = inf$inf$dffits, cook_d = inf$inf$cook.d, cov_r = inf$inf$cov.r,
       tau2_del = inf$inf$tau2.del, QE_del = inf$inf$QE.del, hat = inf$inf$hat, weight = inf$inf$weight,
       inf = inf$inf$inf == "*", dfbetas = lapply(unclass(dfbetas(case$res))[rownames(case$res$beta)], unname),
       rstudent_resid = rs$resid, rstudent_se = rs$se, rstudent_z = rs$z,
       cooks_distance = unname(cooks.distance(case$res)))
})

# ------------------------------------------------------------------ Assink & Wibbelink (2016)
tutorial_fit <- function(...) rma.mv(yi, vi, random = list(~ 1 | id, ~ 1 | study), data = assink, test = "t", ...)
tutorial_anova <- function(full, reduced) {
  a <- anova(full, reduced)
  list(df = c(a$parms.f, a$parms.r), logLik = c(a$fit.stats.f[["ll"]], a$fit.stats.r[["ll"]]),
       AIC = c(a$fit.stats.f[["AIC"]], a$fit.stats.r[["AIC"]]), BIC = c(a$fit.stats.f[["BIC"]], a$fit.stats.r[["BIC"]]),
       AICc = c(a$fit.stats.f[["AICc"]], a$fit.stats.r[["AICc"]]), LRT = a$LRT, pval = a$pval, QE = c(a$QE.f, a$QE.r))
}
tutorial <- list(overall = tutorial_fit(), novar2 = tutorial_fit(sigma2 = c(0, NA)),
                 novar3 = tutorial_fit(sigma2 = c(NA, 0)), deltype = tutorial_fit(mods = ~ deltype),
                 year = tutorial_fit(mods = ~ year), both = tutorial_fit(mods = ~ deltype + year))
tutorial_out <- c(lapply(tutorial, summarise_mv),
                  list(anova_level2 = tutorial_anova(tutorial$overall, tutorial$novar2),
                       anova_level3 = tutorial_anova(tutorial$overall, tutorial$novar3)))

out <- list(
  versions = list(metafor = as.character(packageVersion("metafor")),
                  clubSandwich = as.character(packageVersion("clubSandwich")), R = R.version.string),
  datasets = list(bcg = data.frame(trial = bcg$trial, yi = c(bcg$yi), vi = c(bcg$vi), ablat = bcg$ablat),
                  molloy = data.frame(yi = c(molloy$yi), vi = c(molloy$vi))),
  vcalc = list(rows = which(assink_V != 0, arr.ind = TRUE)[, 1], cols = which(assink_V != 0, arr.ind = TRUE)[, 2],
               values = assink_V[assink_V != 0],
               clubSandwich_equal = isTRUE(all.equal(
                 unname(as.matrix(bldiag(impute_covariance_matrix(assink$vi, assink$study, r = 0.6)))),
                 unname(assink_V)))),
  mv = mv,
  robust = robust_out,
  not_nested_error = list(metafor = not_nested, clubSandwich = not_nested_cs),
  by_effect_CR1 = summarise_robust(fits$assink_reml, assink$id, FALSE),
  influence = influence_out,
  tutorial = tutorial_out
)
write_reference(out, "metafor_mv.json", matrix = "rowmajor")
cat("wrote tests/reference/metafor_mv.json\n")
