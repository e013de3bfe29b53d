"""The window paints before torch loads: building it must not import torch or scipy (each costs
1-3 s of start-up; benchmarks/bench_startup.py measures the time itself). Nor does training a
run: torch lives in the worker processes, and an import in the window holds the GUI thread."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def in_a_new_window(tmp_path, *lines: str) -> str:
    """stdout of a fresh interpreter that opens the window (offscreen, settings in tmp_path),
    shows it once, then runs `lines` with the window as `w` and the application as `app`."""
    code = "\n".join((
        "import os, sys",
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'",
        f"os.environ['BABYSIT_SETTINGS_DIR'] = {str(tmp_path)!r}",
        "from gui.app import ensure_app",
        "from gui.main_window import MainWindow",
        "app = ensure_app(); w = MainWindow(restore=False, save_settings=False); w.show(); app.processEvents()",
        *lines,
        "sys.stdout.flush(); os._exit(0)  # skip Qt's teardown order at interpreter exit: not what these test",
    ))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_building_the_window_imports_no_torch(tmp_path):
    out = in_a_new_window(
        tmp_path, "print('LOADED:' + ','.join(sorted(m for m in ('torch', 'scipy', 'sklearn') if m in sys.modules)))")
    assert "LOADED:\n" in out, f"the window imported {out.split('LOADED:')[-1].strip()}"


def test_a_tab_is_made_when_first_opened(tmp_path):
    # the Sweep tab (gui/sweep) costs the first paint nothing until someone opens it
    lazy = ("gui.sweep.tab",)
    out = in_a_new_window(
        tmp_path,
        f"print('AT START:' + ','.join(m for m in {lazy!r} if m in sys.modules))",
        "w.tabs.setCurrentIndex(w.sweep.index); app.processEvents()",
        f"print('OPENED:' + ','.join(m for m in {lazy!r} if m in sys.modules))",
        "print('SHOWN:' + str(w.sweep.tab.isVisible()))")
    assert "AT START:\n" in out, out
    assert f"OPENED:{','.join(lazy)}\n" in out and "SHOWN:True" in out, out


def test_training_a_run_imports_no_torch_or_scipy_in_the_window(tmp_path):
    code = (
        "import os, sys, time\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        f"os.environ['BABYSIT_SETTINGS_DIR'] = {str(tmp_path / 'settings')!r}\n"
        f"os.environ['BABYSIT_RUNS_DIR'] = {str(tmp_path / 'runs')!r}\n"
        "if __name__ == '__main__':\n"
        "    from gui.app import ensure_app\n"
        "    from gui.main_window import MainWindow\n"
        "    app = ensure_app(); w = MainWindow(restore=False, save_settings=False)\n"
        "    w.setup.set_value('steps', 300); w.setup.set_value('epochs', None); w.knobs.set_pace(None)\n"
        "    w.show(); w.start()\n"
        "    end = time.monotonic() + 90\n"
        "    while w.controller.state != 'finished' and time.monotonic() < end:\n"
        "        app.processEvents(); time.sleep(0.01)\n"
        "    w.dashboard.tabs.setCurrentIndex(1); app.processEvents()   # the activations drawn too\n"
        "    print('STATE:' + w.controller.state + ' STEPS:' + str(len(w.controller.history)), flush=True)\n"
        "    print('LOADED:' + ','.join(m for m in ('torch', 'scipy') if m in sys.modules), flush=True)\n"
        "    w.controller.shutdown(); os._exit(0)\n"
    )
    script = tmp_path / "train_in_window.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=180,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "STATE:finished STEPS:300" in out.stdout, out.stdout + out.stderr
    assert "LOADED:\n" in out.stdout, f"the window imported {out.stdout.split('LOADED:')[-1].strip()}"


def test_parsing_the_command_line_imports_no_torch():
    # main.py parses its arguments before the window opens: torch there delays the first paint by seconds
    code = "import sys; from engine.cli import parse; parse(['gui']); print('TORCH' if 'torch' in sys.modules else 'NONE')"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "NONE"


def test_lab_tabs_make_their_charts_when_first_shown(window, qtbot):
    # every chart made costs the window's start ~30 ms: a tab not shown has none yet
    import pyqtgraph as pg
    from engine.train.config import RunConfig
    from engine.train.data import build_dataset

    lab = window.lab
    tabs = (lab.race, lab.bn_test, lab.preprocess)
    assert [len(t.findChildren(pg.GraphicsLayoutWidget)) for t in tabs] == [0, 0, 0]
    lab.preprocess.show_dataset(build_dataset(RunConfig(dataset="moons")))   # a Start, the tab hidden
    assert lab.preprocess.plots == {}
    for tab in tabs:
        window.tabs.setCurrentWidget(tab)
        qtbot.waitUntil(lambda t=tab: len(t.findChildren(pg.GraphicsLayoutWidget)) == 1)
    assert len(lab.init_lab.findChildren(pg.GraphicsLayoutWidget)) == 0   # the init lab: its histograms and depth plots
    window.tabs.setCurrentWidget(lab.init_lab)
    qtbot.waitUntil(lambda: len(lab.init_lab.findChildren(pg.GraphicsLayoutWidget)) == 2)
    qtbot.waitUntil(lambda: lab.init_lab.result is not None, timeout=60_000)   # its first figure, drawn
    x, _y = lab.preprocess.items["none"][0].getData()    # the run's data, drawn once shown
    assert len(x) > 100
    lab.race.stop()
