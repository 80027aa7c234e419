"""Machine-learning core of HotCRM AI Cloud, free of Django.

`ml.schema` validates features against a model's feature schema, `ml.base` defines the
`Predictor` every in-process model implements, `ml.builtin` trains the built-in models on
deterministic synthetic CRM data and `ml.artifacts` (de)serialises fitted predictors.
"""
