"""The Sweep tab (caviar: many models in parallel, keep the best), drawn from engine/sweep.

    tab.py       the tab: spec, Run / Stop, refine, ensemble, earlier sweeps
    layout.py    its widgets and where they sit
    editor.py    the spec as TOML, checked as typed, presets
    preview.py   where the trials would fall, as random and as grid
    live.py      every trial's loss curve; the accuracy scatter with a refine box
    parallel.py  parallel coordinates (more than two keys)
    table.py     the trials table
    data.py      what the tab knows of a sweep (fed by the driver's messages)
    runner.py    the sweep on a thread, its messages through a queue
    stages.py    what Run does (new sweep, next stage, resume); a box's space
    scales.py    a key's values on a plot axis (log, 1 - 10^r, lists)
    wiring.py    the tab in the main window
"""
