"""MIDI file -> NoteSequence, parsed in C++ by symusic, equal to note-seq's reader.

    ns, reader = read_midi(path)     # reader: "symusic", or "note-seq: <why the fast path passed>"
    parts = read_parts_or_none(data)  # the fast read as arrays (FastRead), None: note-seq's turn

note-seq's ``midi_file_to_note_sequence`` goes through mido and pretty_midi in pure Python
(about 100 ms for a 3,100-note pop song on one core here). ``read_fast`` splits the file into
its chunks as mido does, hands each track chunk to symusic (one small single-track file per
track, so that every note keeps its MIDI track) and rebuilds pretty_midi's view of it:

- times: pretty_midi's tick -> seconds map from the tempo events of track 0 only, with its float
  arithmetic (``last_end + scale * ticks``), so times are bit-equal;
- tempos, time and key signatures from track 0 only; key numbers as pretty_midi names them;
- one instrument per (track, channel, program), numbered in the order pretty_midi creates them
  (the order of their first note-off); drums are channel 10;
- notes of zero length dropped, as pretty_midi drops them; control changes and pitch bends of
  an instrument's channel; instrument names from track names.

Within an instrument the notes come in ``canonical_order`` (note-off tick, pitch, onset): the
order pretty_midi appends them (note-off order) except among notes released at one tick, whose
file order symusic does not keep. ``read_midi`` puts note-seq's output in the same order, so
both paths give one NoteSequence. ``tests/test_midi_reader.py`` checks field for field.

What ``read_fast`` cannot promise to read as mido and pretty_midi do, it refuses with
``Fallback`` and ``read_midi`` asks note-seq: two sounding notes of one pitch (pretty_midi ends
both at the first note-off), several instruments in one track whose first note-offs fall on one
tick in an order the byte walk ``first_note_offs`` does not find, several instruments in one
track with controllers, SMPTE time division, bytes mido reads differently from symusic
(system common messages 0xF1-0xFE, data above 127 after a pitch bend or aftertouch status, an
end-of-track before the chunk ends, meta events with short payloads, key signatures mido
cannot name). Some of these checks are byte scans that also fire on
harmless bytes (a long delta time, text in UTF-8): the file then only takes the slow path.
A track that may hold aftertouch (whose data symusic skips unchecked) is walked with mido's
grammar in Python (``mido_reads``) first. Not detected: a channel whose program changes twice
while its notes sound and returns to the first program (pretty_midi takes the program at the
note-off, symusic at the note-on).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import struct
from pathlib import Path

import numpy as np
from note_seq.protobuf import music_pb2

from zoo.errors import SkipPiece

DRUM_CHANNEL = 9


class Fallback(Exception):  # noqa: N818 - a decision, not an error: note-seq reads the file
    """The fast reader cannot promise note-seq's result for this file; ``reason`` says why."""


class MidiReadError(SkipPiece):
    """A MIDI file neither reader can read: ``reason`` in words a user acts on, ``raw`` the
    libraries' own messages."""

    def __init__(self, reason: str, raw: str = ""):
        super().__init__(reason)
        self.raw = raw


class _Damage(Exception):
    """The fast reader found the file damaged; ``reason`` is a user's sentence."""

    def __init__(self, reason: str, raw: str = ""):
        super().__init__(reason)
        self.reason, self.raw = reason, raw


# ---------------------------------------------------------------------------- file structure


def split_chunks(data: bytes) -> tuple[int, int, list[tuple[int, bytes]]]:
    """(format, ticks per quarter, [(byte offset, track chunk data)]) read as mido reads them:
    the header's declared size, then exactly ``ntracks`` chunks, each of which must be MTrk.
    Bytes after the last track are ignored (as mido does). Raises _Damage."""
    if not data:
        raise _Damage("empty file (0 bytes)")
    if len(data) < 8:
        raise _Damage(f"file ends early (probably truncated): {len(data)} bytes, no MIDI header")
    name, size = struct.unpack(">4sL", data[:8])
    if name != b"MThd":
        raise _Damage(f"not a MIDI file: no MThd header (it starts with {data[:4]!r})")
    if len(data) - 8 < 6 or size < 6:
        raise _Damage("file ends early (probably truncated): the MIDI header is cut short")
    fmt, ntracks, division = struct.unpack(">hhh", data[8:14])
    if ntracks <= 0:
        raise _Damage(f"no tracks: the header declares {ntracks}")
    pos, tracks = 8 + size, []
    for i in range(ntracks):
        if len(data) - pos < 8:
            raise _Damage(f"file ends early (probably truncated): track {i + 1} of {ntracks} "
                          f"is missing (the file has {len(data):,} bytes)")
        name, size = struct.unpack(">4sL", data[pos:pos + 8])
        if name != b"MTrk":
            raise _Damage(f"corrupt file: no MTrk header at the start of track {i + 1} "
                          f"(byte {pos:,})")
        chunk = data[pos + 8:pos + 8 + size]
        if len(chunk) < size:
            raise _Damage(f"file ends early (probably truncated): track {i + 1} of {ntracks} "
                          f"declares {size:,} bytes, {len(chunk):,} are left")
        if not size:
            raise _Damage(f"corrupt file: track {i + 1} (byte {pos:,}) has no events at all")
        tracks.append((pos, chunk))
        pos += 8 + size
    return fmt, division, tracks


