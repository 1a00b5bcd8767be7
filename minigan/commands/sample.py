"""`minigan sample CHECKPOINT`: draw samples from a checkpoint written by `minigan train`, as a picture."""

from __future__ import annotations

from minigan.commands.common import Parser, check_at_least, fail

PROG = "minigan sample"


def parser() -> Parser:
    p = Parser(prog=PROG, description="Draw samples from a checkpoint written by `minigan train`.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint .npz, or a run folder (its latest one)")
    p.add_argument("--n", type=int, default=64, help="how many samples (default: 64)")
    p.add_argument("--out", default="samples.png", help="the PNG to write (default: samples.png)")
    p.add_argument("--labels", type=int, nargs="+", help="class labels for a conditional model, repeated to --n")
    p.add_argument("--interpolate", action="store_true",
                   help="rows that walk in a straight line between two random latent points")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--no-ema", action="store_true", help="use G's own weights even if a moving average was kept")
    return p


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    import numpy

    import minigan as mg
    from minigan import viz
    from minigan.train.checkpoint import load_gan

    check_at_least(PROG, {"--n": (args.n, 1)})
    try:
        gan, state, _ = load_gan(args.checkpoint, ema=not args.no_ema)
    except (ValueError, OSError) as error:
        fail(PROG, str(error))
    meta = state["meta"]
    mg.manual_seed(args.seed)
    if args.labels is not None:
        if not gan.conditional:
            fail(PROG, f"--labels: model {meta['model']} is not conditional")
        if min(args.labels) < 0 or max(args.labels) >= meta["num_classes"]:
            fail(PROG, f"--labels must lie in [0, {meta['num_classes']}), got {args.labels}")
    if args.interpolate:
        side = max(2, int(numpy.sqrt(args.n)))
        latent = _interpolation(gan, side, args.labels)
    else:
        labels = None if args.labels is None else mg.tensor(numpy.resize(args.labels, args.n))
        latent = gan.sample_latent(args.n, labels=labels)
    fake = gan.draw(latent)
    if fake.ndim == 4:
        viz.save_grid(fake, args.out, nrow=side if args.interpolate else None, scale=2)
    else:
        viz.plot_points(fake.numpy(), args.out, title=f"{meta['model']}: {args.n} samples")
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
