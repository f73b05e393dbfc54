"""A prepared data set on disk (written by ``zoo prepare``), read through memory maps.

    data = PreparedData("datasets/cache/embedded-folk-melody-1a2b3c4d5e")
    train = data.split("train")
    ids = train[0]            # int32 (T,) for token codecs, uint8 (T, P) for frame codecs
    data.codec.decode(ids)    # the codec it was prepared with, rebuilt from the manifest
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np

from zoo.codecs import Codec, get_codec
from zoo.data.prepare import FORMAT, SPLITS, damaged_file
from zoo.errors import ZooError


class PreparedSplit:
    """The pieces of one split: ``len``, ``split[i]`` (a read-only memory-mapped slice)."""

    def __init__(self, directory: Path, name: str):
        self.name = name
        self.data = np.load(directory / f"{name}.data.npy", mmap_mode="r")
        self.offsets = np.load(directory / f"{name}.offsets.npy")
        self.ids: list[str] = json.loads((directory / f"{name}.ids.json").read_text())
        if len(self.offsets) != len(self.ids) + 1 or self.offsets[-1] != len(self.data):
            raise ValueError(f"{name}: offsets, ids and data disagree")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(f"piece {i} of {len(self)} in split '{self.name}'")
        i %= len(self)
        return self.data[self.offsets[i] : self.offsets[i + 1]]

    @property
    def num_events(self) -> int:
        """Tokens (or frames) in the split, all pieces together."""
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        """int64 (pieces,): events per piece."""
        return np.diff(self.offsets)


class PreparedData:
    """``DIR/manifest.json`` plus one PreparedSplit per split, loaded on first use."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        how = ("make one with `zoo prepare SOURCE [PATH] --codec NAME"
               f" --out {self.dir}`")
        try:
            self.manifest = json.loads((self.dir / "manifest.json").read_text())
        except FileNotFoundError:
            raise ZooError(f"no prepared data set at {self.dir}; {how}") from None
        except (OSError, ValueError) as e:
            raise ZooError(f"cannot read {self.dir / 'manifest.json'} ({e}); {how}") from None
        if self.manifest.get("format") != FORMAT:
            raise ZooError(f"{self.dir} has data format {self.manifest.get('format')}, this zoo "
                           f"reads format {FORMAT}; prepare it again with --force")
        damage = damaged_file(self.dir, self.manifest)
        if damage:
            raise ZooError(f"{damage}: the prepared data is damaged and is not read; prepare it "
                           "again with `zoo prepare ... --force`")
        self._splits: dict[str, PreparedSplit] = {}

    @functools.cached_property
    def codec(self) -> Codec:
        c = self.manifest["codec"]
        return get_codec(c["name"], **c["params"])

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in SPLITS)

    def split(self, name: str) -> PreparedSplit:
        if name not in self.split_names:
            names = ", ".join(self.split_names)
            raise ZooError(f"no split '{name}' in {self.dir}; its splits: {names}")
        if name not in self._splits:
            try:
                self._splits[name] = PreparedSplit(self.dir, name)
            except (OSError, ValueError) as e:
                raise ZooError(f"{self.dir} is damaged ({e}); prepare it again with --force"
                               ) from None
        return self._splits[name]

    def __repr__(self) -> str:
        counts = ", ".join(f"{k} {v['pieces']}" for k, v in self.manifest["splits"].items())
        return f"PreparedData({str(self.dir)!r}: {self.manifest['codec']['name']}, {counts})"
