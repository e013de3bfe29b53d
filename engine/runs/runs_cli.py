"""`babysit runs ...`: the recorded runs on the command line, and `train`'s recording flags.

    babysit runs list [--json]
    babysit runs show RUN [--json]                   # config, final numbers, events
    babysit runs export RUN --tensorboard DIR | --csv DIR | --json FILE
    babysit runs rename RUN NAME
    babysit runs delete RUN [--yes]
    babysit train ... [--no-record] [--name NAME]    # prints the run's id when it starts

RUN is a run's id, its name, or a prefix of either that only one run has. Every command takes
`--runs-dir DIR` (default: BABYSIT_RUNS_DIR, else the user's data folder).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import BabysitError


def _runs_dir_flag(p: argparse.ArgumentParser, default=None) -> None:
    p.add_argument("--runs-dir", default=default, metavar="DIR",
                   help="the run store's folder (default: $BABYSIT_RUNS_DIR, else the user's data folder)")


def add_record_flags(p: argparse.ArgumentParser) -> None:
    """`train`'s flags: where and whether the run is recorded."""
    g = p.add_argument_group("recording")
    g.add_argument("--no-record", dest="record", action="store_false", help="do not record this run in the store")
    g.add_argument("--name", default=None, help="the run's name in the store (default: dataset-activation-optimizer-N)")
    _runs_dir_flag(g)


def add_runs_parser(sub) -> None:
    r = sub.add_parser("runs", help="the recorded runs: list, show, export, rename, delete")
    _runs_dir_flag(r)  # before the action or after it (`runs --runs-dir D list`, `runs list --runs-dir D`)
    actions = r.add_subparsers(dest="runs_action", metavar="ACTION", required=True)

    def action(name: str, help: str, takes_run: bool = True) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help)
        if takes_run:
            p.add_argument("run", metavar="RUN")
        _runs_dir_flag(p, default=argparse.SUPPRESS)  # given here or not, one given before the action stands
        return p

    action("list", "every run, newest first", takes_run=False).add_argument("--json", action="store_true")
    action("show", "a run's config, final numbers and events").add_argument("--json", action="store_true")
    to = action("export", "a run as TensorBoard event files, CSV or JSON").add_mutually_exclusive_group(required=True)
    to.add_argument("--tensorboard", metavar="DIR", help="event files into DIR/<run name> (tensorboard --logdir DIR)")
    to.add_argument("--csv", metavar="DIR", help="DIR/metrics.csv and DIR/histograms.csv")
    to.add_argument("--json", metavar="FILE")
    action("rename", "give a run a new name").add_argument("name", metavar="NAME")
    action("delete", "remove a run and its weights").add_argument("--yes", action="store_true", help="do not ask")


# ======================================================================= train records itself
# ======================================================================= babysit runs ...
def cmd_runs(args: argparse.Namespace) -> int:
    from .store import RunStore
    with RunStore(args.runs_dir) as store:
        return ACTIONS[args.runs_action](store, args)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def runs_list(store, args) -> int:
    runs = store.runs()
    if args.json:
        from ..fileio import dumps
        print(dumps([r.as_dict() for r in runs]))
        return 0
    if not runs:
        print(f"no runs recorded in {store.dir} yet (babysit train records every run)")
        return 0
    rows = [("ID", "NAME", "CREATED", "STATUS", "DATASET", "MODEL", "OPTIMIZER", "STEPS", "TRAIN ACC", "VAL ACC")]
    rows += [(r.id, r.name, time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)), r.status, r.dataset or "-",
              r.model or "-", r.optimizer or "-", str(r.steps), _pct(r.train_acc), _pct(r.val_acc)) for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def runs_show(store, args) -> int:
    run = store.resolve(args.run)
    events = store.events(run.id)
    if args.json:
        from ..fileio import dumps
        print(dumps({**run.as_dict(), "events": events}))
        return 0
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created))
    lines = [f"run {run.id}  {run.name}", f"  status     {run.status}" + (f" ({run.error})" if run.error else ""),
             f"  created    {created}",
             f"  steps      {run.steps}" + (f" of {run.total_steps}" if run.total_steps else ""),
             f"  train      loss {_num(run.train_loss)}  acc {_pct(run.train_acc)}  (mean of the last 50 steps)",
             f"  val        loss {_num(run.val_loss)}  acc {_pct(run.val_acc)}  (last evaluation)"]
    if run.notes:
        lines.append(f"  notes      {run.notes}")
    if run.weights:
        lines.append(f"  weights    {store.dir / run.weights}")
    lines.append("config")
    lines += [f"  {k:<13}{v}" for k, v in run.config.items() if v is not None]
    lines.append(f"events ({len(events)})" if events else "events: none")
    lines += [f"  step {e.get('step', '?'):>6}  {e.get('label') or e.get('event')}" for e in events]
    print("\n".join(lines))
    return 0


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def runs_export(store, args) -> int:
    from . import export
    run = store.resolve(args.run)
    if args.tensorboard:
        where = export.export_tensorboard(store, run.id, Path(args.tensorboard) / run.name.replace("/", "_"))
        print(f"wrote {where} (view: tensorboard --logdir {args.tensorboard})")
    elif args.csv:
        print("wrote " + ", ".join(str(p) for p in export.export_csv(store, run.id, args.csv)))
    else:
        print(f"wrote {export.export_json(store, run.id, args.json)}")
    return 0


def runs_rename(store, args) -> int:
    run = store.rename(args.run, args.name)
    print(f"run {run.id} is now {run.name}")
    return 0


def runs_delete(store, args) -> int:
    run = store.resolve(args.run)
    if not args.yes:
        if not sys.stdin.isatty():
            raise BabysitError(f"not deleting run {run.id} ({run.name}) without --yes (no terminal to ask on)")
        answer = input(f"delete run {run.id} ({run.name}, {run.steps} steps, {run.status})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept")
            return 1
    store.delete(run.id)
    print(f"deleted run {run.id} ({run.name})")
    return 0


ACTIONS = {"list": runs_list, "show": runs_show, "export": runs_export, "rename": runs_rename,
           "delete": runs_delete}
