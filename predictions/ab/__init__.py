"""The A/B domain in one place. A test is a challenger model with `ab_enabled` and an
`ab_champion` (registry.models): its arms are `AbArm`, and whether it runs is
`MLModel.ab_test_is_running()`. Here: which arm answers a request (routing), the challenger
run on the side in shadow mode (shadow), the report of both arms (report) with the verdict's
statistics (verdict). Promotion is a registry write: registry.services.model_promote.
"""
