"""The `minigan` command: train a GAN, draw samples from a checkpoint, or time minigan against PyTorch."""

from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from pathlib import Path

DESCRIPTION = "minigan: generative adversarial networks on a from-scratch array framework"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _fail(prog: str, message: str):
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(2)


# ---- minigan train ----
def _train_parser(model: str | None) -> _Parser:
    from minigan.data import DATASETS
    from minigan.models import MODELS
    from minigan.train.objectives import OBJECTIVES

    models = "\n".join(f"  {name:9s} {spec.help}" for name, spec in MODELS.items())
    p = _Parser(prog="minigan train", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Train a GAN; writes samples, loss curves, a JSON-lines log and checkpoints under --out.",
                epilog=f"models:\n{models}\n\n`minigan train MODEL --help` also lists MODEL's own options.")
    p.add_argument("model", metavar="MODEL", choices=list(MODELS), help="which GAN: " + ", ".join(MODELS))
    p.add_argument("--data", required=True, choices=DATASETS, help="dataset: " + ", ".join(DATASETS))
    p.add_argument("--data-dir", help="folder holding the dataset's files (mnist, fashion-mnist, cifar10)")
    p.add_argument("--split", default="auto", choices=["auto", "train", "test"],
                   help="which split of a real dataset (auto: train if present, else test)")
    p.add_argument("--size", type=int, help="image size for the image datasets (default: what the model needs)")
    p.add_argument("--color", action="store_true", help="three colour channels (digits, mnist)")
    p.add_argument("--n", type=int, help="how many samples to make for the built-in datasets")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to compute (default: cpu)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="generator updates to train for")
    length.add_argument("--epochs", type=float, help="passes over the data to train for (instead of --steps)")
    p.add_argument("--batch", type=int, help="batch size")
    p.add_argument("--d-steps", type=int, help="discriminator updates per generator update (k of Algorithm 1)")
    p.add_argument("--lr", type=float, help="learning rate of both networks (default: the model's)")
    p.add_argument("--objective", choices=OBJECTIVES, help="the GAN loss (default: the model's)")
    p.add_argument("--label-smoothing", type=float, metavar="TARGET",
                   help="one-sided label smoothing: the real samples' target, e.g. 0.9")
    p.add_argument("--feature-matching", action="store_true", help="train G to match D's mean features")
    p.add_argument("--ema", type=float, metavar="DECAY", help="keep a moving average of G's weights (e.g. 0.999)")
    p.add_argument("--out", help="output folder (default: runs/MODEL-DATA)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint under --out")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--sample-every", type=int, help="steps between sample grids and loss plots")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    p.add_argument("--keep", type=int, default=3, help="how many checkpoints to keep (default: 3)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    if model in MODELS:
        group = p.add_argument_group(f"{model} options")
        for name, (kind, default, text) in MODELS[model].options.items():
            flag = "--" + name.replace("_", "-")
            if kind is bool:
                group.add_argument(flag, dest=f"model_{name}", action=argparse.BooleanOptionalAction,
                                   default=default, help=text)
            else:
                group.add_argument(flag, dest=f"model_{name}", type=kind, default=default,
                                   help=f"{text} (default: {default})")
    return p


