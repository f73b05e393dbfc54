"""The package's layers have one-way arrows: no module imports a higher layer (read from the
source with ``ast``, function-level imports included), and a network imports in a fresh
interpreter without the data pipeline, the engine or any plotting."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent / "zoo"

# The allowed order, lowest first: a module may import its own layer and the layers before it.
LAYERS = [
    ("zoo", "zoo.errors", "zoo.locks"),  # __version__, ZooError, file locks
    ("zoo.config",),                # TrainConfig and --set parsing (stdlib only)
    ("zoo.nets",),                  # pure flax networks
    ("zoo.codecs",),                # note-seq event codecs
    ("zoo.data",),                  # sources, prepare, prepared arrays, the batcher, writers
    ("zoo.eval",),                  # statistics of generated music
    ("zoo.families",),              # tasks: objectives, batch schemas, sampling glue
    ("zoo.training",),              # the engine: state, steps, mesh, checkpoints, loop
    ("zoo.registry",),              # named models and presets
    ("zoo.runs", "zoo.bundle"),     # run directories and bundle files built from the registry
    ("zoo.generate", "zoo.api"),    # sampling to files; the Python API (zoo.api.load)
    ("zoo.cli", "zoo.demo", "zoo.__main__"),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def layer_of(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANK:
            return ".".join(parts[:n])
    raise KeyError(module)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    name = ".".join(rel.parts)
    return name.removesuffix(".__init__")


def imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
    return [(line, name) for line, name in out if name == "zoo" or name.startswith("zoo.")]


def test_every_module_has_a_layer():
    for path in ROOT.rglob("*.py"):
        layer_of(module_name(path))  # raises for a module outside the table


def test_no_import_runs_back_up_a_layer():
    back = []
    for path in sorted(ROOT.rglob("*.py")):
        mine = layer_of(module_name(path))
        for line, name in imports(path):
            theirs = layer_of(name)
            if RANK[theirs] > RANK[mine]:
                back.append(f"{path.relative_to(ROOT.parent)}:{line} ({mine}) imports {name} "
                            f"({theirs})")
    assert not back, "imports that run back up:\n" + "\n".join(back)


HEAVY = ("note_seq", "grain", "orbax", "matplotlib", "zoo.training", "zoo.data", "zoo.codecs",
         "zoo.families.task", "zoo.runs", "tensorflow", "torch")


def _loaded_after(code: str) -> set[str]:
    probe = (f"import sys\n{code}\n"
             f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
             f"{sorted({h.split('.')[0] for h in HEAVY})!r} )))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=ROOT.parent).stdout.split()
    return {m for m in out if any(m == h or m.startswith(h + ".") for h in HEAVY)}


@pytest.mark.parametrize("module", sorted(p.stem for p in (ROOT / "nets").glob("*.py")
                                          if p.stem != "__init__"))
def test_a_network_imports_without_data_or_engine(module):
    assert _loaded_after(f"import zoo.nets.{module}") == set()


def test_the_readme_library_path_builds_a_flax_module_lightly():
    code = ("from zoo.registry import build_net, get_preset\n"
            "net = build_net('melody_rnn', get_preset('melody_rnn', 'tiny'), vocab_size=40)\n"
            "import flax.linen as nn\nassert isinstance(net, nn.Module)")
    assert _loaded_after(code) == set()


def test_the_readme_library_example_runs_as_written_without_note_seq():
    readme = (ROOT.parent / "README.md").read_text()
    section = readme.split("### As a library", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert _loaded_after(code) == set()
