"""Coconet: ``config.py`` (objective, sampling), ``batches.py`` (voice rolls), ``pieces.py``
(user pieces for harmonize / infill), ``task.py`` (CoconetTask)."""
