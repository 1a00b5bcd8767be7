"""`minigan sample CHECKPOINT`: draw samples from a checkpoint written by `minigan train`, as a picture."""

from __future__ import annotations

import os

from minigan.commands.common import Parser, bounded, fail, nonempty

PROG = "minigan sample"
MOST_IMAGES = 10_000  # a grid of more is no longer a picture a person looks at
MOST_POINTS = 1_000_000
BATCH = 500  # samples generated at once


def parser() -> Parser:
    p = Parser(prog=PROG, description="Draw samples from a checkpoint written by `minigan train`.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint file, or a run folder (its newest one)")
    p.add_argument("--n", type=bounded(int, 1, MOST_POINTS), default=64,
                   help=f"how many samples (default: 64; at most {MOST_IMAGES} images or {MOST_POINTS} points)")
    p.add_argument("--out", type=nonempty, default="samples.png", help="the PNG to write (default: samples.png)")
    p.add_argument("--labels", type=bounded(int, 0, 100_000), nargs="+",
                   help="class labels for a conditional model, repeated to --n")
    p.add_argument("--interpolate", action="store_true",
                   help="rows that walk in a straight line between two random latent points")
    p.add_argument("--seed", type=bounded(int, 0, 2**32 - 1), default=0, help="random seed (default: 0)")
    p.add_argument("--no-ema", action="store_true", help="use G's own weights even if a moving average was kept")
    return p


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    import numpy

    import minigan as mg
    from minigan import viz
    from minigan.train.checkpoint import load_gan

    folder = os.path.dirname(os.path.abspath(args.out))
    if os.path.isdir(args.out):
        fail(PROG, f"--out {args.out} is a folder: give the path of the PNG to write")
    if not os.path.isdir(folder):
        fail(PROG, f"--out {args.out}: the folder {folder} does not exist")
    try:
        gan, state, path = load_gan(args.checkpoint, ema=not args.no_ema)
    except (ValueError, OSError) as error:
        fail(PROG, str(error))
    meta = state["meta"]
    if len(gan.sample_shape) == 3 and args.n > MOST_IMAGES:
        fail(PROG, f"--n {args.n}: a grid holds at most {MOST_IMAGES} images")
    mg.manual_seed(args.seed)
    if args.labels is not None:
        if not gan.conditional:
            fail(PROG, f"--labels: model {meta['model']} is not conditional")
        if min(args.labels) < 0 or max(args.labels) >= meta["num_classes"]:
            fail(PROG, f"--labels must lie in [0, {meta['num_classes']}), got {args.labels}")
    if args.interpolate:
        side = max(2, int(numpy.sqrt(args.n)))
        latent = _interpolation(gan, side, args.labels)
        fake = numpy.concatenate([gan.draw({key: v[start:start + BATCH] for key, v in latent.items()}).numpy()
                                  for start in range(0, side * side, BATCH)])
    else:
        labels = None if args.labels is None else numpy.resize(args.labels, args.n)
        parts = []
        for start in range(0, args.n, BATCH):  # in batches: the memory a draw needs stays that of one batch
            part = None if labels is None else mg.tensor(labels[start:start + BATCH])
            parts.append(gan.draw(gan.sample_latent(min(BATCH, args.n - start), labels=part)).numpy())
        fake = numpy.concatenate(parts)
    if not numpy.isfinite(fake).all():
        fail(PROG, f"{path}: the generator's samples contain NaN or infinite values (a run that diverged?)")
    try:
        if fake.ndim == 4:
            viz.save_grid(fake, args.out, nrow=side if args.interpolate else None, scale=2)
        else:
            viz.plot_points(fake, args.out, title=f"{meta['model']}: {args.n} samples")
    except OSError as error:
        fail(PROG, f"--out {args.out}: {error.strerror or error}")
    print(f"wrote {args.out}")


def _interpolation(gan, side: int, labels) -> dict:
    """side rows of side points each, on the segment between two random latents per row (integer entries, such
    as class labels, stay those of the row's start)."""
    import minigan as mg

    def draw():
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
