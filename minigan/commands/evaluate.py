"""`minigan eval CHECKPOINT`: score a trained generator's samples with the metrics that fit its data set.

- ring8, grid25 (2-D Gaussian mixtures): modes covered, fraction of high-quality samples and reverse KL
  (minigan.metrics.evaluate.evaluate_mixture).
- digits, mnist, fashion-mnist: FID-LeNet, classifier score and precision/recall, all from a DigitClassifier
  trained on the same data set (minigan.metrics.classifier.load_classifier, cached after its first training). The
  real set: n images picked at random (by --seed) from the data set as the run loaded it, or all of them when it
  has fewer.

The generator is rebuilt from the checkpoint's metadata, as `minigan sample` does, with its moving-average
weights when the run kept them (unless --no-ema).
"""

from __future__ import annotations

import sys

import numpy

from minigan.commands.common import Parser, bounded, fail, nonempty

PROG = "minigan eval"
CLASSIFIED = ("digits", "mnist", "fashion-mnist")
MIXTURES = ("ring8", "grid25")


def parser() -> Parser:
    from minigan.metrics.classifier import DEFAULT_STEPS

    p = Parser(prog=PROG, description="Score the samples of a checkpoint written by `minigan train`: mode coverage "
                                      "for ring8/grid25; FID-LeNet, classifier score and precision/recall for "
                                      "digits, mnist and fashion-mnist.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint .safetensors, or a run folder (its latest one)")
    p.add_argument("--n", type=bounded(int, 2, 1_000_000), default=10000, help="how many samples to draw and score (default: 10000)")
    p.add_argument("--data-dir", help="folder holding the data set's files (mnist, fashion-mnist)")
    p.add_argument("--json", type=nonempty, metavar="OUT", help="also write the results to this JSON file")
    p.add_argument("--no-ema", action="store_true", help="use G's own weights even if a moving average was kept")
    p.add_argument("--seed", type=bounded(int, 0, 2**32 - 1), default=0,
                   help="random seed of the samples and of the real images picked (default: 0)")
    p.add_argument("--k", type=bounded(int, 1, 1000), default=3, help="neighbours that set the manifolds' radii in precision/recall "
                                                    "(default: 3)")
    p.add_argument("--batch", type=bounded(int, 1, 100_000), default=500, help="samples generated and classified at once (default: 500)")
    p.add_argument("--classifier-steps", type=bounded(int, 1, 10**6), default=DEFAULT_STEPS,
                   help=f"training steps of the feature classifier, trained once and cached (default: {DEFAULT_STEPS})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


MAX_N = 1_000_000  # as `minigan train --n`: every run it starts can be evaluated
_DATA_OPTIONS = {  # what `minigan train` stores in meta["data"] besides the name, and the values it can store
    "split": ("'auto', 'train' or 'test'", lambda v: type(v) is str and v in ("auto", "train", "test")),
    "size": ("28, 32 or 64", lambda v: type(v) is int and v in (28, 32, 64)),
    "color": ("true or false", lambda v: type(v) is bool),
    "n": (f"an integer from 1 to {MAX_N}", lambda v: type(v) is int and 1 <= v <= MAX_N),
    "seed": ("an integer from 0 to 2**32 - 1", lambda v: type(v) is int and 0 <= v < 2**32),
}


def _real_data(meta: dict, data_dir: str | None):
    """The data set the run trained on, rebuilt from the options the checkpoint stores, after checking them (the
    file is not trusted: a stored n would otherwise decide how much memory is spent)."""
    from minigan.data import load

    stored = meta.get("data")
    if not isinstance(stored, dict) or not all(isinstance(key, str) for key in stored):
        raise ValueError(f"the checkpoint's data description is {stored!r:.80}, not a dict of options")
    options = dict(stored)
    name = options.pop("name", None)
    if not isinstance(name, str) or name not in MIXTURES + CLASSIFIED:
        raise ValueError(f"no metrics for data set {name!r:.80}: minigan eval scores "
                         f"{', '.join(MIXTURES + CLASSIFIED)}")
    for key, value in options.items():
        if key not in _DATA_OPTIONS:
            raise ValueError(f"the checkpoint stores an unknown data option {key!r:.80}: expected some of "
                             f"{', '.join(_DATA_OPTIONS)}")
        wanted, valid = _DATA_OPTIONS[key]
        if not valid(value):
            raise ValueError(f"the checkpoint's data option {key} must be {wanted}, got {value!r:.80}")
    if name not in MIXTURES + ("digits",) and data_dir is None:
        raise FileNotFoundError(f"{name}: pass --data-dir, the folder that holds its files")
    return load(name, data_dir, **options)


def _print(report: dict) -> None:
    ema = ", moving-average weights" if report["ema"] else ""
    print(f"{report['checkpoint']}: {report['model']} on {report['data']}, step {report['step']}, "
          f"{report['n']} samples{ema}")
    metrics = report["metrics"]
    if "modes_covered" in metrics:
        print(f"  modes covered     {metrics['modes_covered']} / {metrics['num_modes']}")
        print(f"  high quality      {metrics['high_quality']:.4f}")
        print(f"  reverse KL        {metrics['reverse_kl']:.4f}")
        return
    clf = report["classifier"]
    print(f"  FID-LeNet         {metrics['fid_lenet']:.4f}   ({report['n_real']} real images)")
    print(f"  classifier score  {metrics['classifier_score']:.4f}   (real images: "
          f"{metrics['classifier_score_real']:.4f})")
    print(f"  precision         {metrics['precision']:.4f}   (k = {report['k']})")
    print(f"  recall            {metrics['recall']:.4f}")
    print(f"  (classifier trained on {clf['dataset']} for {clf['steps']} steps, held-out accuracy "
          f"{clf['accuracy']:.4f})")


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    import minigan as mg
    from minigan.metrics.evaluate import evaluate_images, evaluate_mixture
    from minigan.train.checkpoint import load_gan

    progress = not args.quiet and sys.stderr.isatty()
    try:
        gan, state, path = load_gan(args.checkpoint, ema=not args.no_ema)
    except (ValueError, OSError) as error:
        fail(PROG, str(error))
    meta = state["meta"]
    try:
        real = _real_data(meta, args.data_dir)
    except (ValueError, OSError) as error:
        fail(PROG, str(error))
    data = meta["data"]["name"]
    mg.manual_seed(args.seed)
    fake = gan.samples(args.n, args.batch, progress=progress)
    if not numpy.isfinite(fake).all():
        fail(PROG, f"{path}: the generator's samples contain NaN or infinite values")
    report = {"checkpoint": str(path), "model": meta["model"], "data": data, "step": state.get("step"), "n": args.n,
              "ema": state.get("ema") is not None and not args.no_ema, "seed": args.seed}
    try:
        if data in MIXTURES:
            report["metrics"] = evaluate_mixture(fake, real)
        else:
            from minigan.metrics.classifier import load_classifier

            clf = load_classifier(data, args.data_dir, steps=args.classifier_steps, progress=progress)
            subset = numpy.random.default_rng(args.seed).permutation(len(real))[:args.n]
            real_images = real.x[numpy.sort(subset)]
            report.update(n_real=len(real_images), k=args.k,
                          classifier={"dataset": data, "steps": args.classifier_steps, "accuracy": clf.accuracy})
            report["metrics"] = evaluate_images(fake, real_images, clf, args.k, progress)
    except (ValueError, OSError) as error:
        fail(PROG, str(error))
    _print(report)
    if args.json:
        from minigan.files import write_json

        try:
            write_json(args.json, report)
        except OSError as error:
            fail(PROG, f"--json: {error}")
        print(f"wrote {args.json}")
