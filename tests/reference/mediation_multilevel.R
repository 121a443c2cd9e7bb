# Reference values for analysis.mediation.mediate_multilevel with a therapist level,
# computed with lme4 and lmerTest.
#
# Run from the repository root, after tests/reference/mediation_multilevel_data.py:
#     Rscript tests/reference/mediation_multilevel.R
# Reads tests/reference/mediation_multilevel.csv (a simulated trial, patients nested in
# therapists; see the data script) and writes tests/reference/mediation_multilevel.json
# at full precision (digits = NA).
#
# The two models of mediate_multilevel(data, "arm", "gse_total", "phq9_total",
# cluster = "therapist", covariates = ...), built here from the CSV independently:
#   person-mean centring of gse_total and phq9_total (mean over the person's observed
#   values): *_between = mean, *_within = value - mean;
#   a model: gse_total ~ time * arm + covariates + (time | participant_id) + (1 | therapist)
#   pairs of consecutive waves: phq9_next, time_next = the person's values at the next
#   wave of the study (missing when that wave is absent); rows with both observed;
#   b model: phq9_next ~ gse_within + gse_between + phq9_within + time_next * arm
#            + covariates + (1 | participant_id) + (1 | therapist)
# Both REML, lmerTest::lmer with tight optimiser tolerances (common.R's `tight`), so
# that the optimum itself is compared; rows with a missing model column dropped (na.omit).
# Paths: a = time:armcbt (a model), b = gse_within, c_prime = time_next:armcbt (b model);
# ACME = a * b, ADE = c_prime.
#
# Cases: "therapist" (no covariates) and "therapist_age" (covariate age).
# Quantities per case and model: terms, Estimate, Std. Error, Satterthwaite df,
# as.data.frame(VarCorr()) variances, logLik, nobs, isSingular; the paths and the ACME.

source("tests/reference/common.R")
suppressPackageStartupMessages(library(lmerTest))
suppressPackageStartupMessages(library(jsonlite))

data <- read.csv("tests/reference/mediation_multilevel.csv", stringsAsFactors = FALSE)
data$arm <- factor(data$arm, levels = c("control", "cbt"))
for (v in c("gse_total", "phq9_total")) {
  mean_by_person <- ave(data[[v]], data$participant_id, FUN = function(x) mean(x, na.rm = TRUE))
  data[[paste0(v, "_between")]] <- mean_by_person
  data[[paste0(v, "_within")]] <- data[[v]] - mean_by_person
}
names(data) <- sub("^gse_total_", "gse_", sub("^phq9_total_", "phq9_", names(data)))

waves <- sort(unique(data$wave))
data$position <- match(data$wave, waves)
following <- data[, c("participant_id", "position", "phq9_total", "time")]
names(following) <- c("participant_id", "next_position", "phq9_next", "time_next")
following$position <- following$next_position - 1
pairs <- merge(data, following[, c("participant_id", "position", "phq9_next", "time_next")],
               by = c("participant_id", "position"), all.x = TRUE)
lagged <- pairs[!is.na(pairs$phq9_next) & !is.na(pairs$time_next), ]

model_summary <- function(fit) {
  coefs <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  list(terms = rownames(coefs), estimate = unname(coefs[, "Estimate"]),
       se = unname(coefs[, "Std. Error"]), df = unname(coefs[, "df"]),
       varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov),
       loglik = as.numeric(logLik(fit)), nobs = nobs(fit), singular = isSingular(fit),
       lme4_messages = as.list(fit@optinfo$conv$lme4$messages))
}

one_case <- function(covariates) {
  extra <- paste0(vapply(covariates, function(c) paste0(" + ", c), ""), collapse = "")
  fit_a <- lmer(as.formula(paste0("gse_total ~ time * arm", extra,
                                  " + (time | participant_id) + (1 | therapist)")),
                data = data, REML = TRUE, control = tight)
  fit_b <- lmer(as.formula(paste0("phq9_next ~ gse_within + gse_between + phq9_within + time_next * arm",
                                  extra, " + (1 | participant_id) + (1 | therapist)")),
                data = lagged, REML = TRUE, control = tight)
  ca <- summary(fit_a)$coefficients
  cb <- summary(fit_b)$coefficients
  paths <- list(estimate = c(a = ca["time:armcbt", "Estimate"], b = cb["gse_within", "Estimate"],
                             c_prime = cb["time_next:armcbt", "Estimate"]),
                se = c(a = ca["time:armcbt", "Std. Error"], b = cb["gse_within", "Std. Error"],
                       c_prime = cb["time_next:armcbt", "Std. Error"]))
  list(covariates = as.list(covariates), mediator_model = model_summary(fit_a),
       outcome_model = model_summary(fit_b), paths = lapply(paths, as.list),
       acme = paths$estimate[["a"]] * paths$estimate[["b"]])
}

out <- list(
  therapist = one_case(character(0)),
  therapist_age = one_case("age"),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/mediation_multilevel.json")
