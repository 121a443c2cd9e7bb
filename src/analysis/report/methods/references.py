"""The methods papers and software the paragraphs cite, in APA style (7th edition).

A DOI is given only where it is certain; a reference without one is complete without it.
"""

#: Citation key as it appears in a paragraph -> full reference.
REFERENCES = {
    # software and mixed models
    "Bates et al., 2015": "Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects "
                          "models using lme4. Journal of Statistical Software, 67(1), 1–48. "
                          "https://doi.org/10.18637/jss.v067.i01",
    "Kuznetsova et al., 2017": "Kuznetsova, A., Brockhoff, P. B., & Christensen, R. H. B. (2017). lmerTest package: "
                               "Tests in linear mixed effects models. Journal of Statistical Software, 82(13), 1–26. "
                               "https://doi.org/10.18637/jss.v082.i13",
    "Satterthwaite, 1946": "Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance "
                           "components. Biometrics Bulletin, 2(6), 110–114. https://doi.org/10.2307/3002019",
    "Kenward & Roger, 1997": "Kenward, M. G., & Roger, J. H. (1997). Small sample inference for fixed effects from "
                             "restricted maximum likelihood. Biometrics, 53(3), 983–997. "
                             "https://doi.org/10.2307/2533558",
    "Halekoh & Højsgaard, 2014": "Halekoh, U., & Højsgaard, S. (2014). A Kenward-Roger approximation and parametric "
                                 "bootstrap methods for tests in linear mixed models – The R package pbkrtest. "
                                 "Journal of Statistical Software, 59(9), 1–32. "
                                 "https://doi.org/10.18637/jss.v059.i09",
    "Searle et al., 1980": "Searle, S. R., Speed, F. M., & Milliken, G. A. (1980). Population marginal means in the "
                           "linear model: An alternative to least squares means. The American Statistician, 34(4), "
                           "216–221. https://doi.org/10.1080/00031305.1980.10483031",
    "Laird & Ware, 1982": "Laird, N. M., & Ware, J. H. (1982). Random-effects models for longitudinal data. "
                          "Biometrics, 38(4), 963–974. https://doi.org/10.2307/2529876",
    "Feingold, 2009": "Feingold, A. (2009). Effect sizes for growth-modeling analysis for controlled clinical trials "
                      "in the same metric as for classical analysis. Psychological Methods, 14(1), 43–53. "
                      "https://doi.org/10.1037/a0014699",
    "Little & Rubin, 2019": "Little, R. J. A., & Rubin, D. B. (2019). Statistical analysis with missing data "
                            "(3rd ed.). Wiley. https://doi.org/10.1002/9781119482260",
    "Seabold & Perktold, 2010": "Seabold, S., & Perktold, J. (2010). Statsmodels: Econometric and statistical "
                                "modeling with Python. Proceedings of the 9th Python in Science Conference, 92–96. "
                                "https://doi.org/10.25080/Majora-92bf1922-011",
    "Harris et al., 2020": "Harris, C. R., Millman, K. J., van der Walt, S. J., et al. (2020). Array programming "
                           "with NumPy. Nature, 585(7825), 357–362. https://doi.org/10.1038/s41586-020-2649-2",
    "Virtanen et al., 2020": "Virtanen, P., Gommers, R., Oliphant, T. E., et al. (2020). SciPy 1.0: Fundamental "
                             "algorithms for scientific computing in Python. Nature Methods, 17(3), 261–272. "
                             "https://doi.org/10.1038/s41592-019-0686-2",
    "McKinney, 2010": "McKinney, W. (2010). Data structures for statistical computing in Python. Proceedings of the "
                      "9th Python in Science Conference, 56–61. https://doi.org/10.25080/Majora-92bf1922-00a",
    "Abril-Pla et al., 2023": "Abril-Pla, O., Andreani, V., Carroll, C., et al. (2023). PyMC: A modern, and "
                              "comprehensive probabilistic programming framework in Python. PeerJ Computer Science, "
                              "9, e1516. https://doi.org/10.7717/peerj-cs.1516",
    "Kumar et al., 2019": "Kumar, R., Carroll, C., Hartikainen, A., & Martin, O. (2019). ArviZ a unified library for "
                          "exploratory analysis of Bayesian models in Python. Journal of Open Source Software, 4(33), "
                          "1143. https://doi.org/10.21105/joss.01143",
    # Bayesian models
    "Hoffman & Gelman, 2014": "Hoffman, M. D., & Gelman, A. (2014). The No-U-Turn sampler: Adaptively setting path "
                              "lengths in Hamiltonian Monte Carlo. Journal of Machine Learning Research, 15, "
                              "1593–1623.",
    "Vehtari et al., 2021": "Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., & Bürkner, P.-C. (2021). "
                            "Rank-normalization, folding, and localization: An improved R-hat for assessing "
                            "convergence of MCMC. Bayesian Analysis, 16(2), 667–718. https://doi.org/10.1214/20-BA1221",
    "Bürkner, 2017": "Bürkner, P.-C. (2017). brms: An R package for Bayesian multilevel models using Stan. Journal "
                     "of Statistical Software, 80(1), 1–28. https://doi.org/10.18637/jss.v080.i01",
    "Gabry et al., 2019": "Gabry, J., Simpson, D., Vehtari, A., Betancourt, M., & Gelman, A. (2019). Visualization in "
                          "Bayesian workflow. Journal of the Royal Statistical Society: Series A, 182(2), 389–402. "
                          "https://doi.org/10.1111/rssa.12378",
    "Lewandowski et al., 2009": "Lewandowski, D., Kurowicka, D., & Joe, H. (2009). Generating random correlation "
                                "matrices based on vines and extended onion method. Journal of Multivariate Analysis, "
                                "100(9), 1989–2001. https://doi.org/10.1016/j.jmva.2009.04.008",
    "Gelman, 2006": "Gelman, A. (2006). Prior distributions for variance parameters in hierarchical models. Bayesian "
                    "Analysis, 1(3), 515–534. https://doi.org/10.1214/06-BA117A",
    # mediation
    "Imai, Keele, & Tingley, 2010": "Imai, K., Keele, L., & Tingley, D. (2010). A general approach to causal "
                                    "mediation analysis. Psychological Methods, 15(4), 309–334. "
                                    "https://doi.org/10.1037/a0020761",
    "Imai, Keele, & Yamamoto, 2010": "Imai, K., Keele, L., & Yamamoto, T. (2010). Identification, inference and "
                                     "sensitivity analysis for causal mediation effects. Statistical Science, 25(1), "
                                     "51–71. https://doi.org/10.1214/10-STS321",
    "Tingley et al., 2014": "Tingley, D., Yamamoto, T., Hirose, K., Keele, L., & Imai, K. (2014). mediation: R "
                            "package for causal mediation analysis. Journal of Statistical Software, 59(5), 1–38. "
                            "https://doi.org/10.18637/jss.v059.i05",
    "Efron, 1987": "Efron, B. (1987). Better bootstrap confidence intervals. Journal of the American Statistical "
                   "Association, 82(397), 171–185. https://doi.org/10.1080/01621459.1987.10478410",
    "King et al., 2000": "King, G., Tomz, M., & Wittenberg, J. (2000). Making the most of statistical analyses: "
                         "Improving interpretation and presentation. American Journal of Political Science, 44(2), "
                         "347–361.",
    "Bauer et al., 2006": "Bauer, D. J., Preacher, K. J., & Gil, K. M. (2006). Conceptualizing and testing random "
                          "indirect effects and moderated mediation in multilevel models: New procedures and "
                          "recommendations. Psychological Methods, 11(2), 142–163. "
                          "https://doi.org/10.1037/1082-989X.11.2.142",
    "Preacher & Selig, 2012": "Preacher, K. J., & Selig, J. P. (2012). Advantages of Monte Carlo confidence intervals "
                              "for indirect effects. Communication Methods and Measures, 6(2), 77–98.",
    # structural equation and panel models
    "Hamaker et al., 2015": "Hamaker, E. L., Kuiper, R. M., & Grasman, R. P. P. P. (2015). A critique of the "
                            "cross-lagged panel model. Psychological Methods, 20(1), 102–116. "
                            "https://doi.org/10.1037/a0038889",
    "Rosseel, 2012": "Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. Journal of "
                     "Statistical Software, 48(2), 1–36. https://doi.org/10.18637/jss.v048.i02",
    "Enders & Bandalos, 2001": "Enders, C. K., & Bandalos, D. L. (2001). The relative performance of full "
                               "information maximum likelihood estimation for missing data in structural equation "
                               "models. Structural Equation Modeling, 8(3), 430–457. "
                               "https://doi.org/10.1207/S15328007SEM0803_5",
    "Yuan & Bentler, 2000": "Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean and "
                            "covariance structure analysis with nonnormal missing data. Sociological Methodology, "
                            "30(1), 165–200.",
    "Hu & Bentler, 1999": "Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance structure "
                          "analysis: Conventional criteria versus new alternatives. Structural Equation Modeling, "
                          "6(1), 1–55. https://doi.org/10.1080/10705519909540118",
    "Cheong et al., 2003": "Cheong, J., MacKinnon, D. P., & Khoo, S. T. (2003). Investigation of mediational "
                           "processes using parallel process latent growth curve modeling. Structural Equation "
                           "Modeling, 10(2), 238–262. https://doi.org/10.1207/S15328007SEM1002_5",
    # meta-analysis
    "Viechtbauer, 2010": "Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. Journal of "
                         "Statistical Software, 36(3), 1–48. https://doi.org/10.18637/jss.v036.i03",
    "Viechtbauer, 2005": "Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the "
                         "random-effects model. Journal of Educational and Behavioral Statistics, 30(3), 261–293. "
                         "https://doi.org/10.3102/10769986030003261",
    "Viechtbauer, 2007": "Viechtbauer, W. (2007). Confidence intervals for the amount of heterogeneity in "
                         "meta-analysis. Statistics in Medicine, 26(1), 37–52. https://doi.org/10.1002/sim.2514",
    "DerSimonian & Laird, 1986": "DerSimonian, R., & Laird, N. (1986). Meta-analysis in clinical trials. Controlled "
                                 "Clinical Trials, 7(3), 177–188. https://doi.org/10.1016/0197-2456(86)90046-2",
    "Knapp & Hartung, 2003": "Knapp, G., & Hartung, J. (2003). Improved tests for a random effects meta-regression "
                             "with a single covariate. Statistics in Medicine, 22(17), 2693–2710. "
                             "https://doi.org/10.1002/sim.1482",
    "Higgins & Thompson, 2002": "Higgins, J. P. T., & Thompson, S. G. (2002). Quantifying heterogeneity in a "
                                "meta-analysis. Statistics in Medicine, 21(11), 1539–1558. "
                                "https://doi.org/10.1002/sim.1186",
    "Konstantopoulos, 2011": "Konstantopoulos, S. (2011). Fixed effects and variance components estimation in "
                             "three-level meta-analysis. Research Synthesis Methods, 2(1), 61–76. "
                             "https://doi.org/10.1002/jrsm.35",
    "Pustejovsky & Tipton, 2018": "Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust "
                                  "variance estimation and hypothesis testing in fixed effects models. Journal of "
                                  "Business & Economic Statistics, 36(4), 672–683. "
                                  "https://doi.org/10.1080/07350015.2016.1247004",
    "Tipton, 2015": "Tipton, E. (2015). Small sample adjustments for robust variance estimation with "
                    "meta-regression. Psychological Methods, 20(3), 375–393. https://doi.org/10.1037/met0000011",
    "Egger et al., 1997": "Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis "
                          "detected by a simple, graphical test. BMJ, 315(7109), 629–634. "
                          "https://doi.org/10.1136/bmj.315.7109.629",
    "Duval & Tweedie, 2000": "Duval, S., & Tweedie, R. (2000). Trim and fill: A simple funnel-plot-based method of "
                             "testing and adjusting for publication bias in meta-analysis. Biometrics, 56(2), 455–463. "
                             "https://doi.org/10.1111/j.0006-341X.2000.00455.x",
    "Begg & Mazumdar, 1994": "Begg, C. B., & Mazumdar, M. (1994). Operating characteristics of a rank correlation "
                             "test for publication bias. Biometrics, 50(4), 1088–1101. https://doi.org/10.2307/2533446",
    "Vevea & Hedges, 1995": "Vevea, J. L., & Hedges, L. V. (1995). A general linear model for estimating effect size "
                            "in the presence of publication bias. Psychometrika, 60(3), 419–435. "
                            "https://doi.org/10.1007/BF02294384",
    "Stanley & Doucouliagos, 2014": "Stanley, T. D., & Doucouliagos, H. (2014). Meta-regression approximations to "
                                    "reduce publication selection bias. Research Synthesis Methods, 5(1), 60–78. "
                                    "https://doi.org/10.1002/jrsm.1095",
    "Rosenthal, 1979": "Rosenthal, R. (1979). The file drawer problem and tolerance for null results. Psychological "
                       "Bulletin, 86(3), 638–641. https://doi.org/10.1037/0033-2909.86.3.638",
    # power simulation
    "Arnold et al., 2011": "Arnold, B. F., Hogan, D. R., Colford, J. M., & Hubbard, A. E. (2011). Simulation methods "
                           "to estimate design power: An overview for applied research. BMC Medical Research "
                           "Methodology, 11, 94. https://doi.org/10.1186/1471-2288-11-94",
    "MacKinnon et al., 2002": "MacKinnon, D. P., Lockwood, C. M., Hoffman, J. M., West, S. G., & Sheets, V. (2002). "
                              "A comparison of methods to test mediation and other intervening variable effects. "
                              "Psychological Methods, 7(1), 83–104. https://doi.org/10.1037/1082-989X.7.1.83",
    "Wilson, 1927": "Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference. "
                    "Journal of the American Statistical Association, 22(158), 209–212. "
                    "https://doi.org/10.1080/01621459.1927.10502953",
    "Green & MacLeod, 2016": "Green, P., & MacLeod, C. J. (2016). SIMR: An R package for power analysis of "
                             "generalized linear mixed models by simulation. Methods in Ecology and Evolution, 7(4), "
                             "493–498. https://doi.org/10.1111/2041-210X.12504",
    # missing data
    "Mallinckrodt et al., 2001": "Mallinckrodt, C. H., Clark, W. S., & David, S. R. (2001). Accounting for dropout "
                                 "bias using mixed-effects models. Journal of Biopharmaceutical Statistics, 11(1–2), "
                                 "9–21.",
    "van Buuren & Groothuis-Oudshoorn, 2011": "van Buuren, S., & Groothuis-Oudshoorn, K. (2011). mice: Multivariate "
                                              "imputation by chained equations in R. Journal of Statistical "
                                              "Software, 45(3), 1–67. https://doi.org/10.18637/jss.v045.i03",
    "Rubin, 1987": "Rubin, D. B. (1987). Multiple imputation for nonresponse in surveys. Wiley. "
                   "https://doi.org/10.1002/9780470316696",
    "Barnard & Rubin, 1999": "Barnard, J., & Rubin, D. B. (1999). Small-sample degrees of freedom with multiple "
                             "imputation. Biometrika, 86(4), 948–955. https://doi.org/10.1093/biomet/86.4.948",
    "Little, 1988": "Little, R. J. A. (1988). Missing-data adjustments in large surveys. Journal of Business & "
                    "Economic Statistics, 6(3), 287–296.",
    "Carpenter et al., 2013": "Carpenter, J. R., Roger, J. H., & Kenward, M. G. (2013). Analysis of longitudinal "
                              "trials with protocol deviation: A framework for relevant, accessible assumptions, and "
                              "inference via multiple imputation. Journal of Biopharmaceutical Statistics, 23(6), "
                              "1352–1371. https://doi.org/10.1080/10543406.2013.834911",
    "Ratitch et al., 2013": "Ratitch, B., O'Kelly, M., & Tosiello, R. (2013). Missing data in clinical trials: From "
                            "clinical assumptions to statistical analysis using pattern mixture models. Pharmaceutical "
                            "Statistics, 12(6), 337–347.",
    # measurement
    "Cronbach, 1951": "Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests. Psychometrika, "
                      "16(3), 297–334. https://doi.org/10.1007/BF02310555",
    "Feldt et al., 1987": "Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical inference for "
                          "coefficient alpha. Applied Psychological Measurement, 11(1), 93–103. "
                          "https://doi.org/10.1177/014662168701100107",
    "Guttman, 1945": "Guttman, L. (1945). A basis for analyzing test-retest reliability. Psychometrika, 10(4), "
                     "255–282. https://doi.org/10.1007/BF02288892",
    "McDonald, 1999": "McDonald, R. P. (1999). Test theory: A unified treatment. Lawrence Erlbaum Associates.",
    "Zinbarg et al., 2005": "Zinbarg, R. E., Revelle, W., Yovel, I., & Li, W. (2005). Cronbach's α, Revelle's β, "
                            "and McDonald's ωH: Their relations with each other and two alternative "
                            "conceptualizations of reliability. Psychometrika, 70(1), 123–133. "
                            "https://doi.org/10.1007/s11336-003-0974-7",
    "Schmid & Leiman, 1957": "Schmid, J., & Leiman, J. M. (1957). The development of hierarchical factor solutions. "
                             "Psychometrika, 22(1), 53–61. https://doi.org/10.1007/BF02289209",
    "Vandenberg & Lance, 2000": "Vandenberg, R. J., & Lance, C. E. (2000). A review and synthesis of the measurement "
                                "invariance literature: Suggestions, practices, and recommendations for "
                                "organizational research. Organizational Research Methods, 3(1), 4–70. "
                                "https://doi.org/10.1177/109442810031002",
    "Cheung & Rensvold, 2002": "Cheung, G. W., & Rensvold, R. B. (2002). Evaluating goodness-of-fit indexes for "
                               "testing measurement invariance. Structural Equation Modeling, 9(2), 233–255. "
                               "https://doi.org/10.1207/S15328007SEM0902_5",
    "Chen, 2007": "Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement invariance. "
                  "Structural Equation Modeling, 14(3), 464–504. https://doi.org/10.1080/10705510701301834",
    "Satorra & Bentler, 2001": "Satorra, A., & Bentler, P. M. (2001). A scaled difference chi-square test statistic "
                               "for moment structure analysis. Psychometrika, 66(4), 507–514. "
                               "https://doi.org/10.1007/BF02296192",
}