def _train(argv: list[str]) -> None:
    import minigan as mg
    from minigan import backend
    from minigan.data import Loader, load
    from minigan.models import MODELS, build
    from minigan.train.trainer import TrainConfig, Trainer, TrainingDiverged

    model = next((a for a in argv if a in MODELS), None)  # its options join the parser (no dataset shares a name)
    args = _train_parser(model).parse_args(argv)
    prog = "minigan train"
    spec = MODELS[args.model]
    try:
        backend.check_device(args.device)
    except (RuntimeError, ValueError) as error:
        _fail(prog, str(error))
    data_options = {"split": args.split, "size": args.size or spec.defaults.get("size"), "color": args.color,
                    "n": args.n, "seed": args.seed}
    try:
        dataset = load(args.data, args.data_dir, **data_options)
    except (ValueError, OSError) as error:
        _fail(prog, f"{args.data}: {error}")
    options = {name[len("model_"):]: value for name, value in vars(args).items() if name.startswith("model_")}
    shared = {"objective": args.objective, "lr": args.lr, "feature_matching": args.feature_matching or None,
              "real_label": args.label_smoothing}
    accepted = inspect.signature(spec.build).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    for name, value in shared.items():
        if value is not None:
            if not (takes_any or name in accepted):
                _fail(prog, f"model {args.model} does not take --{name.replace('_', '-')}")
            options[name] = value
    mg.manual_seed(args.seed)  # the initial weights follow the seed
    try:
        gan = build(args.model, dataset.sample_shape, dataset.num_classes, **options)
    except ValueError as error:
        _fail(prog, str(error))
    defaults = spec.defaults
    batch = args.batch or defaults.get("batch", 64)
    d_steps = args.d_steps or defaults.get("d_steps", gan.d_steps)
    steps = args.steps
    if steps is None:
        per_epoch = len(Loader(dataset, batch)) // d_steps
        steps = round(args.epochs * per_epoch) if args.epochs is not None else defaults.get("steps", 1000)
    sample_every = args.sample_every or defaults.get("sample_every", max(1, min(100, steps // 10 or 1)))
    config = TrainConfig(out=args.out or f"runs/{args.model}-{args.data}", steps=steps, batch=batch, d_steps=d_steps,
                         sample_every=sample_every, checkpoint_every=args.checkpoint_every or max(steps // 4, 1),
                         keep=args.keep, ema=args.ema, seed=args.seed, device=args.device, progress=not args.quiet,
                         samples=64 if len(dataset.sample_shape) == 3 else 1000)  # a grid of images, a cloud of points
    meta = {"model": args.model, "options": options, "sample_shape": list(dataset.sample_shape),
            "num_classes": dataset.num_classes,
            "data": {"name": args.data, **{k: v for k, v in data_options.items() if v is not None}}}
    trainer = Trainer(gan, dataset, config, meta)
    if args.resume and not trainer.resume():
        _fail(prog, f"--resume: no checkpoint under {Path(config.out) / 'checkpoints'}")
    try:
        trainer.run()
    except TrainingDiverged as error:
        _fail(prog, str(error))
    print(f"trained {args.model} on {args.data} for {trainer.step} steps: samples in {config.out}/samples, "
          f"loss curves in {config.out}/losses.png, checkpoint {trainer.last_checkpoint}")


# ---- minigan sample ----
def _sample(argv: list[str]) -> None:
    p = _Parser(prog="minigan sample", description="Draw samples from a checkpoint written by `minigan train`.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint .npz, or a run folder (its latest one)")
    p.add_argument("--n", type=int, default=64, help="how many samples (default: 64)")
    p.add_argument("--out", default="samples.png", help="the PNG to write (default: samples.png)")
    p.add_argument("--labels", type=int, nargs="+", help="class labels for a conditional model, repeated to --n")
    p.add_argument("--interpolate", action="store_true",
                   help="rows that walk in a straight line between two random latent points")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--no-ema", action="store_true", help="use G's own weights even if a moving average was kept")
    args = p.parse_args(argv)
    prog = "minigan sample"
    import numpy

    import minigan as mg
    from minigan import viz
    from minigan.train.checkpoint import load_gan

    if args.n < 1:
        _fail(prog, f"--n must be at least 1, got {args.n}")
    try:
        gan, state, _ = load_gan(args.checkpoint, ema=not args.no_ema)
    except (ValueError, OSError) as error:
        _fail(prog, str(error))
    meta = state["meta"]
    mg.manual_seed(args.seed)
    conditional = "labels" in inspect.signature(gan.sample_latent).parameters
    if args.labels is not None:
        if not conditional:
            _fail(prog, f"--labels: model {meta['model']} is not conditional")
        if min(args.labels) < 0 or max(args.labels) >= meta["num_classes"]:
            _fail(prog, f"--labels must lie in [0, {meta['num_classes']}), got {args.labels}")
    if args.interpolate:
        side = max(2, int(numpy.sqrt(args.n)))
        latent = _interpolation(gan, side, args.labels, conditional)
    else:
        labels = None if args.labels is None else mg.tensor(numpy.resize(args.labels, args.n))
        latent = gan.sample_latent(args.n, labels=labels) if conditional else gan.sample_latent(args.n)
    gan.g.eval()
    with mg.no_grad():
        fake = gan.generate(latent)
    if fake.ndim == 4:
        viz.save_grid(fake, args.out, nrow=side if args.interpolate else None, scale=2)
    else:
        viz.plot_points(fake.numpy(), args.out, title=f"{meta['model']}: {args.n} samples")
    print(f"wrote {args.out}")


def _interpolation(gan, side: int, labels, conditional: bool) -> dict:
    """side rows of side points each, on the segment between two random latents per row (integer entries, such
    as class labels, stay those of the row's start)."""
    import minigan as mg

    def draw():
        if not conditional:
            return gan.sample_latent(side)
        return gan.sample_latent(side, labels=None if labels is None else mg.tensor(
            [labels[i % len(labels)] for i in range(side)]))

    start, end = draw(), draw()
    latent = {}
    for key, a in start.items():
        if a.dtype.kind == "f":
            t = mg.tensor([(j / (side - 1)) for j in range(side)], dtype=a.dtype).reshape((1, side) + (1,) * (a.ndim - 1))
            rows = a.unsqueeze(1) * (1 - t) + end[key].unsqueeze(1) * t
        else:
            rows = a.unsqueeze(1).expand(side, side, *a.shape[1:])
        latent[key] = rows.reshape((side * side,) + tuple(a.shape[1:]))
    return latent


# ---- minigan ----
def _warning_line(message, category, filename, lineno, line=None) -> str:
    """Warnings on the command line as one plain line, without the source location."""
    return f"minigan: warning: {message}\n"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.formatwarning = _warning_line
    parser = _Parser(prog="minigan", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("train", add_help=False, help="train a GAN (minigan train --help)")
    commands.add_parser("sample", add_help=False, help="draw samples from a checkpoint (minigan sample --help)")
    bench = commands.add_parser("bench", add_help=False,
                                help="time minigan against PyTorch: 'bench ops' (each heavy operator) or 'bench step' "
                                     "(a training step); add --help after either for its options")
    bench.add_argument("what", choices=["ops", "step"])
    commands.add_parser("eval", add_help=False, help="score a checkpoint's samples (minigan eval --help)")
    commands.add_parser("experiment", add_help=False,
                        help="reproduce a published claim, writing a PNG and a JSON (minigan experiment --help)")
    separate = ("train", "sample", "eval", "experiment")
    args, rest = parser.parse_known_args(argv[:1] if argv and argv[0] in separate else argv)
    if args.command == "train":
        _train(argv[1:])
    elif args.command == "sample":
        _sample(argv[1:])
    elif args.command == "eval":
        from minigan.metrics import evaluate

        evaluate.main(argv[1:])
    elif args.command == "experiment":
        from minigan.experiments import runner

        runner.main(argv[1:])
    else:
        from minigan.bench import ops, step

        {"ops": ops, "step": step}[args.what].main(rest)


if __name__ == "__main__":
    main()
