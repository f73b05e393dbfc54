"""MusicVAE: ``config.py`` (objective), ``task.py`` (VAETask and functions over it), ``windows.py``."""
