"""MusicVAE's CPU recipe (issue 17): the preset builds at its stated size, and ``zoo eval``'s
interpolation check (scale consistency of slerp decodings beside the data) on known windows."""

import dataclasses

import jax
import numpy as np
import pytest

from zoo.codecs import get_codec
from zoo.codecs.base import without_corpus_filters
from zoo.families.vae import task as vae
from zoo.registry import build_task, get_preset

MELODY = get_codec("melody")
RECIPE = "mel_2bar_cpu"


def _melody(pitches, length=2):
    """Melody ids of one note per pitch, ``length`` sixteenths each, from a bar line."""
    import note_seq
    from note_seq.protobuf import music_pb2

    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    for i, p in enumerate(pitches):
        ns.notes.add(pitch=p, start_time=i * length / 8, end_time=(i + 1) * length / 8,
                     velocity=80)
    ns.total_time = len(pitches) * length / 8
    assert isinstance(ns, note_seq.NoteSequence)
    return np.asarray(without_corpus_filters(MELODY).encode(ns), np.int32)


def test_recipe_preset_builds_at_its_stated_size():
    preset = get_preset("music_vae", RECIPE)
    task = build_task("music_vae", preset, MELODY)
    shapes = jax.eval_shape(task.init, jax.random.key(0))
    params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))
    m = preset.model
    assert (m.num_bars, task.window_steps) == (2, 32)
    assert task.config.free_bits > 48  # the lever that lets z carry the window (see the preset)
    assert 0.2e6 < params < 5e6, params  # CPU size: far below cat-mel_2bar_small's


@pytest.fixture(scope="module")
def tiny():
    p = get_preset("music_vae", "tiny")
    p = dataclasses.replace(p, model=dataclasses.replace(p.model, z_size=8, encoder_hidden=16,
                                                        decoder_hidden=16))
    task = build_task("music_vae", p, MELODY)
    # seeded random weights (scale 0.3, so that z matters): no jitted init to compile
    rng = np.random.default_rng(0)
    shapes = jax.eval_shape(task.init, jax.random.key(0))
    return task, jax.tree.map(lambda x: 0.3 * rng.standard_normal(x.shape, np.float32), shapes)


def test_scale_consistency_of_windows_played_in_turn():
    c_major = _melody([60, 62, 64, 65, 67, 69, 71, 72] * 2)       # 2 bars of eighth notes
    chromatic = _melody(list(range(60, 76)))                       # 16 pitch classes in turn
    assert vae._scale_consistency(MELODY, c_major[None, :32]) == 1.0
    # 12 pitch classes (60-71) then C C# D D# again: the best scale (C# major, with B# and E#)
    # holds 7 of the first 12 and C, C#, D# of the last 4
    assert vae._scale_consistency(MELODY, chromatic[None, :32]) == pytest.approx(10 / 16)
    # a C major window then a C# major window, 16 notes each: C# major holds its own 16 and
    # C (twice) and F of each C major bar, 6 more; C major would hold 16 + 4 (C, F)
    c_sharp = _melody([61, 63, 65, 66, 68, 70, 72, 73] * 2)
    both = np.stack([c_major[:32], c_sharp[:32]])
    assert vae._scale_consistency(MELODY, both) == pytest.approx(22 / 32)


def test_interpolation_report_is_seeded_and_compares_like_with_like(tiny):
    task, params = tiny
    split = [_melody([60 + (i * 5 + k) % 12 for k in range(32)]) for i in range(6)]
    row = vae.interpolation_report(task, params, split, pairs=4, steps=5)
    assert row == vae.interpolation_report(task, params, split, pairs=4, steps=5)
    assert row["pairs"] == 4 and row["points"] == 5  # 6 pieces x 4 windows, 4 pairs drawn
    for key in ("data_scale_consistency", "interpolated_scale_consistency",
                "data_window_scale_consistency"):
        assert 0.0 < row[key] <= 1.0, (key, row)
    assert row["data_notes_per_window"] == 16.0  # eighth notes, 2 bars
    assert row["difference"] == pytest.approx(row["interpolated_scale_consistency"]
                                              - row["data_scale_consistency"])
    assert vae.interpolation_report(task, params, split[:0]) is None
