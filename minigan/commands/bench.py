"""`minigan bench ops|step`: time minigan against PyTorch in one process, with the same threads, and write the
tables (`--out`). `ops` times each heavy operator, forward and backward, at the layer shapes of the benchmark
DCGANs; `step` times a whole GAN training step (after checking that both frameworks give the same losses)."""

from __future__ import annotations

import os
import tempfile

from minigan.commands.common import Parser, bounded, fail, nonempty

PROG = "minigan bench"
OPS = ["conv2d", "conv_transpose2d", "batch_norm", "leaky_relu", "batch_norm_act"]


def parser() -> Parser:
    from minigan.bench.models import MODELS

    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    which = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    ops = which.add_parser("ops", help="each heavy operator, forward and backward")
    step = which.add_parser("step", help="a full GAN training step")
    for q in (ops, step):
        q.add_argument("--model", nargs="+", default=list(MODELS), choices=list(MODELS),
                       help="benchmark models (default: all)")
        q.add_argument("--threads", type=bounded(int, 1, 1024), default=None, help="threads for both frameworks (default: all cores)")
        q.add_argument("--out", type=nonempty, default=None, help="folder for the results (.json and .md)")
    ops.add_argument("--batch", nargs="+", type=bounded(int, 1, 4096), default=[64, 128], help="batch sizes (default: 64 128)")
    ops.add_argument("--op", nargs="+", default=None, choices=OPS, help="only these operators")
    ops.add_argument("--repeat", type=bounded(int, 1, 1000), default=7, help="timed runs per case, median reported (default: 7)")
    step.add_argument("--batch", nargs="+", type=bounded(int, 1, 4096), default=[64], help="batch sizes (default: 64)")
    step.add_argument("--repeat", type=bounded(int, 1, 1000), default=10, help="timed steps, median reported (default: 10)")
    step.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    step.add_argument("--no-first-step", action="store_true", help="skip the time-to-first-step runs")
    step.add_argument("--profile", action="store_true", help="also break minigan's step down by operator")
    return p


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    from minigan.bench.common import set_threads

    threads = args.threads or os.cpu_count()
    try:
        set_threads(threads)
    except ImportError as error:
        fail(f"{PROG} {args.what}", str(error))
    (_ops if args.what == "ops" else _step)(args, threads)


def _ops(args, threads: int) -> None:
    from minigan.bench.common import machine, markdown_table, write_results
    from minigan.bench.ops import layer_cases, time_case

    rows, results = [], []
    for model in args.model:
        for batch in args.batch:
            for case in layer_cases(model, batch):
                if args.op and case.op not in args.op:
                    continue
                r = time_case(case, args.repeat)
                r.update(model=model, batch=batch)
                results.append(r)
                row = [model, batch, r["op"], r["shape"]]
                for p in ("forward", "backward"):
                    row += [f"{1e3 * r[f'minigan_{p}']['median']:.2f}", f"{1e3 * r[f'torch_{p}']['median']:.2f}",
                            f"{r[f'ratio_{p}']:.2f}"]
                rows.append(row)
                print(" | ".join(map(str, row)), flush=True)
    info = machine(threads)
    header = ["model", "batch", "op", "shape", "fwd minigan ms", "fwd torch ms", "fwd ratio", "bwd minigan ms",
              "bwd torch ms", "bwd ratio"]
    table = markdown_table(header, rows)
    print(f"\n{info}\n\n{table}")
    _write(args.out, "bench_ops", {"machine": info, "results": results}, table, write_results)


def _step(args, threads: int) -> None:
    from minigan.bench.common import machine, markdown_table, timeit, write_results
    from minigan.bench.models import weights
    from minigan.bench.step import (
        Framework,
        GANStep,
        LossesDiffer,
        check_losses,
        first_step_seconds,
        peak_memory,
        profile_step,
    )

    profiles, rows, results = [], [], []
    for model in args.model:
        for batch in args.batch:
            try:
                r = {"model": model, "batch": batch, "losses": check_losses(model, batch)}
            except LossesDiffer as error:
                fail(f"{PROG} step", str(error))
            start = weights(model)
            for name in ("minigan", "torch"):
                r[name] = timeit(GANStep(Framework(name), model, batch, start), args.repeat)
            r["ratio"] = r["minigan"]["median"] / r["torch"]["median"]
            if not args.no_memory:
                r["peak_mb"] = {name: peak_memory(name, model, batch) for name in ("minigan", "torch")}
            if not args.no_first_step:
                with tempfile.TemporaryDirectory() as cache:
                    r["first_step_cold_s"] = first_step_seconds(model, batch, cache)
                    r["first_step_warm_s"] = first_step_seconds(model, batch, cache)
            if args.profile:
                r["profile_ms"] = profile_step(model, batch)
                profiles.append(markdown_table([f"{model}, batch {batch}: minigan step by operator", "ms"],
                                               [[label, f"{ms:.0f}"] for label, ms in r["profile_ms"]]))
            results.append(r)
            mem = r.get("peak_mb", {})
            row = [model, batch, f"{1e3 * r['minigan']['median']:.0f}", f"{1e3 * r['torch']['median']:.0f}",
                   f"{r['ratio']:.2f}", _number(mem.get("minigan"), "{:.0f}"), _number(mem.get("torch"), "{:.0f}"),
                   _number(r.get("first_step_cold_s"), "{:.2f}"), _number(r.get("first_step_warm_s"), "{:.2f}")]
            rows.append(row)
            print(" | ".join(map(str, row)), flush=True)
    info = machine(threads)
    header = ["model", "batch", "minigan ms", "torch ms", "ratio", "minigan peak MB", "torch peak MB",
              "first step cold s", "first step warm s"]
    table = "\n\n".join([markdown_table(header, rows)] + profiles)
    print(f"\n{info}\n\n{table}")
    _write(args.out, "bench_step", {"machine": info, "results": results}, table, write_results)


def _number(value, form: str) -> str:
    return "-" if value is None else form.format(value)


def _write(out, stem: str, payload: dict, table: str, write_results) -> None:
    if not out:
        return
    try:
        paths = write_results(out, stem, payload, table)
    except OSError as error:
        fail(PROG, f"--out: {error}")
    print(f"wrote {paths[0]} and {paths[1]}")
