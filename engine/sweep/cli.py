"""`babysit sweep`: run, resume, refine and list hyperparameter sweeps from the command line.

    babysit sweep --config sweep.toml [--trials N] [--workers K] [--backend local|ray] [--address A]
    babysit sweep --preset lr_reg_coarse_to_fine --dry-run     # the sampled trials, no training
    babysit sweep --resume SWEEP                               # the trials not finished yet
    babysit sweep --refine SWEEP [--top 0.25]                  # next stage around the top quarter
    babysit sweep --list
One line per trial on stderr; `--json` prints the sweep on stdout when it ends.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..cli import FLOAT, INT, UsageError
from ..errors import ConfigError

PRESET_DIR = Path(__file__).resolve().parents[2] / "resources" / "sweeps"
ENSEMBLE_K = 5  # at most; a quarter of the finished trials, at least 2


def add_sweep_parser(sub) -> None:
    s = sub.add_parser("sweep", help="hyperparameter search: many runs in parallel, keep the best")
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--config", metavar="SWEEP.toml", help="a sweep spec: [base] run settings and a [space]")
    what.add_argument("--preset", help=f"a sweep preset ({', '.join(preset_names()) or 'none'})")
    what.add_argument("--resume", metavar="SWEEP", help="run the trials of SWEEP's last stage not finished yet")
    what.add_argument("--refine", metavar="SWEEP", help="add a stage around the top trials of SWEEP and run it")
    what.add_argument("--list", action="store_true", help="list the sweeps")
    s.add_argument("--top", type=FLOAT, default=0.25, help="--refine: the fraction of trials to zoom to")
    s.add_argument("--trials", type=INT, default=None, help="trials in this stage (overrides the spec)")
    s.add_argument("--steps", type=INT, default=None, help="steps per trial (overrides the spec)")
    s.add_argument("--sampler", choices=("random", "grid", "tpe"), default=None)
    s.add_argument("--seed", type=INT, default=None, help="the sampler's seed")
    s.add_argument("--workers", type=INT, default=None, help="trials at once (default: one per core)")
    s.add_argument("--backend", choices=("local", "ray"), default="local")
    s.add_argument("--address", default=None, help="--backend ray: a Ray cluster (default: a local instance)")
    s.add_argument("--dry-run", action="store_true", help="print the sampled trials and exit")
    s.add_argument("--json", action="store_true", help="print the sweep as JSON when it ends")


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    path = PRESET_DIR / f"{name.removesuffix('.toml')}.toml"
    if "/" in name or not path.is_file():
        raise ConfigError(f"unknown sweep preset '{name}'; available: {', '.join(preset_names()) or '(none)'}")
    return path


def cmd_sweep(args: argparse.Namespace) -> int:
    from .driver import Sweep, list_sweeps
    from .space import load_spec
    for name in ("trials", "steps", "workers"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1 (got {getattr(args, name)})")
    if args.list:
        return _list(list_sweeps(), args.json)
    overrides = {k: getattr(args, k) for k in ("trials", "steps", "sampler", "seed") if getattr(args, k) is not None}
    if args.config or args.preset:
        spec = load_spec(args.config or preset_path(args.preset))
        spec = _override(spec, overrides)
        if args.dry_run:
            return _dry_run(spec, args.json)
        sweep = Sweep.create(spec)
    elif args.resume:
        sweep = Sweep.open(args.resume)
        if args.dry_run:
            return _dry_run(sweep.spec(), args.json)
    else:
        sweep = Sweep.open(args.refine)
        stage, spec, warnings = sweep.refine(args.top, save=not args.dry_run, changes=overrides)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        if args.dry_run:
            return _dry_run(spec, args.json)
        print(f"stage {stage}: {_space_line(spec)}", file=sys.stderr)
    print(f"sweep {sweep.id} (stage {sweep.stage}) in {sweep.folder}", file=sys.stderr)
    line = TrialLine(sweep.spec())
    results = sweep.run(trials=args.trials if args.resume else None, workers=args.workers,
                        backend=args.backend, address=args.address, on_message=line)
    stopped = any(r["status"] == "stopped" for r in results)
    _report(sweep, args.json)
    if stopped:
        print(f"stopped: `babysit sweep --resume {sweep.id}` runs the rest", file=sys.stderr)
        return 130
    return 0


def _override(spec, overrides: dict):
    from .space import validate
    spec = spec.copy(**overrides)
    validate(spec)
    return spec


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _params(params: dict) -> str:
    return "  ".join(f"{k}={_fmt(v)}" for k, v in params.items())


def _space_line(spec) -> str:
    return "  ".join(f"{k} {_fmt(p.low)}..{_fmt(p.high)} ({p.scale})" if p.is_range else
                     f"{k} {list(p.choices)}" for k, p in spec.space.items())


class TrialLine:
    """One line per finished trial on stderr."""

    def __init__(self, spec):
        self.total, self.n = spec.trials, 0

    def __call__(self, message: dict) -> None:
        if message["kind"] != "trial_done":
            return
        r = message["result"]
        self.n += 1
        acc = f"val acc {r['val_acc']:.3f}  val loss {r['val_loss']:.4f}" if r["val_acc"] is not None else ""
        why = f"  ({r['message']})" if r["status"] not in ("finished",) and r["message"] else ""
        print(f"[{self.n}] trial {r['stage']}-{r['trial']}  {_params(r['params'])}  {r['status']}  "
              f"{r['steps']} steps  {acc}{why}", file=sys.stderr, flush=True)


def _dry_run(spec, as_json: bool) -> int:
    from ..fileio import dumps
    from .search import dry_run
    from .space import distinct_values
    trials = dry_run(spec)
    counts = distinct_values(trials)
    if as_json:
        print(dumps({"sampler": spec.sampler, "trials": trials, "distinct": counts}))
        return 0
    keys = list(spec.space)
    print(f"{len(trials)} trials ({spec.sampler} sampler, seed {spec.seed}), {spec.steps} steps each:")
    print("  trial  " + "  ".join(f"{k:>12}" for k in keys))
    for i, params in enumerate(trials):
        print(f"  {i:5d}  " + "  ".join(f"{_fmt(params[k]):>12}" for k in keys))
    print("distinct values: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    return 0


def _report(sweep, as_json: bool) -> None:
    from ..fileio import dumps
    from .driver import ranked
    from .ensemble import ensemble_top_k
    from .space import distinct_values, edge_warnings
    spec = sweep.spec()
    results = sweep.results()
    best = ranked(results, spec.metric)
    ensemble = None
    if len(best) >= 2:
        ensemble = ensemble_top_k(results, min(ENSEMBLE_K, max(2, len(best) // 4)), spec.metric)
    if as_json:
        keep = ("run", "stage", "trial", "params", "status", "message", "steps", "val_loss", "val_acc", "seconds")
        trim = lambda r: {k: r.get(k) for k in keep}  # noqa: E731 - the curves and probabilities stay on disk
        print(dumps({"sweep": sweep.id, "metric": spec.metric, "trials": [trim(r) for r in results],
                     "best": trim(best[0]) if best else None, "ensemble": ensemble,
                     "distinct": distinct_values([r["params"] for r in results])}))
        return
    counts = {s: sum(r["status"] == s for r in results) for s in ("finished", "diverged", "pruned", "crashed")}
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    print(f"sweep {sweep.id}: {len(results)} trials recorded" + (f" ({tally})" if tally else ""))
    if not best:
        print("no trial finished")
        return
    b = best[0]
    print(f"best: trial {b['stage']}-{b['trial']}  {_params(b['params'])}  val acc {b['val_acc']:.3f}  "
          f"val loss {b['val_loss']:.4f}")
    if ensemble:
        print(f"ensemble of the top {ensemble['k']}: val acc {ensemble['ensemble_acc']:.3f} "
              f"(best single {ensemble['best_acc']:.3f})")
    tried = distinct_values([r["params"] for r in results])
    print("distinct values tried: " + ", ".join(f"{k} {n}" for k, n in tried.items()))
    for w in edge_warnings(spec, b["params"]) if b["stage"] == sweep.stage else []:
        print(f"warning: {w}")


def _list(sweeps: list[dict], as_json: bool) -> int:
    from ..fileio import dumps
    if as_json:
        print(dumps(sweeps))
        return 0
    if not sweeps:
        print("no sweeps yet (babysit sweep --config SWEEP.toml)")
        return 0
    for s in sweeps:
        best = f"best {s['metric']} {s['best']:.3f}" if s["best"] is not None and math.isfinite(s["best"]) else "no result"
        print(f"{s['sweep']}  {s['stages']} stage(s)  {s['trials']} trials  {best}  ({s['modified']})")
    return 0
