"""babysit: babysit the learning process of a neural network.

    python main.py                      open the window (setup, Start, watch it learn)
    python main.py gui --steps 300 --export out/ --quit     scripted window run, exports plots
    python main.py train --dataset spiral --steps 400 --metrics-out run.jsonl
    python main.py initlab --depth 10 --width 500 --activation tanh --init normal --init-std 0.01
    python main.py lrfind --dataset spiral --json
    python main.py presets

Headless subcommands never import Qt. Also installed as the `babysit` console script.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] == "gui":
        from engine.cli import UsageError, parse
        try:
            args = parse(argv or ["gui"])
        except UsageError as exc:
            print(f"babysit: error: {exc}", file=sys.stderr)
            return 2
        from gui.platform_check import problem
        why = problem()  # Qt aborts the process when it cannot open a window: say why first
        if why:
            print(f"babysit: {why}", file=sys.stderr)
            return 1
        from gui.app import run_gui  # Qt is imported only here
        code = run_gui(steps=args.steps, export=args.export, quit=args.quit, config=args.config)
        # Leave at once: Qt's objects would be torn down in an order Python's shutdown does not
        # know (a failed scripted run crashed there). Settings are saved and files written by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    from engine.cli import run
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
