"""music-zoo: a JAX model zoo for symbolic music generation."""

__version__ = "0.1.0"
