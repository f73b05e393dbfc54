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
