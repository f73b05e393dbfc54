"""Every codec: the registry, parameters as data, decode on any ids, and two Bach chorales."""

import dataclasses
import glob
import json
import os

import music21
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from note_seq import musicxml_reader

from zoo.codecs import CODEC_NAMES, Codec, get_codec
from zoo.errors import SkipPiece, ZooError

VOCAB_SIZES = {"melody": 40, "performance": 390, "performance_novel": 358, "drums": 514,
               "polyphony": 261, "pianoroll": 88, "multitrack": 4 * 84,
               "multitrack_musegan": 5 * 84, "improv": 2 + 97 * 38}
TOKEN_CODECS = [name for name in CODEC_NAMES if get_codec(name).kind == "tokens"]


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_registry_builds_a_codec_value_that_rebuilds_from_its_params(name):
    codec = get_codec(name)
    assert isinstance(codec, Codec) and codec.name == name
    assert codec.vocab_size == VOCAB_SIZES[name]
    params = json.loads(json.dumps(codec.params()))
    assert "name" not in params and get_codec(name, **params) == codec
    with pytest.raises(dataclasses.FrozenInstanceError):
        codec.name = "other"


def test_unknown_codec_or_parameter_is_a_zoo_error():
    with pytest.raises(ZooError, match="unknown codec"):
        get_codec("opera")
    with pytest.raises(ZooError, match="bad parameters"):
        get_codec("melody", octaves=3)


@pytest.mark.parametrize("name", TOKEN_CODECS)
def test_decode_never_raises_on_any_ids(name):
    codec = get_codec(name)

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.integers(0, codec.vocab_size - 1), max_size=300))
    def decode_any(ids):
        ns = codec.decode(np.array(ids, np.int32))
        assert all(n.end_time > n.start_time for n in ns.notes)

    decode_any()


def _chorales(count=2):
    folder = os.path.join(os.path.dirname(music21.corpus.__file__), "bach")
    paths = sorted(glob.glob(os.path.join(folder, "bwv1*.mxl")))[:count]
    assert len(paths) == count, f"no chorales under {folder}"
    return [musicxml_reader.musicxml_file_to_sequence_proto(p) for p in paths]


@pytest.fixture(scope="module")
def chorales():
    return _chorales()


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_chorales_encode_and_round_trip(name, chorales):
    codec = get_codec(name)
    for ns in chorales:
        if name == "drums":
            with pytest.raises(SkipPiece, match="no drums"):
                codec.encode(ns)
            continue
        if name.startswith("multitrack") and len({n.part for n in ns.notes}) > 4:  # SATB + horn
            with pytest.raises(SkipPiece, match="voices for 4 pitched tracks"):
                codec.encode(ns)
            continue
        ids = codec.encode(ns)
        if codec.kind == "tokens":
            assert ids.dtype == np.int32 and ids.ndim == 1
            assert ids.min() >= 2 and ids.max() < codec.vocab_size  # never PAD or END
        else:
            assert ids.dtype == np.uint8 and ids.shape[1] == codec.vocab_size
        assert np.array_equal(codec.encode(codec.decode(ids)), ids)


def test_chorale_melody_is_the_soprano(chorales):
    codec = get_codec("melody")
    for ns in chorales:
        soprano = next(p.part for p in ns.part_infos if p.name.lower().startswith("soprano"))
        soprano_pitches = {n.pitch for n in ns.notes if n.part == soprano}
        assert {n.pitch for n in codec.decode(codec.encode(ns)).notes} <= soprano_pitches


def test_chorale_phrases_have_one_track_per_voice(chorales):
    for ns in chorales:
        phrases = get_codec("pianoroll").encode_bars(ns)
        voices = len({n.part for n in ns.notes})
        assert phrases and all(p.shape == (voices, 4, 16, 88) for p in phrases)
