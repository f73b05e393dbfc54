"""Conditioned event models: ``task.py`` (the shared task), ``improv.py`` (chords), ``performance.py`` (controls)."""
