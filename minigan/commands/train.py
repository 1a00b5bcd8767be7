"""`minigan train MODEL --data DATA ...`: train a GAN, writing samples, loss curves, a JSON-lines log and
checkpoints under --out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minigan.commands.common import Parser, bounded, fail, nonempty

PROG = "minigan train"


def parser(model: str | None = None) -> Parser:
    """The parser of `minigan train`, with the options of `model` (from the model table) when one is named."""
    from minigan.data import DATASETS
    from minigan.models import MODELS

    models = "\n".join(f"  {name:9s} {spec.help}" for name, spec in MODELS.items())
    p = Parser(prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
               description="Train a GAN; writes samples, loss curves, a JSON-lines log and checkpoints under --out.",
               epilog=f"models:\n{models}\n\n`minigan train MODEL --help` also lists MODEL's own options.")
    p.add_argument("model", metavar="MODEL", choices=list(MODELS), help="which GAN: " + ", ".join(MODELS))
    p.add_argument("--data", required=True, choices=DATASETS, help="dataset: " + ", ".join(DATASETS))
    p.add_argument("--data-dir", help="folder holding the dataset's files (mnist, fashion-mnist, cifar10)")
    p.add_argument("--split", default="auto", choices=["auto", "train", "test"],
                   help="which split of a real dataset (auto: train if present, else test)")
    p.add_argument("--size", type=int, choices=[28, 32, 64],
                   help="image size for the image datasets (default: what the model needs)")
    p.add_argument("--color", action="store_true", help="three colour channels (digits, mnist)")
    p.add_argument("--n", type=bounded(int, 1, 1_000_000), help="how many samples to make for the built-in datasets")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to compute (default: cpu)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=bounded(int, 1, 10**9), help="generator updates to train for")
    length.add_argument("--epochs", type=bounded(float, above=0, most=10**6),
                        help="passes over the data to train for (instead of --steps)")
    p.add_argument("--batch", type=bounded(int, 1, 1_000_000), help="batch size")
    p.add_argument("--d-steps", type=bounded(int, 1, 100),
                   help="discriminator updates per generator update (k of Algorithm 1)")
    p.add_argument("--ema", type=bounded(float, above=0, below=1), metavar="DECAY",
                   help="keep a moving average of G's weights (e.g. 0.999)")
    p.add_argument("--out", type=nonempty, help="output folder (default: runs/MODEL-DATA); it holds one run")
    replace = p.add_mutually_exclusive_group()
    replace.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    replace.add_argument("--overwrite", action="store_true",
                         help="start a new run in an --out that holds one, moving the old run to OUT.replaced-DATE")
    p.add_argument("--seed", type=bounded(int, 0, 2**32 - 1), default=0, help="random seed (default: 0)")
    p.add_argument("--sample-every", type=bounded(int, 1, 10**9), help="steps between sample grids and loss plots")
    p.add_argument("--checkpoint-every", type=bounded(int, 1, 10**9), help="steps between checkpoints")
    p.add_argument("--keep", type=bounded(int, 1, 10**6), default=3,
                   help="how many of the newest checkpoints to keep (default: 3)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    if model in MODELS:
        group = p.add_argument_group(f"{model} options (from the model table, minigan.models.MODELS)")
        for name, option in MODELS[model].options.items():
            flag = option.flag or "--" + name.replace("_", "-")
            if option.type is bool:
                group.add_argument(flag, dest=f"model_{name}", action=argparse.BooleanOptionalAction,
                                   default=option.default, help=option.help)
            else:
                shown = ",".join(map(str, option.default)) if isinstance(option.default, tuple) else option.default
                metavar = None if option.choices else flag[2:].upper().replace("-", "_")
                group.add_argument(flag, dest=f"model_{name}", type=option.type if option.choices else _checked(option),
                                   default=option.default, choices=option.choices, metavar=metavar,
                                   help=f"{option.help} (default: {shown})")
    return p


def _checked(option):
    """An argparse type for a model option: read as the option's type, then checked against its range."""

    def read(text: str):
        try:
            return option.check(option.type(text))
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    read.__name__ = getattr(option.type, "__name__", "value")
    return read


