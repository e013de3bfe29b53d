"""The lecture-7 lab's headless commands, registered into engine.cli's parser (no Qt here).

    python main.py optimizers --surface taco --optimizers sgd,momentum,adam --lr sgd=1.9 --steps 100 --json
    python main.py optimizers --surface saddle --noise 0.05 --start -1.5,0.001
    python main.py softmax 5 2 -1 3 --json
    python main.py batchnorm --dataset digits --bn --steps 300 --every 20 --json
    python main.py average --optimizer sgd --lr 1 --batch-size 16 --steps 600 --decay 0.98 --json
    python main.py augment --dataset digits --preprocess none --subset 200 --steps 600 --json

Mistakes raise engine.errors' errors: engine.cli turns them into one line and exit status 2.
"""
from __future__ import annotations

import argparse
from typing import Callable

from ..errors import ConfigError


def add_lab_parsers(sub, number, integer, config_flags) -> None:
    """Add the lab's subcommands to engine.cli's subparsers (`number`, `integer`: its flag types;
    `config_flags(parser)`: its run-configuration flags)."""
    from ..train.config import OPTIMIZERS
    from .surface_names import DEFAULT_CONDITION, SURFACES  # (not .surfaces: it imports torch)
    o = sub.add_parser("optimizers", help="race torch optimizers on a 2-D loss surface")
    o.add_argument("--surface", choices=SURFACES, default="taco")
    o.add_argument("--condition", type=number, default=DEFAULT_CONDITION,
                   help="taco shell: ratio of the steep to the shallow curvature")
    o.add_argument("--noise", type=number, default=0.0, help="gradient noise std per coordinate (as a minibatch gives)")
    o.add_argument("--optimizers", default="sgd,momentum,adam", metavar="A,B,...", help=f"from {','.join(OPTIMIZERS)}")
    o.add_argument("--lr", default="", metavar="NAME=LR,...", help="learning rates (others: the surface's own)")
    o.add_argument("--start", default=None, metavar="X,Y",
                   help="the common start, e.g. --start=-1.5,0.5 (with =: a leading minus reads as a flag); default: the surface's")
    o.add_argument("--steps", type=integer, default=100)
    o.add_argument("--seed", type=integer, default=0, help="the gradient noise's seed")
    o.add_argument("--json", action="store_true")
    s = sub.add_parser("softmax", help="softmax of a logit vector, step by step (t = e^z, a = t / sum t)")
    s.add_argument("logits", type=number, nargs="+", metavar="Z")
    s.add_argument("--label", type=integer, default=None, help="the true class: also print its loss -log a_y")
    s.add_argument("--json", action="store_true")
    b = sub.add_parser("batchnorm", help="batch norm at test time: batch vs running statistics, eval vs train mode")
    config_flags(b)
    b.add_argument("--every", type=integer, default=10, help="read every N steps (and the first and last)")
    b.add_argument("--test-batch", type=integer, default=None, help="train-mode validation batch size (default: all)")
    b.add_argument("--json", action="store_true")
    a = sub.add_parser("average", help="Polyak averaging: validate an exponential average of the weights too")
    config_flags(a)
    a.add_argument("--decay", type=number, default=0.99, help="the average's decay per step")
    a.add_argument("--every", type=integer, default=10, help="validate every N steps (and the first and last)")
    a.add_argument("--json", action="store_true")
    g = sub.add_parser("augment", help="the same run without and with random one-pixel shifts of the images")
    config_flags(g)
    g.add_argument("--every", type=integer, default=50, help="measure every N steps (and the first and last)")
    g.add_argument("--json", action="store_true")


