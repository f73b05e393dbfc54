"""MuseGAN: ``config.py`` (objective, report), ``task.py`` (GanTask), ``phrases.py`` (batches)."""
