"""Piano-roll frame models: ``config.py``, ``task.py`` (FrameModelTask), ``batches.py``."""
