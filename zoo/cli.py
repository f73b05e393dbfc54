"""The ``zoo`` command: prepare | train | sample | eval | interpolate | export | models.

Every user error ends as one line on stderr and exit code 2; nothing is overwritten by a failed
command.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from zoo.errors import ZooError, error_stream, quiet_failures, silence_library_noise

warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")  # pydub, imported by note-seq


def _parse_sets(items: list[str] | None) -> dict:
    """``--set key=value`` for codec parameters (JSON values, else strings)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ZooError(f"malformed --set '{item}': expected key=value")
        key, text = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            out[key.strip()] = text
    return out


def cmd_prepare(args) -> int:
    from zoo.data.prepare import run_cli

    args.codec_params = _parse_sets(args.set)
    return run_cli(args)


def default_data(model: str, preset_name: str | None, echo=print) -> str:
    """Prepare (or reuse from the cache) the preset's default corpus with its codec."""
    from zoo.codecs import get_codec
    from zoo.data.prepare import prepare
    from zoo.registry import get_preset

    preset = get_preset(model, preset_name)
    if preset.source is None:
        raise ZooError(f"{model} has no embedded corpus: prepare your own, e.g. "
                       f"`zoo prepare midi-dir PATH --codec {preset.codec}`, then pass --data DIR")
    return str(prepare(preset.source, None, get_codec(preset.codec), echo=echo))


def cmd_train(args) -> int:
    from zoo.registry import default_preset, get_preset
    from zoo.runs import RunSpec, train_and_evaluate

    preset_name = args.preset or default_preset(args.model)
    get_preset(args.model, preset_name)
    workdir = Path(args.workdir or f"runs/{args.model}-{preset_name}")
    overrides = tuple(args.set or ())
    if (workdir / "run.json").exists():
        old = RunSpec.load(workdir)
        if (old.model, old.preset) != (args.model, preset_name):
            raise ZooError(f"{workdir} holds a {old.model} --preset {old.preset} run; "
                           "use another --workdir")
        if args.data and Path(args.data).resolve() != Path(old.data).resolve():
            raise ZooError(f"{workdir} was trained on {old.data}; use another --workdir for "
                           f"{args.data}")
        spec = RunSpec(old.model, old.preset, old.data, old.overrides + overrides)
    else:
        data = args.data or default_data(args.model, preset_name)
        spec = RunSpec(args.model, preset_name, str(Path(data).resolve()), overrides)
    summary = train_and_evaluate(workdir, spec, progress=not args.no_progress)
    valid = summary.get("valid", {})
    print(f"trained {args.model}/{preset_name} to step {summary['step']} in {workdir}"
          + (f": valid NLL {valid['nll']:.4f} nats/event, accuracy {valid['accuracy']:.3f}"
             if "nll" in valid else f": valid loss {valid['loss']:.4f}" if "loss" in valid
             else ""))
    return 0


def _one_source(args) -> None:
    if bool(args.workdir) == bool(args.bundle):
        raise ZooError("give --workdir RUN or --bundle FILE (one of them)")


def _audio_arguments(s) -> None:
    s.add_argument("--wav", action="store_true",
                   help="also render each sample to WAV with a General MIDI SoundFont")
    s.add_argument("--sample-rate", type=int, default=22050, help="WAV sample rate, Hz")


def cmd_sample(args) -> int:
    from zoo.generate import generate, write_samples

    _one_source(args)
    options = dict(num=args.num, steps=args.steps, primer=args.primer,
                   primer_pitches=args.primer_pitches, temperature=args.temperature,
                   top_k=args.top_k, top_p=args.top_p, seed=args.seed, wav=args.wav,
                   sample_rate=args.sample_rate,
                   conditions=dict(chords=args.chords, steps_per_chord=args.steps_per_chord,
                                   density=args.density, pitch_histogram=args.pitch_histogram))
    if args.bundle:
        from zoo.bundle import load_bundle

        b = load_bundle(Path(args.bundle))
        bundle = Path(args.bundle)
        out = Path(args.out) if args.out else bundle.with_name(bundle.stem + "-samples")
        paths = write_samples(b.task, b.params, b.step, b.info["model"], out, **options)
    else:
        paths = generate(Path(args.workdir), out=Path(args.out) if args.out else None, **options)
    for p in paths:
        print(p)
    return 0