def cmd_optimizers(args: argparse.Namespace) -> int:
    from ..fileio import dumps
    from .surfaces import make_surface, parse_lrs, parse_point, race
    surface = make_surface(args.surface, condition=args.condition)
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    start = parse_point(args.start) if args.start is not None else None
    result = race(surface, names, lrs=parse_lrs(args.lr), start=start, steps=args.steps, noise=args.noise,
                  seed=args.seed)
    if args.json:
        print(dumps(result))
        return 0
    print(f"{surface.title}, from ({result['start'][0]:g}, {result['start'][1]:g}), {args.steps} steps"
          + (f", gradient noise {args.noise:g}" if args.noise else ""))
    print(f"{'optimizer':<10} {'lr':>9} {'final loss':>12} {'first step < 1e-3':>18}  final point")
    for run in result["runs"]:
        hit = next((i for i, loss in enumerate(run["loss"]) if loss < 1e-3), None)
        x, y = run["path"][-1]
        end = f"diverged at step {run['diverged_at']}" if run["diverged_at"] else f"({x:.4g}, {y:.4g})"
        print(f"{run['optimizer']:<10} {run['lr']:>9.3g} {run['loss'][-1]:>12.4g} {hit if hit is not None else '-':>18}  {end}")
    return 0


def cmd_softmax(args: argparse.Namespace) -> int:
    from ..fileio import dumps
    from .softmax import format_softmax, softmax_steps
    if args.label is not None and not 0 <= args.label < len(args.logits):
        raise ConfigError(f"--label must be a class index from 0 to {len(args.logits) - 1} (got {args.label})")
    result = softmax_steps(args.logits, label=args.label)
    print(dumps(result) if args.json else format_softmax(result))
    return 0


def _lab_run(args: argparse.Namespace, run: Callable[..., dict], table: Callable[[dict], list[str]]) -> int:
    """A lab run from the configuration flags: its JSON, or a table in words."""
    from ..cli import config_from_args
    from ..fileio import dumps
    result = run(config_from_args(args))
    print(dumps(result) if args.json else "\n".join(table(result)))
    return 0


def cmd_batchnorm(args: argparse.Namespace) -> int:
    from .labruns import batchnorm_run

    def table(r: dict) -> list[str]:
        lines = [f"{'step':>7} {'val acc eval':>13} {'val acc train':>14}  " +
                 "  ".join(f"{l['name']} gap" for l in r["layers"])]
        for i, step in enumerate(r["steps"]):
            gaps = "  ".join(f"{l['mean_gap'][i]:>{len(l['name']) + 4}.3f}" for l in r["layers"])
            lines.append(f"{step:>7} {r['val_acc_eval'][i]:>13.3f} {r['val_acc_train'][i]:>14.3f}  {gaps}")
        return lines + ["gap: mean over units of |batch mean - running mean| / running std. "
                        "One test example in train mode: " + r["single_example"]]
    return _lab_run(args, lambda cfg: batchnorm_run(cfg, every=args.every, test_batch=args.test_batch), table)


def cmd_average(args: argparse.Namespace) -> int:
    from .labruns import averaging_run

    def table(r: dict) -> list[str]:
        return [f"{'step':>7} {'val loss':>9} {'averaged':>9} {'val acc':>8} {'averaged':>9}"] + [
            f"{step:>7} {r['val_loss'][i]:>9.4f} {r['val_loss_avg'][i]:>9.4f} {r['val_acc'][i]:>8.3f} "
            f"{r['val_acc_avg'][i]:>9.3f}" for i, step in enumerate(r["steps"])]
    return _lab_run(args, lambda cfg: averaging_run(cfg, decay=args.decay, every=args.every), table)


def cmd_augment(args: argparse.Namespace) -> int:
    from .labruns import augment_run

    def table(r: dict) -> list[str]:
        lines = [f"{'step':>7} {'train acc':>10} {'val acc':>8} {'gap':>6}   shifted: "
                 f"{'train acc':>9} {'val acc':>8} {'gap':>6}"]
        for i, step in enumerate(r["steps"]):
            a, b, c, d = (r[k][i] for k in ("train_acc", "val_acc", "train_acc_shifted", "val_acc_shifted"))
            lines.append(f"{step:>7} {a:>10.3f} {b:>8.3f} {a - b:>6.3f}   {'':>8} {c:>9.3f} {d:>8.3f} {c - d:>6.3f}")
        return lines
    return _lab_run(args, lambda cfg: augment_run(cfg, every=args.every), table)


LAB_COMMANDS = {"optimizers": cmd_optimizers, "softmax": cmd_softmax, "batchnorm": cmd_batchnorm,
                "average": cmd_average, "augment": cmd_augment}