def main(argv: list[str]) -> None:
    import minigan as mg
    from minigan import backend
    from minigan.data import Loader, load
    from minigan.models import MODELS, build
    from minigan.nn.module import parameter_budget
    from minigan.train.memory import available_bytes, step_bytes
    from minigan.train.run import RunExistsError, RunFolderError
    from minigan.train.trainer import TrainConfig, Trainer, TrainingDiverged, TrainingInterrupted

    model = next((a for a in argv if a in MODELS), None)  # its options join the parser (no dataset shares a name)
    args = parser(model).parse_args(argv)
    spec = MODELS[args.model]
    try:
        backend.check_device(args.device)
    except (RuntimeError, ValueError) as error:
        fail(PROG, str(error))
    data_options = {"split": args.split, "size": args.size or spec.training.get("size"), "color": args.color,
                    "n": args.n, "seed": args.seed}
    try:
        dataset = load(args.data, args.data_dir, **data_options)
    except (ValueError, OSError) as error:
        fail(PROG, f"{args.data}: {error}")
    batch = args.batch or spec.training["batch"]
    if len(dataset) == 0:
        fail(PROG, f"{args.data}: the data set is empty")
    if batch > len(dataset):
        fail(PROG, f"--batch {batch} is larger than the data set ({len(dataset)} samples): give a smaller --batch")
    options = {name[len("model_"):]: value for name, value in vars(args).items() if name.startswith("model_")}
    memory = available_bytes()
    mg.manual_seed(args.seed)  # the initial weights follow the seed
    try:
        with parameter_budget(memory // 16 if memory else 2**62):  # weights, gradients and two optimizer moments
            gan = build(args.model, dataset.sample_shape, dataset.num_classes, **options)
    except ValueError as error:
        fail(PROG, str(error))
    if memory and args.device == "cpu":
        try:
            need = step_bytes(gan, dataset.x, dataset.y, batch)
        except ValueError as error:
            fail(PROG, str(error))
        if need > memory:
            fail(PROG, f"--batch {batch}: a training step of this model needs about {need / 2**30:.1f} GiB, more "
                       f"than the {memory / 2**30:.1f} GiB of memory available: give a smaller --batch or model")
    d_steps = args.d_steps or spec.training["d_steps"]
    steps = args.steps
    if steps is None:
        per_epoch = len(Loader(dataset, batch)) // d_steps
        steps = max(1, round(args.epochs * per_epoch)) if args.epochs is not None else spec.training["steps"]
    sample_every = args.sample_every or max(1, min(100, steps // 10 or 1))
    config = TrainConfig(out=args.out or f"runs/{args.model}-{args.data}", steps=steps, batch=batch, d_steps=d_steps,
                         sample_every=sample_every, checkpoint_every=args.checkpoint_every or max(steps // 4, 1),
                         keep=args.keep, ema=args.ema, seed=args.seed, device=args.device, progress=not args.quiet,
                         samples=64 if len(dataset.sample_shape) == 3 else 1000)  # a grid of images, a cloud of points
    meta = {"model": args.model, "options": options, "sample_shape": list(dataset.sample_shape),
            "num_classes": dataset.num_classes,
            "data": {"name": args.data, **{k: v for k, v in data_options.items() if v is not None}}}
    trainer = Trainer(gan, dataset, config, meta)
    out = config.out
    try:
        if args.overwrite:
            trainer.folder.claim()
            if trainer.folder.holds_a_run():
                print(f"moved the old run in {out} to {trainer.folder.move_aside()}")
        if args.resume:
            try:
                resumed = trainer.resume()
            except RunFolderError:
                raise
            except ValueError as error:  # a checkpoint of another run, or none that reads
                fail(PROG, f"--resume: {error}")
            if not resumed:
                fail(PROG, f"--resume: no checkpoint under {Path(out) / 'checkpoints'}")
            if trainer.step >= steps:
                fail(PROG, f"--steps {steps}: the run in {out} is already at step {trainer.step}; give more --steps")
        trainer.run()
    except RunExistsError:
        fail(PROG, f"--out {out} already holds a run: continue it with --resume, train into a new --out folder, or "
                   "replace it with --overwrite (the old run is moved aside, not deleted)")
    except RunFolderError as error:
        fail(PROG, f"--out: {error}")
    except TrainingDiverged as error:
        fail(PROG, str(error))
    except TrainingInterrupted as error:
        sys.stderr.write(f"{PROG}: {error}; continue with --resume\n")
        raise SystemExit(130) from None
    except OSError as error:  # a full disk, a folder made read-only under a running run, ...
        kept = f"; the last checkpoint written is {trainer.last_checkpoint}" if trainer.last_checkpoint else ""
        fail(PROG, f"cannot write {error.filename or out}: {error.strerror or error}{kept}")
    print(f"trained {args.model} on {args.data} for {trainer.step} steps: samples in {out}/samples, "
          f"loss curves in {out}/losses.png, checkpoint {trainer.last_checkpoint}")