def cmd_export(args) -> int:
    from zoo.bundle import export
    from zoo.runs import load_trained

    print(export(load_trained(Path(args.workdir)), Path(args.out)))
    return 0


def _eval_bundle(args) -> int:
    from zoo.bundle import load_bundle
    from zoo.data.prepared import PreparedData
    from zoo.training.loop import Run, Trainer

    if args.samples:
        raise ZooError("--samples compares with a run's training data: use --workdir")
    b = load_bundle(Path(args.bundle))
    data = PreparedData(args.data or default_data(b.info["model"], b.info["preset"]))
    if (data.codec.name, data.codec.vocab_size) != (b.task.codec.name, b.task.codec.vocab_size):
        raise ZooError(f"{data.dir} is prepared with codec '{data.codec.name}' but the bundle "
                       f"reads '{b.task.codec.name}'")
    trainer = Trainer(Run(b.task, b.task.cfg, data, b.name))
    report = trainer.report(b.params, args.splits.split(","))
    print(f"{b.name} at step {b.step} (bundle {args.bundle}) on {data.dir}")
    print("\n".join(report.pop("table")))
    out = Path(args.bundle).with_name(Path(args.bundle).stem + ".eval.json")
    out.write_text(json.dumps({"bundle": args.bundle, "step": b.step, **report}, indent=2))
    return 0


def cmd_eval(args) -> int:
    from zoo.runs import load_trained

    _one_source(args)
    if args.bundle:
        return _eval_bundle(args)
    trained = load_trained(Path(args.workdir))
    trainer, state, step, spec = trained.trainer, trained.state, trained.step, trained.built.spec
    reported = trainer.task.eval_metrics
    if args.metric and args.metric not in reported:
        raise ZooError(f"{spec.model} reports {', '.join(reported)}, not '{args.metric}'")
    report = trainer.report(state.params, args.splits.split(","))
    print(f"{spec.model}/{spec.preset} at step {step} on {spec.data}")
    print("\n".join(report.pop("table")))
    if args.samples:
        from zoo.eval.suite import evaluate_samples

        report["samples"] = evaluate_samples(trained, args.samples, seed=args.seed,
                                             out=Path(args.workdir) / "eval", wav=args.wav,
                                             sample_rate=args.sample_rate)
    (Path(args.workdir) / "eval.json").write_text(
        json.dumps({"workdir": args.workdir, "step": step, **report}, indent=2))
    return 0


def cmd_interpolate(args) -> int:
    import jax
    import note_seq

    from zoo.data.writers import write_midi, write_pianoroll_png
    from zoo.runs import load_trained

    trained = load_trained(Path(args.workdir))
    trainer, state = trained.trainer, trained.state
    if not trainer.task.interpolates:
        raise ZooError(f"{trained.built.spec.model} does not interpolate; MusicVAE and MuseGAN "
                       "do")
    pieces = []
    for path in (args.a, args.b):
        try:
            pieces.append(note_seq.midi_file_to_note_sequence(path))
        except Exception as e:  # note-seq raises many types for unreadable files
            raise ZooError(f"cannot read {path}: {str(e).splitlines()[0]}") from None
    ns = trainer.task.interpolate(state.params, pieces[0], pieces[1], args.steps,
                                  jax.random.key(args.seed), temperature=args.temperature)
    out = Path(args.out) if args.out else Path(args.workdir) / "interpolation.mid"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_midi(ns, out)
    write_pianoroll_png(ns, out.with_suffix(".png"), title=f"{args.steps} steps, {out.name}")
    print(out)
    return 0


