"""Make the README screenshots from the real window (offscreen, no display needed).

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py

Trains the default run, moves the learning rate and re-initialises mid-run (markers), then the
tanh tiny-init preset for the activations view (each histogram over its own data) and the init lab (all ten layers of the lecture's
10 x 500 net), the preprocessing tab, and the lr_too_high preset diverging (log loss axis, the
diverged step marked); grabs each screen into docs/screenshots/.
The scripted run (`python main.py gui --steps 300 --export DIR --quit`) makes dashboard.png.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("BABYSIT_SETTINGS_DIR", tempfile.mkdtemp(prefix="babysit-shots-"))
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
sys.path.insert(0, str(ROOT))

from engine.train.config import RunConfig  # noqa: E402
from gui.app import ensure_app  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402


def main() -> int:
    app = ensure_app()
    win = MainWindow(restore=False, save_settings=False)
    win.resize(1400, 900)
    win.show()

    def until(cond, timeout=120.0):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("the run did not get there in time")
            app.processEvents()
            time.sleep(0.005)

    def settle(seconds):
        end = time.monotonic() + seconds
        until(lambda: time.monotonic() > end)

    def save(name):
        # a first paint lets the axes widen for their tick labels (pyqtgraph does it while
        # painting, and lays out anew after): the second shows them laid out
        win.grab()
        settle(0.3)
        win.grab().save(str(OUT / name))

    def steps():
        s = win.controller.session
        return s.step_count if s is not None else 0

    OUT.mkdir(parents=True, exist_ok=True)
    win.setup.set_config(RunConfig(steps=1500))
    win.start()
    until(lambda: steps() >= 400)
    win.request_lr(0.03)
    until(lambda: steps() >= 800)
    win.request_reinit("xavier_normal", None)
    until(lambda: steps() >= 1200)
    win.toggle_pause()
    settle(1.0)
    save("window.png")
    win.tabs.setCurrentWidget(win.lab.boundary)
    win.toggle_pause()
    settle(1.5)
    save("boundary.png")

    def preset_shot(name, dashboard_tab, done, shot, prepare=lambda: None):
        """Train preset `name` with the dashboard's tab `dashboard_tab` shown until `done()`; grab."""
        win.lab.load_preset(name)
        win.tabs.setCurrentWidget(win.dashboard)
        win.dashboard.tabs.setCurrentIndex(dashboard_tab)
        win.start()
        until(done)
        if win.controller.state == "running":
            win.toggle_pause()
        prepare()
        settle(1.0)
        save(shot)

    # the first probe (step 1): the spread shrinks by the same factor at every layer, as in the
    # lecture (training soon grows the layers nearest the output); each histogram over its own data
    preset_shot("tanh_tiny_init", 1, lambda: steps() >= 3, "activations.png",
                lambda: win.dashboard.activations.set_zoom_all(True))
    win.dashboard.activations.set_zoom_all(False)
    win.tabs.setCurrentWidget(win.lab.init_lab)
    lab = win.lab.init_lab
    until(lambda: lab.result is not None and len(lab.result["layers"]) == 10 and not lab.running)
    settle(1.0)
    save("initlab.png")
    win.tabs.setCurrentWidget(win.lab.preprocess)
    settle(0.5)
    save("preprocessing.png")

    preset_shot("lr_too_high", 0, lambda: win.controller.state == "diverged", "diverged.png")
    win.close()
    print("\n".join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob("*.png"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
