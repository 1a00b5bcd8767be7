"""`minigan train MODEL --data DATA ...`: train a GAN, writing samples, loss curves, a JSON-lines log and
checkpoints under --out."""

from __future__ import annotations

import argparse
from pathlib import Path

from minigan.commands.common import Parser, check_at_least, fail

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
    p.add_argument("--size", type=int, help="image size for the image datasets (default: what the model needs)")
    p.add_argument("--color", action="store_true", help="three colour channels (digits, mnist)")
    p.add_argument("--n", type=int, help="how many samples to make for the built-in datasets")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to compute (default: cpu)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="generator updates to train for")
    length.add_argument("--epochs", type=float, help="passes over the data to train for (instead of --steps)")
    p.add_argument("--batch", type=int, help="batch size")
    p.add_argument("--d-steps", type=int, help="discriminator updates per generator update (k of Algorithm 1)")
    p.add_argument("--ema", type=float, metavar="DECAY", help="keep a moving average of G's weights (e.g. 0.999)")
    p.add_argument("--out", help="output folder (default: runs/MODEL-DATA)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint under --out")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--sample-every", type=int, help="steps between sample grids and loss plots")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    p.add_argument("--keep", type=int, default=3, help="how many checkpoints to keep, 0 for all (default: 3)")
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
                group.add_argument(flag, dest=f"model_{name}", type=option.type, default=option.default,
                                   choices=option.choices, metavar=None if option.choices else flag[2:].upper().replace("-", "_"),
                                   help=f"{option.help} (default: {shown})")
    return p


def main(argv: list[str]) -> None:
    import minigan as mg
    from minigan import backend
    from minigan.data import Loader, load
    from minigan.models import MODELS, build
    from minigan.train.trainer import TrainConfig, Trainer, TrainingDiverged

    model = next((a for a in argv if a in MODELS), None)  # its options join the parser (no dataset shares a name)
    args = parser(model).parse_args(argv)
    check_at_least(PROG, {"--steps": (args.steps, 0), "--batch": (args.batch, 1), "--d-steps": (args.d_steps, 1),
                          "--sample-every": (args.sample_every, 1), "--checkpoint-every": (args.checkpoint_every, 1),
                          "--keep": (args.keep, 0), "--n": (args.n, 1)})
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
    options = {name[len("model_"):]: value for name, value in vars(args).items() if name.startswith("model_")}
    mg.manual_seed(args.seed)  # the initial weights follow the seed
    try:
        gan = build(args.model, dataset.sample_shape, dataset.num_classes, **options)
    except ValueError as error:
        fail(PROG, str(error))
    batch = args.batch or spec.training["batch"]
    d_steps = args.d_steps or spec.training["d_steps"]
    steps = args.steps
    if steps is None:
        per_epoch = len(Loader(dataset, batch)) // d_steps
        steps = round(args.epochs * per_epoch) if args.epochs is not None else spec.training["steps"]
    sample_every = args.sample_every or max(1, min(100, steps // 10 or 1))
    config = TrainConfig(out=args.out or f"runs/{args.model}-{args.data}", steps=steps, batch=batch, d_steps=d_steps,
                         sample_every=sample_every, checkpoint_every=args.checkpoint_every or max(steps // 4, 1),
                         keep=args.keep, ema=args.ema, seed=args.seed, device=args.device, progress=not args.quiet,
                         samples=64 if len(dataset.sample_shape) == 3 else 1000)  # a grid of images, a cloud of points
    meta = {"model": args.model, "options": options, "sample_shape": list(dataset.sample_shape),
            "num_classes": dataset.num_classes,
            "data": {"name": args.data, **{k: v for k, v in data_options.items() if v is not None}}}
    trainer = Trainer(gan, dataset, config, meta)
    if args.resume and not trainer.resume():
        fail(PROG, f"--resume: no checkpoint under {Path(config.out) / 'checkpoints'}")
    try:
        trainer.run()
    except TrainingDiverged as error:
        fail(PROG, str(error))
    print(f"trained {args.model} on {args.data} for {trainer.step} steps: samples in {config.out}/samples, "
          f"loss curves in {config.out}/losses.png, checkpoint {trainer.last_checkpoint}")