# Byte patterns mido reads otherwise than symusic; a match sends the file to note-seq. A status
# byte follows the last byte of a delta time (below 0x80): a byte after one of 0x80 or more is
# inside a delta time and is not looked at.
# a system message (mido: F1 and F3 take 1 data byte, F2 2, F6 F8 FA-FE none) followed by
# running status, which mido refuses and symusic reads on
_SYSTEM = re.compile(rb"(?<![\x80-\xff])(?:[\xf6\xf8\xfa-\xfe]|[\xf1\xf3][\x00-\x7f]|\xf2[\x00-\x7f]{2})"
                     rb"[\x80-\xff]{0,3}[\x00-\x7f][\x00-\x7f]")
# a data byte above 127 right after an aftertouch, channel pressure or pitch bend status
# (symusic skips the first two without looking; the second byte of one, or any byte under
# running status, is not checked: see the module docstring)
_HIGH_DATA = re.compile(rb"(?<![\x80-\xff])[\xa0-\xaf\xd0-\xef][\x80-\xff]")
_SYSTEM_BYTE = re.compile(rb"[\xf1-\xf6\xf8-\xfe]")  # a quick look before _SYSTEM
_ABOVE_127 = re.compile(rb"[\x80-\xff]")
_SYSEX = re.compile(rb"(?<![\x80-\xff])[\xf0\xf7]")
_ANY_META = re.compile(rb"(?<![\x80-\xff])\xff(.)", re.DOTALL)
_END_OF_TRACK = b"\xff\x2f\x00"
_META_MIN = {0x00: 0, 0x20: 1, 0x21: 1, 0x51: 3, 0x54: 5, 0x58: 4, 0x59: 2}
# Meta types mido names; symusic can place the events after another type at other ticks (a
# time signature damaged to type 0x08 moved a later tempo by 353 ticks), so those files fall back.
_META_KNOWN = frozenset(range(0x00, 0x08)) | {0x20, 0x21, 0x2F, 0x51, 0x54, 0x58, 0x59, 0x7F}


def _vlq(data, at: int) -> tuple[int, int]:
    """(value, position after it) of the variable-length quantity at ``at``; a quantity cut by
    the end of ``data`` reads as longer than ``data``."""
    value = 0
    while at < len(data):
        byte = data[at]
        at += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at
    return len(data) + 1, at


# data bytes after each status byte, as mido reads them (None: mido refuses the status)
_DATA_BYTES = {**{hi << 4: n for hi, n in ((8, 2), (9, 2), (10, 2), (11, 2), (12, 1), (13, 1),
                                           (14, 2))},
               0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0,
               0xFE: 0}
_AFTERTOUCH_BYTE = re.compile(rb"[\xa0-\xaf\xd0-\xdf]")


def _status_at(chunk: bytes, i: int, status: int | None):
    """(the event's status byte, data bytes read with it, position after them, running status
    after the event) for the event whose status byte would be at ``i``, as mido reads it: a
    byte below 128 is the first data byte under running status (1 read; the status None when
    there is none); meta events do not set running status."""
    byte = chunk[i]
    if byte < 0x80:
        return status, 1, i + 1, status
    return byte, 0, i + 1, status if byte == 0xFF else byte


def mido_reads(chunk: bytes) -> bool:
    """Whether mido reads this track chunk without an error: its grammar, walked in Python
    (running status, data bytes below 128, meta and sysex lengths, the chunk's end). Used only
    for tracks that may hold aftertouch, whose data symusic skips unchecked."""
    i, n, status = 0, len(chunk), None
    while i < n:
        _, i = _vlq(chunk, i)  # delta time
        if i >= n:
            return False
        byte, data, i, status = _status_at(chunk, i, status)
        if byte is None:
            return False
        if byte == 0xFF:
            length, i = _vlq(chunk, i + 1)
            i += length
        elif byte in (0xF0, 0xF7):
            length, i = _vlq(chunk, i)  # under running status mido drops the data byte
            payload = chunk[i:i + length]
            payload = payload[1:] if payload[:1] == b"\xf0" else payload
            payload = payload[:-1] if payload[-1:] == b"\xf7" else payload
            if _ABOVE_127.search(payload):
                return False
            i += length
        else:
            need = _DATA_BYTES.get(byte if byte >= 0xF0 else byte & 0xF0)
            if need is None or need < data:
                return False
            if _ABOVE_127.search(chunk[i:i + need - data]) or i + need - data > n:
                return False
            i += need - data
    return i == n


