"""Portable bundles: one file that carries a trained model to another machine or backend.

    zoo export --workdir runs/melody_rnn-tiny melody.zoo
    zoo.api.load("melody.zoo")  /  zoo sample --bundle melody.zoo  /  zoo eval --bundle ...

A bundle is a zip archive of ``bundle.json`` (format, model and preset, the network, task and
train configs, the codec and its card, the step, the training data's name and fingerprint, the
package versions, the SHA-256 of the parameters) and ``params.npz`` (every parameter as a float32
numpy array named by its path in the tree). Nothing in it depends on the backend that wrote it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import typing
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import jax
import numpy as np

import zoo
from zoo.codecs import get_codec
from zoo.errors import ZooError
from zoo.registry import build_task, get_preset, task_class

BUNDLE_FORMAT = 1


def _versions() -> dict[str, str]:
    out = {"zoo": zoo.__version__}
    for name in ("jax", "jaxlib", "flax", "optax", "numpy", "note-seq"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _config_dict(config) -> dict | None:
    return None if config is None else dataclasses.asdict(config)


def _rebuild(cls, values: dict):
    """A frozen config dataclass from its JSON dict (lists back to tuples where typed so)."""
    hints = typing.get_type_hints(cls)
    fixed = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            v = values[f.name]
            origin = typing.get_origin(hints[f.name])
            fixed[f.name] = tuple(v) if origin is tuple and isinstance(v, list) else v
    return cls(**fixed)


def codec_card(codec) -> dict:
    card = {"name": codec.name, "kind": codec.kind, "vocab_size": codec.vocab_size}
    for attr in ("steps_per_quarter", "steps_per_second", "min_pitch", "max_pitch", "tracks",
                 "steps_per_bar", "num_keys"):
        value = getattr(codec, attr, None)
        if isinstance(value, (int, float)):
            card[attr] = value
    return card


def export(trained, out: Path) -> Path:
    """Write the run ``trained`` (``zoo.runs.load_trained``) at its checkpoint to ``out``."""
    built = trained.built
    params = jax.device_get(trained.state.params)
    leaves = jax.tree_util.tree_leaves_with_path(params)
    arrays = {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    blob = buffer.getvalue()
    manifest = built.data.manifest
    info = {
        "format": BUNDLE_FORMAT, "model": built.spec.model, "preset": built.spec.preset,
        "overrides": list(built.spec.overrides), "step": trained.step,
        "configs": {"model": _config_dict(built.model_config), "task": _config_dict(
            built.task.config), "train": _config_dict(built.train)},
        "codec": {"name": built.codec.name, "params": built.codec.params(),
                  "card": codec_card(built.codec)},
        "data": {"source": manifest.get("source"), "fingerprint": manifest.get("fingerprint"),
                 "splits": {k: v.get("pieces") for k, v in manifest.get("splits", {}).items()}},
        "versions": _versions(), "params_sha256": hashlib.sha256(blob).hexdigest(),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bundle.json", json.dumps(info, indent=1))
        z.writestr("params.npz", blob)
    tmp.replace(out)
    return out


@dataclass
class Bundle:
    """A loaded bundle: the family's ``task`` (network, codec, configs), ``params``, ``info``."""

    task: object
    params: dict
    step: int
    info: dict

    @property
    def name(self) -> str:
        return f"{self.info['model']}/{self.info['preset']}"


def load_bundle(path: Path) -> Bundle:
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            info = json.loads(z.read("bundle.json"))
            blob = z.read("params.npz")
    except FileNotFoundError:
        raise ZooError(f"no bundle at {path}") from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise ZooError(f"{path} is not a readable zoo bundle (damaged or another file: "
                       f"{str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if info.get("format") != BUNDLE_FORMAT:
        raise ZooError(f"{path} is bundle format {info.get('format')}; this zoo reads format "
                       f"{BUNDLE_FORMAT} (written by zoo {info.get('versions', {}).get('zoo')})")
    if hashlib.sha256(blob).hexdigest() != info.get("params_sha256"):
        raise ZooError(f"{path} is damaged: its parameters do not match their checksum")
    preset = get_preset(info["model"], info["preset"])
    configs = info["configs"]
    preset = dataclasses.replace(
        preset, model=_rebuild(type(preset.model), configs["model"]),
        train=_rebuild(type(preset.train), configs["train"]),
        task=None if configs["task"] is None
        else _rebuild(_task_config_type(info["model"], preset), configs["task"]))
    codec = get_codec(info["codec"]["name"], **info["codec"]["params"])
    train = preset.train
    dtype = train.compute_dtype if train.compute_dtype != "float32" else None
    task = build_task(info["model"], preset, codec, train, dtype)
    arrays = np.load(io.BytesIO(blob))
    shapes = jax.eval_shape(task.init, jax.random.key(0))
    paths, tree = jax.tree_util.tree_flatten_with_path(shapes)
    leaves = []
    for p, shape in paths:
        key = jax.tree_util.keystr(p)
        if key not in arrays or arrays[key].shape != shape.shape:
            raise ZooError(f"{path} does not fit {info['model']}/{info['preset']} of this zoo: "
                           f"parameter {key} is missing or of another shape")
        leaves.append(jax.numpy.asarray(arrays[key], shape.dtype))
    return Bundle(task, jax.tree_util.tree_unflatten(tree, leaves), int(info["step"]), info)


def _task_config_type(model: str, preset):
    default = task_class(model).default_config()
    return type(preset.task if preset.task is not None else default)
