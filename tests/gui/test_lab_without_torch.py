"""The window never imports torch while runs train and the lab reads them: the Softmax and batch-norm
tabs and the LR finder all go through worker processes, and a stopped run's decision boundary is
the one its worker sent (importing torch holds the window's GIL ~2 s)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, sys
os.environ['QT_QPA_PLATFORM'] = 'offscreen'
os.environ['BABYSIT_SETTINGS_DIR'] = {settings!r}
os.environ['BABYSIT_RUNS_DIR'] = {runs!r}
from PySide6.QtTest import QTest
from engine.train.config import RunConfig
from gui.app import ensure_app
from gui.lab.wiring import BOUNDARY_INTERVAL_MS
from gui.main_window import MainWindow

def wait_for(what, predicate, timeout_ms=60_000):
    for _ in range(timeout_ms // 20):
        if predicate():
            return
        QTest.qWait(20)   # lets the window's timers run
    raise SystemExit('timed out waiting for ' + what)

if __name__ == '__main__':
    app = ensure_app()
    w = MainWindow(restore=False, save_settings=False)
    w.resize(1200, 800); w.show()
    c, lab = w.controller, w.lab
    w.act_start.trigger()                                     # the default run
    wait_for('the run to train', lambda: c.session is not None and c.session.step_count > 10)
    w.tabs.setCurrentWidget(lab.softmax)
    lab.softmax.select(3)                                     # a validation example through the live model
    wait_for('a softmax reading', lambda: lab.softmax.result is not None and lab.softmax.result.get('index') == 3)
    dlg = lab.open_lr_finder()
    wait_for('the LR finder', lambda: dlg.result_data is not None or dlg.error is not None)
    assert dlg.error is None, dlg.error
    dlg.reject()
    w.reset()
    w.setup.set_config(RunConfig(bn=True, steps=100_000))
    w.tabs.setCurrentWidget(lab.bn_test)
    w.act_start.trigger()
    wait_for('a batch-norm reading', lambda: len(lab.bn_test.points) >= 2)
    c.stop()
    wait_for('the run to stop', lambda: c.state == 'stopped')
    w.tabs.setCurrentWidget(lab.boundary)                     # opened only now: the final weights' boundary
    wait_for('the final boundary', lambda: lab.boundary.payload is not None
             and lab.boundary.payload['step'] == c.session.step_count)
    QTest.qWait(3 * BOUNDARY_INTERVAL_MS)                     # the tab's timer looks again: nothing to compute here
    print('LOADED:' + ','.join(m for m in ('torch',) if m in sys.modules), flush=True)
    c.shutdown()
    os._exit(0)   # skip Qt's teardown order at interpreter exit: not what this test is about
"""


def test_the_lab_reads_live_runs_without_torch_in_the_window(tmp_path):
    code = SCRIPT.format(settings=str(tmp_path / "settings"), runs=str(tmp_path / "runs"))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "LOADED:\n" in out.stdout, f"the window imported {out.stdout.split('LOADED:')[-1].strip()}"
