"""The headless command line: `train` (engine/runs/train_cli.py), `initlab`, `lrfind`, `presets`, `runs`,
`sweep` (no Qt imported here).

    python main.py train --dataset spiral --steps 400 --metrics-out run.jsonl
    python main.py train --config my.toml --lr 1e-2          # flags override the file
    python main.py initlab --depth 10 --width 500 --activation tanh --init normal --init-std 0.01
    python main.py lrfind --dataset digits --json
    python main.py presets

User mistakes (a bad flag, a bad value, a missing file) exit with status 2 and one line on
stderr naming the problem; no traceback.
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Callable, Sequence

from .train.config import RunConfig
from .errors import BabysitError
from .lab.labcli import LAB_COMMANDS, add_lab_parsers
from .runs.runs_cli import add_record_flags, add_runs_parser, cmd_runs

PROG = "babysit"


class UsageError(BabysitError):
    pass


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line and exit status 2 (argparse prints the whole usage)."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


def _number(kind: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what} (got {text!r})") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number (got {text!r})")
        return value
    return parse


FLOAT = _number(float, "a number")
INT = _number(int, "an integer")


def add_flag(p: Any, name: str, default: Any = argparse.SUPPRESS) -> None:
    """The flag of RunConfig's field `name`, made from its declaration (engine.train.config.Setting)."""
    s = RunConfig.settings()[name]
    flag = "--" + name.replace("_", "-")
    bounds = " ".join(t for t in (s.range_text(), s.unit) if t)
    help_text = s.help + (f" ({bounds})" if bounds else "")
    if s.kind == "bool":
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
    elif s.kind == "choice" and s.aliases:
        p.add_argument(flag, choices=s.choices + s.aliases, default=default, metavar=name.upper(),
                       help=f"{help_text}: one of {', '.join(s.choices)} (also: {', '.join(s.aliases)})")
    elif s.kind == "choice":
        p.add_argument(flag, choices=s.choices, default=default, help=help_text)
    else:
        kind = {"int": INT, "float": FLOAT}.get(s.kind)    # a path is text as typed
        p.add_argument(flag, type=kind, default=default, help=help_text)


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field, in its declared group. Defaults are suppressed: only flags
    the user gave override."""
    groups: dict[str, Any] = {}
    for name, s in RunConfig.settings().items():
        group = groups.get(s.group) or groups.setdefault(s.group, p.add_argument_group(s.group.lower()))
        add_flag(group, name)
    p.add_argument("--config", default=None, metavar="FILE.toml", help="run configuration; flags override it")
    p.add_argument("--preset", default=None, help="start from a preset (see `presets`)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """defaults <- preset <- config file <- flags; a value far outside the usual range is one
    warning line on stderr; a run the memory cannot hold is a ConfigError (exit 2)."""
    cfg = RunConfig()
    if getattr(args, "preset", None):
        from .lab.presets import load_preset
        cfg = load_preset(args.preset)
    if getattr(args, "config", None):
        cfg = RunConfig.from_toml(args.config, base=cfg)
    given = {k: v for k, v in vars(args).items() if k in set(RunConfig.keys())}
    cfg = RunConfig.from_dict(given, base=cfg)
    for text in cfg.warnings().values():   # accepted (a student may try lecture 6's lr 1e6), but said
        print(f"{PROG}: warning: {text}", file=sys.stderr)
    from .train.memory import check_fits
    check_fits(cfg)   # before anything is built: a network the machine cannot hold is refused in words
    return cfg


def build_parser() -> Parser:
    p = Parser(prog=PROG, description="babysit: watch a neural network learn (no subcommand opens the window)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    t = sub.add_parser("train", help="train headless, write metrics as JSON lines")
    add_config_flags(t)
    t.add_argument("--metrics-out", default=None, metavar="F.jsonl", help="one JSON object per probe snapshot and event")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_record_flags(t)
    i = sub.add_parser("initlab", help="the lecture's forward-only init experiment")
    for name, default in (("depth", 10), ("width", 500), ("activation", "tanh"), ("init", "normal"),
                          ("init_std", 0.01), ("bn", False), ("seed", 0)):   # the lecture's experiment
        add_flag(i, name, default)
    i.add_argument("--n", type=INT, default=1000, help="number of unit-gaussian inputs")
    i.add_argument("--bins", type=INT, default=40)
    i.add_argument("--json", action="store_true")
    f = sub.add_parser("lrfind", help="LR range test: raise the LR each step, suggest one")
    add_config_flags(f)
    f.add_argument("--start", type=FLOAT, default=1e-7)
    f.add_argument("--end", type=FLOAT, default=10.0)
    f.add_argument("--lr-steps", "--find-steps", dest="find_steps", type=INT, default=100,
                   help="number of LR values to try (the test's own --steps)")
    f.add_argument("--json", action="store_true")
    sub.add_parser("presets", help="list the lecture presets")
    add_runs_parser(sub)
    g = sub.add_parser("gui", help="open the window (optionally scripted)")
    g.add_argument("--steps", type=INT, default=None, help="train this many steps at once")
    g.add_argument("--export", default=None, metavar="DIR", help="after training, export every plot here")
    g.add_argument("--quit", action="store_true", help="exit when done")
    g.add_argument("--config", default=None, metavar="FILE.toml")
    add_lab_parsers(sub, FLOAT, INT, add_config_flags)
    from .sweep.cli import add_sweep_parser
    add_sweep_parser(sub)
    return p


def parse(argv: Sequence[str]) -> argparse.Namespace:
    argv = list(argv)
    # `lrfind --steps N` is the natural spelling: it means the test's number of LR values
    if argv and argv[0] == "lrfind":
        argv = [("--lr-steps" + a.removeprefix("--steps") if a == "--steps" or a.startswith("--steps=") else a)
                for a in argv]
    return build_parser().parse_args(argv)


# ======================================================================= commands
def cmd_train(args: argparse.Namespace) -> int:
    """engine/runs/train_cli.py (imported here: it uses this module's flags and words)."""
    from .runs.train_cli import cmd_train as train
    return train(args)


def cmd_initlab(args: argparse.Namespace) -> int:
    from .lab.initlab import format_table, run_initlab
    result = run_initlab(depth=args.depth, width=args.width, activation=args.activation, init=args.init,
                         init_std=args.init_std, bn=args.bn, seed=args.seed, n=args.n, bins=args.bins)
    if args.json:
        from .fileio import dumps
        print(dumps(result))
    else:
        print(format_table(result))
    return 0


def cmd_lrfind(args: argparse.Namespace) -> int:
    from .lab.lrfind import lr_range_test
    from .runs.session import leave_a_core_free
    leave_a_core_free()
    cfg = config_from_args(args)
    # lr_range_test checks its own arguments (a ConfigError: exit 2, in words)
    result = lr_range_test(cfg, start=args.start, end=args.end, steps=args.find_steps)
    if args.json:
        from .fileio import dumps
        print(dumps({"lrs": result["lrs"], "losses": result["losses"], "suggested_lr": result["suggested_lr"]}))
    else:
        print(f"tried {len(result['lrs'])} learning rates from {result['lrs'][0]:.2g} to {result['lrs'][-1]:.2g}")
        print(f"suggested learning rate: {result['suggested_lr']:.3g}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from .lab.presets import list_presets
    presets = list_presets()
    width = max(len(p.name) for p in presets) if presets else 0
    for p in presets:
        print(f"{p.name:<{width}}  {p.description}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep.cli import cmd_sweep as run_sweep
    return run_sweep(args)


COMMANDS = {"train": cmd_train, "initlab": cmd_initlab, "lrfind": cmd_lrfind, "presets": cmd_presets, "runs": cmd_runs,
            "sweep": cmd_sweep, **LAB_COMMANDS}


def run(argv: Sequence[str]) -> int:
    """Parse and run a headless command; user mistakes become one line and status 2."""
    try:
        args = parse(argv)
        if args.command is None or args.command == "gui":
            raise UsageError("the window is opened by main.py, not engine.cli")
        return COMMANDS[args.command](args)
    except BabysitError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `babysit lrfind --json | head`: the reader left; not a user mistake
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    except OSError as exc:  # e.g. --metrics-out into a folder that does not exist
        name = getattr(exc, "filename", None)
        print(f"{PROG}: error: {exc.strerror or exc}" + (f": {name}" if name else ""), file=sys.stderr)
        return 2
    except Exception as exc:  # not the user's mistake, but still words, not a traceback
        print(f"{PROG}: error: {args.command if 'args' in locals() else 'babysit'} failed: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # python -m engine.cli train ...
    sys.exit(run(sys.argv[1:]))
