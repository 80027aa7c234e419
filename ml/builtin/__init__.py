"""The built-in models: fitted on deterministic synthetic CRM data, one module per family.

- `synthetic`: the generating processes (documented there) of leads, churn, revenue and baskets;
- `tabular`: what the scalar classifiers share (numpy fast paths of the fitted models, metrics);
- `leads`: `seniority()` and the two lead-scoring models (logistic regression, gradient boosting);
- `churn`: the churn model (logistic regression);
- `sentiment`: VADER sentiment with word-level contributions;
- `forecast`: the direct multi-horizon OLS revenue forecaster;
- `recommendation`: item-item similarity plus a learnt segment prior, stacked by a logistic model;
- `training`: the catalogue of the six built-in models, their training and CSV retraining.

Importing this package imports nothing heavy: unpickling a predictor loads only its module.
"""