def _conditioned(args, method: str, **options) -> int:
    """``zoo harmonize`` / ``zoo infill``: a Coconet run or bundle applied to one MIDI file,
    the pieces written through ``write_pieces`` (default folder WORKDIR/<method>)."""
    import jax
    import note_seq

    from zoo.generate import write_pieces

    _one_source(args)
    try:
        ns = note_seq.midi_file_to_note_sequence(args.midi)
    except Exception as e:  # note-seq raises many types for unreadable files
        raise ZooError(f"cannot read {args.midi}: {str(e).splitlines()[0]}") from None
    if args.bundle:
        from zoo.bundle import load_bundle

        b = load_bundle(Path(args.bundle))
        task, params, step, name = b.task, b.params, b.step, b.name
        default_out = Path(args.bundle).with_name(Path(args.bundle).stem + f"-{method}")
    else:
        from zoo.runs import load_trained

        trained = load_trained(Path(args.workdir))
        task, params, step = trained.built.task, trained.state.params, trained.step
        name = f"{trained.built.spec.model}/{trained.built.spec.preset}"
        default_out = Path(args.workdir) / method
    if not hasattr(task, method):
        raise ZooError(f"{name} does not {method}; coconet does")
    pieces = getattr(task, method)(params, ns, rng=jax.random.key(args.seed), num=args.num,
                                   source=args.midi, temperature=args.temperature,
                                   steps=args.gibbs_steps, **options)
    out = Path(args.out) if args.out else default_out
    c = task.config
    settings = (f"{args.gibbs_steps or c.gibbs_steps} annealed Gibbs steps, temperature "
                f"{args.temperature or c.temperature}, seed {args.seed}"
                + (f"; erased bars {options['bars']}" if "bars" in options else ""))
    for p in write_pieces(pieces, out, f"{name} step {step}, {method} {Path(args.midi).name}",
                          wav=args.wav, sample_rate=args.sample_rate, notes=[settings]):
        print(p)
    return 0


def cmd_harmonize(args) -> int:
    return _conditioned(args, "harmonize")


def cmd_infill(args) -> int:
    what, bars = args.erase
    if what != "bars":
        raise ZooError(f"--erase {what} {bars}: only bars can be erased, e.g. --erase bars 3-4")
    return _conditioned(args, "infill", bars=bars)


