"""Evaluation: the per-run :class:`~.evaluation.Evaluator` (scores with their protocol, and
pictures), the sample metrics (:mod:`.metrics`), and the feature networks: the project's
classifiers (:mod:`.classifier`, trained with :mod:`.augment`) and the FID Inception-v3
(:mod:`.inception`)."""
