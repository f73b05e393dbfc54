"""Note-seq event codecs, kept apart from the models. Vocabularies are data: a codec is a value.

    from zoo.codecs import get_codec
    codec = get_codec("melody")            # Magenta's melody defaults
    ids = codec.encode(note_sequence)       # int32 (T,)
    ns = codec.decode(ids)
"""

from __future__ import annotations

import importlib

from zoo.codecs.base import END, NUM_SPECIAL, PAD, Codec
from zoo.errors import ZooError

# name -> (module, class, default overrides). A new codec is one file plus one line here.
_REGISTRY = {
    "melody": ("melody", "MelodyCodec", {}),
    "performance": ("performance", "PerformanceCodec", {}),
    "performance_novel": ("performance", "PerformanceCodec", {"num_velocity_bins": 0}),
    "drums": ("drums", "DrumsCodec", {}),
    "polyphony": ("polyphony", "PolyphonyCodec", {}),
    "pianoroll": ("pianoroll", "PianorollCodec", {}),
    "multitrack": ("multitrack", "MultitrackCodec", {}),
    "multitrack_musegan": ("multitrack", "MultitrackCodec",  # drums + 4 tracks, 48 steps a bar
                           {"tracks": 5, "steps_per_quarter": 12, "drum_track": True}),
    "improv": ("improv", "ImprovCodec", {}),  # melody + chord per sixteenth (Improv RNN)
}

CODEC_NAMES = tuple(_REGISTRY)


def get_codec(name: str, **params) -> Codec:
    """The codec registered as ``name``, with ``params`` overriding its defaults."""
    if name not in _REGISTRY:
        raise ZooError(f"unknown codec '{name}'; choose one of: {', '.join(CODEC_NAMES)}")
    module, cls, defaults = _REGISTRY[name]
    codec_cls = getattr(importlib.import_module(f"zoo.codecs.{module}"), cls)
    try:
        return codec_cls(**{**defaults, **params, "name": name})
    except TypeError as e:
        raise ZooError(f"bad parameters for codec '{name}': {e}") from None


__all__ = ["CODEC_NAMES", "END", "NUM_SPECIAL", "PAD", "Codec", "get_codec"]