def _table(*ranges: tuple[int, int]) -> np.ndarray:
    """A bool (256,) lookup table: True for the byte values in the inclusive ranges."""
    table = np.zeros(256, bool)
    for lo, hi in ranges:
        table[lo:hi + 1] = True
    return table


_IS_SYSTEM_BYTE = _table((0xF1, 0xF6), (0xF8, 0xFE))  # _SYSTEM_BYTE
_IS_AFTERTOUCH = _table((0xA0, 0xAF), (0xD0, 0xDF))  # _AFTERTOUCH_BYTE
_IS_HIGH_DATA_STATUS = _table((0xA0, 0xAF), (0xD0, 0xEF))  # _HIGH_DATA's status bytes
_IS_SYSEX = _table((0xF0, 0xF0), (0xF7, 0xF7))


def status_scans(music: np.ndarray) -> tuple[list[int], bool, bool, bool]:
    """The regular expressions' answers on uint8 bytes (N,), by table lookups: (the starts of
    ``_SYSEX`` matches, whether ``_SYSTEM_BYTE``, ``_HIGH_DATA`` and ``_AFTERTOUCH_BYTE``
    match anywhere)."""
    after_low = np.empty(len(music), bool)  # (?<![\x80-\xff])
    after_low[:1] = True
    np.less(music[:-1], 0x80, out=after_low[1:])
    sysex = np.flatnonzero(_IS_SYSEX[music] & after_low).tolist()
    status = music[:-1][after_low[:-1] & (music[1:] >= 0x80)]
    return (sysex, bool(_IS_SYSTEM_BYTE[music].any()), bool(_IS_HIGH_DATA_STATUS[status].any()),
            bool(_IS_AFTERTOUCH[music].any()))


