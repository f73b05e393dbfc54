"""Every test process sees 8 simulated CPU devices, so data-parallel code runs as on 8 chips."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")


import pytest


def _prepared(tmp_path_factory, source, codec):
    from zoo.data.prepare import prepare

    out = tmp_path_factory.mktemp("data") / f"{source}-{codec}"
    return str(prepare(source, None, codec, out=out, workers=2, echo=lambda s: None))


@pytest.fixture(scope="session")
def chorale_melodies(tmp_path_factory):
    """The embedded Bach chorales' top lines, melody-encoded (real music, prepared once)."""
    return _prepared(tmp_path_factory, "embedded-chorales", "melody")


@pytest.fixture(scope="session")
def chorale_performances(tmp_path_factory):
    return _prepared(tmp_path_factory, "embedded-chorales", "performance")


@pytest.fixture(scope="session")
def chorale_polyphony(tmp_path_factory):
    return _prepared(tmp_path_factory, "embedded-chorales", "polyphony")


def check_index_html(folder, num: int, wav: bool) -> str:
    """The page beside generated files: every file it references exists, it shows ``num``
    pieces (piano roll, MIDI link, an audio player when ``wav``). Returns the page's text."""
    import re
    from pathlib import Path

    page = (Path(folder) / "index.html").read_text()
    refs = re.findall(r"(?:src|href)='([^']+)'", page)
    assert refs and all((Path(folder) / r).is_file() for r in refs), refs
    for i in range(num):
        assert f"src='sample_{i}.png'" in page and f"href='sample_{i}.mid'" in page
        assert (f"<audio controls preload='none' src='sample_{i}.wav'>" in page) == wav
    return page


def check_bundle_round_trip(workdir, tmp_path, sample=lambda m: m.sample(2, seed=3)):
    """`zoo export` then zoo.api.load: the same class, step, parameters (bit for bit) and
    samples as the run directory it came from."""
    import jax
    import numpy as np

    from zoo.api import load
    from zoo.cli import main

    bundle = tmp_path / "model.zoo"
    assert main(["export", "--workdir", str(workdir), str(bundle)]) == 0
    run, packed = load(workdir), load(bundle)
    assert type(packed) is type(run) and packed.step == run.step
    for x, y in zip(jax.tree.leaves(run.params), jax.tree.leaves(packed.params), strict=True):
        assert x.dtype == y.dtype and np.array_equal(np.asarray(x), np.asarray(y))
    assert [list(p.notes) for p in sample(packed)] == [list(p.notes) for p in sample(run)]
    return packed