def _conditioned_arguments(s) -> None:
    s.add_argument("--workdir", help="a coconet run directory")
    s.add_argument("--bundle", help="a bundle file from `zoo export`, instead of --workdir")
    s.add_argument("--num", type=int, default=1, help="how many versions to write")
    s.add_argument("--temperature", type=float, help="default: the run's (Magenta's 0.99)")
    s.add_argument("--gibbs-steps", type=int, help="annealed Gibbs steps (default: the run's)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="output folder")
    _audio_arguments(s)


def cmd_models(args) -> int:
    import jax

    from zoo.codecs import get_codec
    from zoo.registry import MODEL_NAMES, build_net, default_preset, presets

    print(f"{'model':<16} {'preset':<14} {'codec':<12} {'params':>11}  default data / note")
    for name in MODEL_NAMES:
        for pname, preset in presets(name).items():
            net = build_net(name, preset, get_codec(preset.codec).vocab_size)
            shapes = jax.eval_shape(net.init_params, jax.random.key(0))
            count = sum(x.size for x in jax.tree.leaves(shapes))
            default = " (default)" if pname == default_preset(name) else ""
            print(f"{name:<16} {pname + default:<14} {preset.codec:<12} {count:>11,}  "
                  f"{preset.source or '(your data)'}; {preset.note}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("prepare", help="parse a corpus and encode it with a codec")
    s.add_argument("source", help="embedded-folk | embedded-chorales | midi-dir | bl2012")
    s.add_argument("path", nargs="?", help="folder (midi-dir) or file (bl2012)")
    s.add_argument("--codec", required=True)
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="codec parameter")
    s.add_argument("--out", help="output directory (default: datasets/cache/...)")
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--force", action="store_true", help="prepare again even if cached")
    s.set_defaults(func=cmd_prepare)

    s = sub.add_parser("train", help="train a model (resumes the run directory if it exists)")
    s.add_argument("model")
    s.add_argument("--preset")
    s.add_argument("--data", help="prepared data directory (default: the preset's corpus)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override train.* or model.* settings, e.g. --set steps=1000")
    s.add_argument("--workdir")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="sample MIDI files and PNGs from a trained run")
    s.add_argument("--workdir", help="a run directory")
    s.add_argument("--bundle", help="a bundle file from `zoo export`, instead of --workdir")
    s.add_argument("--num", type=int, default=4)
    s.add_argument("--steps", type=int, help="events per sample (default: the training length)")
    s.add_argument("--primer", help="a MIDI file to continue")
    s.add_argument("--primer-pitches", help="comma-separated MIDI pitches, e.g. 60,62,64")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-k", type=int, default=0)
    s.add_argument("--top-p", type=float, default=1.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out")
    _audio_arguments(s)
    s.add_argument("--chords", help='improv_rnn: the chord progression, e.g. "C G Am F" '
                   "(repeated over primer and sample)")
    s.add_argument("--steps-per-chord", type=int, help="improv_rnn: sixteenths per chord (16)")
    s.add_argument("--density", type=float,
                   help="performance_rnn_conditioned: notes per second to aim for")
    s.add_argument("--pitch-histogram", help="performance_rnn_conditioned: 12 weights from C, "
                   'e.g. "[2,0,1,0,1,1,0,1,0,1,0,1]", or a key such as "C major"')
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("eval", help="NLL per event on valid/test beside n-gram baselines")
    s.add_argument("--workdir", help="a run directory")
    s.add_argument("--bundle", help="a bundle file from `zoo export`, instead of --workdir")
    s.add_argument("--data", help="with --bundle: prepared data (default: the preset's corpus)")
    s.add_argument("--splits", default="valid,test")
    s.add_argument("--metric", help="the metric the report must give, e.g. frame-nll (NLL per "
                   "frame and expected accuracy of piano-roll models); default: the model's own")
    s.add_argument("--samples", type=int, default=0,
                   help="also sample N pieces and compare their music statistics with the data")
    s.add_argument("--seed", type=int, default=0)
    _audio_arguments(s)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("interpolate", help="decode the spherical interpolation of two pieces")
    s.add_argument("a", help="first MIDI file")
    s.add_argument("b", help="second MIDI file")
    s.add_argument("--workdir", required=True)
    s.add_argument("--steps", type=int, default=8)
    s.add_argument("--temperature", type=float, default=0.5)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="MIDI file to write (default WORKDIR/interpolation.mid)")
    s.set_defaults(func=cmd_interpolate)

    s = sub.add_parser("harmonize", help="alto, tenor and bass for a melody (coconet)")
    s.add_argument("midi", help="the melody's MIDI file (its highest voice is the melody)")
    _conditioned_arguments(s)
    s.set_defaults(func=cmd_harmonize)

    s = sub.add_parser("infill", help="redraw erased bars of a piece, the rest kept (coconet)")
    s.add_argument("midi", help="the piece's MIDI file, one voice per track or part")
    s.add_argument("--erase", nargs=2, required=True, metavar=("bars", "RANGE"),
                   help="what to erase: bars 3-4 (from 1, inclusive)")
    _conditioned_arguments(s)
    s.set_defaults(func=cmd_infill)

    s = sub.add_parser("export", help="write a trained run to one portable bundle file")
    s.add_argument("--workdir", required=True)
    s.add_argument("out", help="the bundle file to write, e.g. melody.zoo")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("models", help="every model and preset with its parameter count")
    s.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    import logging

    # orbax logs a failed background write with a traceback, and asyncio logs the same error
    # again ("Task exception was never retrieved") when orbax's write task is collected; the CLI
    # reports it in one line.
    logging.getLogger("absl").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ZooError as e:
        print(f"zoo {args.command}: error: {e}", file=error_stream(), flush=True)
        return 2
    except KeyboardInterrupt:
        print(f"zoo {args.command}: interrupted (a run resumes from its last checkpoint)",
              file=sys.stderr)
        return 130


def entry() -> None:
    """The console script. After a failed command, the one-line error has been printed: noise
    from library threads shutting down (orbax's writers after a failed save) is silenced."""
    quiet_failures()
    code = main()
    if code:
        silence_library_noise()
    sys.exit(code)


if __name__ == "__main__":
    entry()