def _check_bytes(chunk: bytes, track: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Fallback for a track chunk whose bytes mido may read otherwise than symusic; else its
    ``channels_in``. The scans
    are the regular expressions above, done as numpy lookups over the chunk (a byte "after a
    byte below 128" is where a status byte can stand; ``_SYSTEM`` and ``mido_reads`` run only
    where a lookup finds a byte they look for)."""
    raw = np.frombuffer(chunk, np.uint8)
    metas = np.flatnonzero(raw[:-1] == 0xFF)  # _ANY_META: 0xFF, a byte after it, none above
    metas = metas[(metas == 0) | (raw[metas - 1] < 0x80)].tolist()  # 127 before it
    music = raw.copy()  # the chunk with meta payloads blanked, for the status scans
    covered = 0
    for start in metas:
        if start < covered:
            continue  # an 0xFF inside an earlier meta's payload
        kind = chunk[start + 1]
        length, at = _vlq(chunk, start + 2)
        payload = chunk[at:at + length]
        if len(payload) < length:
            raise Fallback(f"meta event 0x{kind:02x} runs past the end of track {track}")
        music[at:at + length] = 0
        covered = at + length
        if kind not in _META_KNOWN:
            raise Fallback(f"meta event of unknown type 0x{kind:02x} in track {track}")
        if kind not in _META_MIN:
            continue
        if length < _META_MIN[kind] or (kind == 0x00 and length == 1):
            raise Fallback(f"meta event 0x{kind:02x} with a short payload in track {track}")
        if at - start > 3:  # symusic read a key signature with a 2-byte length from the wrong
            raise Fallback(f"meta event 0x{kind:02x} with a long length in track {track}")
        if kind == 0x59:
            sharps = payload[0] - 256 if payload[0] > 127 else payload[0]
            if not -7 <= sharps <= 7 or payload[1] > 1:
                raise Fallback(f"key signature mido cannot name in track {track}")
        elif kind == 0x58 and payload[1] > 7:  # symusic keeps 2**x in 8 bits (and wraps x)
            raise Fallback(f"time signature denominator 2**{payload[1]} in track {track}")
        elif kind == 0x54 and payload[0] >> 5 > 3:
            raise Fallback(f"SMPTE offset with an unknown frame rate in track {track}")
    sysex, system_byte, high_data, aftertouch = status_scans(music)
    if sysex or system_byte:
        _check_system_bytes(music.tobytes(), sysex, track)
    if high_data:
        raise Fallback(f"possible data bytes above 127 in track {track}")
    if aftertouch and not mido_reads(chunk):
        raise Fallback(f"track {track} as mido reads it is damaged (aftertouch data)")
    end = chunk.find(_END_OF_TRACK)
    if end not in (-1, len(chunk) - 3):
        raise Fallback(f"end of track before the end of track {track}'s chunk")
    if end == -1 and chunk[-1] >= 0x80:  # cut inside a delta time or after a status byte
        raise Fallback(f"track {track} ends inside an event")
    return channels_in(music)


def _check_system_bytes(music: bytes, sysex: list[int], track: int) -> None:
    """The rare part of ``_check_bytes``: system exclusive events (at ``sysex``) and system
    message bytes in ``music`` (the chunk with meta payloads blanked)."""
    for start in sysex:
        length, at = _vlq(music, start + 1)
        if at + length > len(music):
            raise Fallback(f"system exclusive data runs past the end of track {track}")
        payload = music[at:at + length]
        if payload[:1] == b"\xf0":
            payload = payload[1:]
        if payload[-1:] == b"\xf7":
            payload = payload[:-1]
        if _ABOVE_127.search(payload):  # mido refuses such a sysex; symusic skips it
            raise Fallback(f"system exclusive data above 127 in track {track}")
    if _SYSTEM_BYTE.search(music) and _SYSTEM.search(music):
        raise Fallback(f"system message bytes in track {track}")


# ---------------------------------------------------------------------------- time


class TickMap:
    """pretty_midi's tick -> seconds map: segments of constant seconds per tick, the tempo
    events of track 0 in file order (one at tick 0 replaces the 120 qpm default; a later one
    starts a segment only where the scale changes)."""

    def __init__(self, resolution: int, tempo_ticks: np.ndarray, mspq: np.ndarray):
        scales = [(0, 60.0 / (120.0 * resolution))]
        for tick, us in zip(tempo_ticks.tolist(), mspq.tolist()):
            if us <= 0:
                raise _Damage(f"corrupt tempo: {us} microseconds per quarter at tick {tick}",
                              "ZeroDivisionError: float division by zero")
            scale = 60.0 / ((6e7 / us) * resolution)
            if tick == 0:
                scales = [(0, scale)]
            elif scale != scales[-1][1]:
                scales.append((tick, scale))
        self.resolution = resolution
        self.ticks = np.array([t for t, _ in scales], np.int64)
        self.scales = np.array([s for _, s in scales], np.float64)
        starts = [0]  # the time at which each segment starts, accumulated as pretty_midi does
        for i in range(1, len(scales)):
            starts.append(starts[-1] + self.scales[i - 1] * float(self.ticks[i] - self.ticks[i - 1]))
        self.starts = np.array(starts, np.float64)

    def __call__(self, ticks: np.ndarray) -> np.ndarray:
        """int ticks (N,) -> float64 seconds (N,)."""
        ticks = np.asarray(ticks, np.int64)
        seg = np.searchsorted(self.ticks, ticks, side="right") - 1
        return self.starts[seg] + self.scales[seg] * (ticks - self.ticks[seg]).astype(np.float64)

    def tempos(self) -> list[tuple[float, float]]:
        """(seconds, qpm) per segment, as pretty_midi's get_tempo_changes."""
        times = self(self.ticks)
        return [(float(t), 60.0 / (s * self.resolution)) for t, s in zip(times, self.scales)]


# ---------------------------------------------------------------------------- reading


# Appended to every track before symusic reads it: a long pause, then a note-off for every key
# of every channel with note-ons. symusic pairs a note-off with the oldest open note of its key
# and drops notes never released; pretty_midi releases every open note of a key at its next
# note-off. A note that ends at or after LATE was never released in the file: such a file goes
# to note-seq. Then a marker note per channel with any channel message (key 0, velocity =
# channel + 1), which symusic files under the channel's last program: a part without a marker
# shares its channel with another program. The channels are those of every status byte in the
# chunk (``channels_in``: a superset, as a byte of a delta time may look like one).
LATE = 0x0FFFFFFF  # ticks: the longest delta time a MIDI file can hold


@functools.lru_cache(maxsize=256)
def _release_all(note_channels: tuple[int, ...], channels: tuple[int, ...]) -> bytes:
    """The appendix above for these channels (end of track included)."""
    events = [(0, bytes([0x80 | ch, key, 0])) for ch in note_channels for key in range(128)]
    events += [(0, bytes([0x90 | ch, 0, ch + 1])) for ch in channels]
    events += [(int(k == 0), bytes([0x80 | ch, 0, 0])) for k, ch in enumerate(channels)]
    out = bytearray(b"\xff\xff\xff\x7f")  # LATE, as the first event's delta time
    for k, (delta, message) in enumerate(events):
        out += (b"" if k == 0 else bytes([delta])) + message
    return bytes(out + (b"\x00" if events else b"") + _END_OF_TRACK)


def channels_in(music: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(channels of note-on status bytes, channels of any channel status byte) in uint8 track
    bytes (N,) with meta payloads blanked: supersets of the channels the track uses."""
    status = music[(music >= 0x80) & (music < 0xF0)]
    used = np.zeros((2, 16), bool)
    used[0, status[status >> 4 == 9] & 0x0F] = True
    used[1, status & 0x0F] = True
    return tuple(np.flatnonzero(used[0]).tolist()), tuple(np.flatnonzero(used[1]).tolist())


def _parse_track(chunk: bytes, division: int, track: int, offset: int, channels):
    import symusic

    if chunk.endswith(_END_OF_TRACK):  # its delta time goes to an empty text event instead
        chunk = chunk[:-3] + b"\xff\x01\x00"
    chunk += _release_all(*channels)
    one = b"MThd" + struct.pack(">LhhH", 6, 1, 1, division) + b"MTrk" + struct.pack(
        ">L", len(chunk)) + chunk
    try:
        return symusic.Score.from_midi(one)
    except Exception as e:  # noqa: BLE001 - symusic raises RuntimeError/ValueError for damage
        raw = str(e).replace("MiniMidi: ", "").replace(": iostream error", "")
        if "EOF" in raw:
            what = "an event runs past the end of its track (damaged or truncated)"
        elif "running status" in raw.lower():
            what = "running status with no status byte before it"
        elif raw.startswith("Get "):
            what = f"a data byte above 127 ({raw[4:]})"
        elif "status byte" in raw:
            what = raw[0].lower() + raw[1:]
        else:
            what = raw
        raise _Damage(f"corrupt event data in track {track} (starting at byte {offset:,}): "
                      f"{what}", f"symusic: {raw}") from None


def _overlaps(start: np.ndarray, end: np.ndarray, pitch: np.ndarray) -> bool:
    """Two notes of one pitch sounding at once, starting together, or a zero-length note
    touching another of its pitch: where pretty_midi's pairing of note-offs differs."""
    if len(start) < 2:
        return False
    order = np.lexsort((end, start, pitch))
    s, e, p = start[order], end[order], pitch[order]
    same = p[1:] == p[:-1]
    zero = (e[1:] == s[1:]) | (e[:-1] == s[:-1])
    return bool(np.any(same & ((s[1:] < e[:-1]) | (s[1:] == s[:-1]) | (zero & (s[1:] == e[:-1])))))


@dataclasses.dataclass
class Instrument:
    """One instrument of a file as the fast reader found it: its notes in canonical order (the
    arrays (N,): pitch, velocity int64; start, end float64 seconds), controls and bends."""

    number: int
    program: int
    is_drum: bool
    name: str | None
    pitch: np.ndarray
    velocity: np.ndarray
    start: np.ndarray
    end: np.ndarray
    controls: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # seconds, number, value
    bends: tuple[list[float], list[int]] | None  # seconds, value


@dataclasses.dataclass
class FastRead:
    """A MIDI file as ``read_fast`` reads it, before it becomes a NoteSequence: what
    ``zoo.data.fast_encode`` encodes without building one. Times in seconds."""

    ticks_per_quarter: int
    time_signatures: list[tuple[float, int, int]]  # (time, numerator, denominator)
    key_signatures: list[tuple[float, int, int]]  # (time, key, mode)
    tempos: list[tuple[float, float]]  # (time, qpm)
    instruments: list[Instrument]

    @property
    def total_time(self) -> float:
        """The last note's end, as NoteSequence.total_time (0.0 without notes)."""
        return max((float(i.end.max()) for i in self.instruments if len(i.end)), default=0.0)

    def note_sequence(self) -> music_pb2.NoteSequence:
        ns = music_pb2.NoteSequence(ticks_per_quarter=self.ticks_per_quarter)
        ns.source_info.encoding_type = music_pb2.NoteSequence.SourceInfo.MIDI
        for t, numerator, denominator in self.time_signatures:
            ns.time_signatures.add(time=t, numerator=numerator, denominator=denominator)
        for t, key, mode in self.key_signatures:
            ns.key_signatures.add(time=t, key=key, mode=mode)
        for t, qpm in self.tempos:
            ns.tempos.add(time=t, qpm=qpm)
        for instrument in self.instruments:
            _add_instrument(ns, instrument)
        ns.total_time = self.total_time
        return ns


def read_parts_or_none(data: bytes) -> FastRead | None:
    """``read_parts``, or None where ``read_midi`` would not take the fast reader's result
    (a Fallback, or damage: note-seq decides)."""
    try:
        return read_parts(data)
    except (Fallback, _Damage):
        return None


def read_fast(data: bytes) -> music_pb2.NoteSequence:
    """MIDI bytes -> NoteSequence as note-seq reads them (notes in ``canonical_order``).
    Raises Fallback when note-seq must decide, _Damage when the file is damaged."""
    return read_parts(data).note_sequence()


def read_parts(data: bytes) -> FastRead:
    """MIDI bytes -> FastRead: ``read_fast`` without the NoteSequence (the same checks and
    Fallback / _Damage)."""
    _fmt, division, tracks = split_chunks(data)
    if division <= 0:
        raise Fallback("SMPTE time division")
    scores = []
    for i, (offset, chunk) in enumerate(tracks, 1):
        channels = _check_bytes(chunk, i)
        scores.append(_parse_track(chunk, division, i, offset, channels))
    first = scores[0]
    tempo = first.tempos.numpy()
    tick_map = TickMap(division, tempo["time"], tempo["mspq"])
    signatures = []
    for ts in first.time_signatures:
        if ts.numerator <= 0:
            raise _Damage(f"corrupt time signature {ts.numerator}/{ts.denominator} in track 1",
                          "ValueError: numerator must be positive")
        if ts.denominator <= 0 or ts.denominator & (ts.denominator - 1):
            raise Fallback("time signature denominator beyond 2**7")
        signatures.append((float(tick_map([ts.time])[0]), ts.numerator, ts.denominator))
    keys = []
    for ks in first.key_signatures:
        minor = ks.tonality == 1
        keys.append((float(tick_map([ks.time])[0]), (7 * ks.key + (9 if minor else 0)) % 12,
                     music_pb2.NoteSequence.KeySignature.MINOR if minor else 0))
    read = FastRead(division, signatures, keys, tick_map.tempos(), [])
    for i, score in enumerate(scores, 1):
        kept = []
        for channel, part, notes in _channels(score, i):
            start = notes["time"].astype(np.int64)
            stop = start + notes["duration"]
            if stop.max() >= LATE:
                raise Fallback(f"a note never released in track {i}")
            if start.min() < 0:
                raise Fallback(f"ticks beyond 2**31 in track {i}")
            if _overlaps(start, stop, notes["pitch"]):
                raise Fallback(f"two notes of one key sounding at once in track {i}")
            closed = stop > start
            if closed.any():
                off = int(stop[closed].min())
                kept.append((off, channel, part, notes,
                             frozenset(notes["pitch"][closed & (stop == off)].tolist())))
        for _, _, part, notes, _ in _instrument_order(kept, tracks[i - 1][1], i):
            read.instruments.append(_instrument(len(read.instruments), part, notes, tick_map))
    return read


def _channels(score, track: int):
    """[(channel, symusic track, its notes without the markers)]: one per channel that has
    notes. A part without its channel's marker shares the channel with another program
    (Fallback when it has notes or controllers: pretty_midi's sharing of a channel's
    controllers is not rebuilt), so the parts found have distinct channels."""
    found = []
    for part in score.tracks:
        if len(part.notes) == 1 and part.notes[0].time >= LATE:
            continue  # only the marker: a channel with no notes (most of the 16)
        a = part.notes.numpy()
        marker = a["time"] >= LATE
        if not marker.any():
            if len(a["time"]) or len(part.controls) or len(part.pitch_bends):
                raise Fallback(f"a channel with several programs in track {track}")
            continue
        if marker.all():
            continue  # a channel with no notes: pretty_midi drops its controllers too
        channel = int(a["velocity"][marker][0]) - 1  # the marker's velocity is channel + 1
        found.append((channel, part, {k: v[~marker] for k, v in a.items()}))
    return found


def _instrument_order(kept: list, chunk: bytes, track: int) -> list:
    """The parts of one track, ``(first note-off tick, channel, part, notes, pitches whose
    notes end then)``, in the order pretty_midi creates their instruments: that of the
    note-off that first closes one of their notes. Parts whose first such note-off falls on
    one tick (every channel in one track, all starting on the first beat) are ordered by where
    those note-offs lie in the track's bytes (``first_note_offs``)."""
    ticks = [off for off, *_ in kept]
    tied = {ch: (off, pitches) for off, ch, _, _, pitches in kept if ticks.count(off) > 1}
    rank = {ch: k for k, ch in enumerate(first_note_offs(chunk, tied, track))} if tied else {}
    return sorted(kept, key=lambda x: (x[0], rank.get(x[1], 0)))


def first_note_offs(chunk: bytes, want: dict[int, tuple[int, frozenset]], track: int
                    ) -> list[int]:
    """Channels of ``want`` ({channel: (tick, pitches)}) in the order of their first note-off
    (or note-on of velocity 0) at that tick for one of those pitches, walking the track chunk
    as mido does (running status; meta events do not set it) up to the last tick wanted.
    Raises Fallback where the walk meets what it does not read (running status after a
    system message) or does not find every channel."""
    i, n, status, tick, found = 0, len(chunk), None, 0, []
    last = max(t for t, _ in want.values())
    while i < n and len(found) < len(want):
        delta, i = _vlq(chunk, i)
        tick += delta
        if tick > last or i >= n:
            break
        byte, data, i, status = _status_at(chunk, i, status)
        if byte is None or (data and byte >= 0xF0):
            break
        i -= data  # the data byte read as running status is the event's first
        if byte == 0xFF:
            length, i = _vlq(chunk, i + 1)
            i += length
        elif byte in (0xF0, 0xF7):
            length, i = _vlq(chunk, i)
            i += length
        elif byte >= 0xF0:
            need = _DATA_BYTES.get(byte)
            if need is None:
                break
            i += need
        else:
            kind, channel = byte & 0xF0, byte & 0x0F
            i += _DATA_BYTES[kind]
            if ((kind == 0x80 or (kind == 0x90 and chunk[i - 1] == 0)) and channel in want
                    and channel not in found and want[channel][0] == tick
                    and chunk[i - 2] in want[channel][1]):
                found.append(channel)
    if len(found) < len(want):
        raise Fallback(f"instruments of track {track} whose first notes end on one tick, "
                       "in an order not found")
    return found


# A NoteSequence's notes (field 8) and control changes (field 11) in protobuf's wire format,
# one fixed-size record each (every integer below 128 is one varint byte), so that thousands
# are appended by one MergeFromString instead of one ``add`` each (about 17x the time).
_NOTE = np.dtype([("tag", "u1"), ("size", "u1"), ("t_pitch", "u1"), ("pitch", "u1"),
                  ("t_velocity", "u1"), ("velocity", "u1"), ("t_start", "u1"), ("start", "<f8"),
                  ("t_end", "u1"), ("end", "<f8"), ("t_instrument", "u1"), ("instrument", "u1"),
                  ("t_program", "u1"), ("program", "u1"), ("t_drum", "u1"), ("drum", "u1")])
_CONTROL = np.dtype([("tag", "u1"), ("size", "u1"), ("t_time", "u1"), ("time", "<f8"),
                     ("t_number", "u1"), ("number", "u1"), ("t_value", "u1"), ("value", "u1"),
                     ("t_instrument", "u1"), ("instrument", "u1"), ("t_program", "u1"),
                     ("program", "u1"), ("t_drum", "u1"), ("drum", "u1")])


def _instrument(number: int, part, a: dict, tick_map: TickMap) -> Instrument:
    closed = a["duration"] > 0
    start = a["time"][closed].astype(np.int64)
    end = start + a["duration"][closed]
    pitch, velocity = a["pitch"][closed].astype(np.int64), a["velocity"][closed].astype(np.int64)
    order = np.lexsort((start, pitch, end))
    program, is_drum, name = int(part.program), bool(part.is_drum), None
    if part.name:
        if "\ufffd" in part.name:
            raise Fallback("a track name that is not UTF-8")
        # symusic decodes names as UTF-8, mido (note-seq) as latin-1
        name = part.name.encode("utf-8").decode("latin-1")
    if number > 127 or program > 127:
        raise Fallback("more than 128 instruments")
    controls = bends = None
    if len(part.controls):
        c = part.controls.numpy()
        controls = tick_map(c["time"]), c["number"], c["value"]
    if len(part.pitch_bends):
        b = part.pitch_bends.numpy()
        if b["value"].min() < -8192 or b["value"].max() > 8191:
            raise Fallback("a pitch bend above 14 bits")
        bends = tick_map(b["time"]).tolist(), b["value"].tolist()
    return Instrument(number, program, is_drum, name, pitch[order], velocity[order],
                      tick_map(start[order]), tick_map(end[order]), controls, bends)


def _records(dtype: np.dtype, tags: dict[str, int], n: int) -> np.ndarray:
    """(n,) records of ``dtype`` with the tag bytes (and the record size) filled in."""
    one = np.zeros((), dtype)
    for field, value in {"tag": tags.pop("tag"), "size": dtype.itemsize - 2, **tags}.items():
        one[field] = value
    return np.full(n, one, dtype)


_NOTE_TAGS = {"tag": 0x42, "t_pitch": 0x08, "t_velocity": 0x10, "t_start": 0x19, "t_end": 0x21,
              "t_instrument": 0x38, "t_program": 0x40, "t_drum": 0x48}
_CONTROL_TAGS = {"tag": 0x5A, "t_time": 0x09, "t_number": 0x10, "t_value": 0x18,
                 "t_instrument": 0x20, "t_program": 0x28, "t_drum": 0x30}


def _add_instrument(ns, i: Instrument) -> None:
    if i.name is not None:
        ns.instrument_infos.add(name=i.name, instrument=i.number)
    notes = _records(_NOTE, dict(_NOTE_TAGS), len(i.pitch))
    notes["pitch"], notes["velocity"], notes["start"], notes["end"] = (i.pitch, i.velocity,
                                                                       i.start, i.end)
    notes["instrument"], notes["program"], notes["drum"] = i.number, i.program, i.is_drum
    ns.MergeFromString(notes.tobytes())  # appends the notes, in order
    if i.controls is not None:
        changes = _records(_CONTROL, dict(_CONTROL_TAGS), len(i.controls[0]))
        changes["time"], changes["number"], changes["value"] = i.controls
        changes["instrument"], changes["program"], changes["drum"] = (i.number, i.program,
                                                                      i.is_drum)
        ns.MergeFromString(changes.tobytes())
    if i.bends is not None:
        for t, v in zip(*i.bends):
            ns.pitch_bends.add(time=t, bend=v, instrument=i.number, program=i.program,
                               is_drum=i.is_drum)


def canonical_order(ns: music_pb2.NoteSequence) -> music_pb2.NoteSequence:
    """Notes sorted by (instrument, end, pitch, start), in place; returns ``ns``."""
    notes = sorted(ns.notes, key=lambda n: (n.instrument, n.end_time, n.pitch, n.start_time))
    copies = [music_pb2.NoteSequence.Note() for _ in notes]
    for c, n in zip(copies, notes):
        c.CopyFrom(n)
    del ns.notes[:]
    ns.notes.extend(copies)
    return ns


# ---------------------------------------------------------------------------- note-seq


_MIDO_WORDS = (  # (pattern in note-seq's message, what it means)
    ("EOFError", "file ends early (probably truncated)"),
    ("MThd not found", "not a MIDI file: no MThd header"),
    ("data byte must be in range", "corrupt event data: a data byte above 127"),
    ("running status without last_status", "corrupt event data: running status with no "
     "status byte before it"),
    ("undefined status byte", "corrupt event data: an undefined status byte"),
    ("no MTrk header", "corrupt file: a track without its MTrk header"),
    ("Could not decode key", "corrupt key signature"),
    ("largest tick", "corrupt timing: a tick beyond 10**10 (damaged delta times)"),
    ("division by zero", "corrupt tempo or time division of 0"),
    ("Invalid time signature denominator", "corrupt time signature denominator"),
    ("must be positive", "corrupt time signature (not positive)"),
    ("max() arg is an empty sequence", "corrupt file: a track with no events"),
    ("IndexError", "corrupt meta event: its payload is cut short"),
    ("MemoryError", "corrupt timing: too many ticks to map (damaged delta times)"),
)


def note_seq_words(message: str) -> str:
    """A note-seq/mido/pretty_midi error message in words a user acts on."""
    for pattern, words in _MIDO_WORDS:
        if pattern in message:
            return words
    return "unreadable MIDI file"


def read_note_seq(data: bytes) -> music_pb2.NoteSequence:
    """note-seq's reader on MIDI bytes (the slow path); raises MidiReadError."""
    from note_seq import midi_io

    try:
        return midi_io.midi_to_note_sequence(data)
    except Exception as e:  # noqa: BLE001 - its MIDIConversionError wraps any library error
        raw = f"{type(e).__name__}: {e}".strip()
        raise MidiReadError(note_seq_words(raw), f"note-seq: {raw}") from None


def read_midi(path: str | Path) -> tuple[music_pb2.NoteSequence, str]:
    """(NoteSequence in canonical order, reader). The fast reader first; note-seq's when the
    fast one falls back or finds damage (note-seq alone decides whether a file is readable).
    Raises MidiReadError (a SkipPiece) when neither can read it."""
    data = Path(path).read_bytes()
    try:
        return read_fast(data), "symusic"
    except Fallback as e:
        why, damage = str(e), None
    except _Damage as e:
        why, damage = "symusic found damage", e
    try:
        ns = read_note_seq(data)
    except MidiReadError as e:
        if damage is not None:
            raw = "; ".join(filter(None, [e.raw, damage.raw]))
            raise MidiReadError(damage.reason, raw) from None
        raise
    return canonical_order(ns), f"note-seq: {why}"
