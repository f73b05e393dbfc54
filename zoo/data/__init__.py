"""Data: sources -> NoteSequences -> codec arrays on disk -> batches (no JAX models here).

    sources.py, abc_source.py, bl2012.py   where NoteSequences come from (``get_source``)
    prepare.py                             ``zoo prepare``: parse, encode, write flat arrays
    parallel.py                            worker processes with per-input time limits
    prepared.py                            ``PreparedData``: a prepared data set, memory-mapped
    batcher.py                             the one seeded, resumable batcher; eval padding
    writers.py                             MIDI files and piano-roll PNGs of NoteSequences
    roundtrip.py                           ``python -m zoo.data.roundtrip``: codec round trips
"""
