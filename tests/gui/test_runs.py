"""The run store in the window, through what a user does: train, browse, reopen, compare,
rename, delete, continue. Every test records into a runs folder of its own."""
from __future__ import annotations

import os
import signal

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from engine.train.config import RunConfig
from engine.runs.session import TrainingSession
from engine.runs.store import RunStore
from gui.runs.browser import COLUMNS, RunsBrowser

SHORT = RunConfig(n_samples=300, width=16, steps=300, probe_every=5, eval_every=20)
WAIT = 30_000


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    d = tmp_path / "runs"
    monkeypatch.setenv("BABYSIT_RUNS_DIR", str(d))
    return d


def record(cfg: RunConfig, name: str | None = None) -> str:
    """A run trained headless and recorded as `babysit train` records it; its id."""
    session = TrainingSession(cfg, keep_history=False, use_outbox=False)
    with RunStore() as store:
        writer = store.create_run(cfg.to_dict(), name=name, total_steps=session.total_steps)
    session.recorder.sinks.append(writer.ingest)
    while not session.finished:
        session.step()
    session.flush()
    writer.save_weights(session.model.state_dict())
    writer.close("finished")
    return writer.id


def listed(win) -> dict[str, list[str]]:
    """The browser's rows as the user sees them: id -> cell texts."""
    b = win.runs.browser
    rows = {}
    for i in range(b.proxy.rowCount()):
        rows[b.run_ids()[i]] = [b.proxy.index(i, c).data() for c in range(b.proxy.columnCount())]
    return rows


def train_in_window(win, qtbot, cfg: RunConfig = SHORT) -> str:
    win.setup.set_config(cfg)
    win.act_start.trigger()
    qtbot.waitUntil(lambda: win.controller.state == "finished", timeout=WAIT)
    qtbot.waitUntil(lambda: any(r[-1] == "finished" for r in listed(win).values()), timeout=WAIT)
    (run_id,) = listed(win)
    return run_id


def test_a_run_trained_in_the_window_is_listed_as_finished(window, qtbot):
    assert listed(window) == {}
    run_id = train_in_window(window, qtbot)
    row = listed(window)[run_id]
    assert row[2:6] == ["spiral", "2x16 relu", "adam", "300"]
    assert row[6].endswith("%") and row[7].endswith("%")
    with RunStore() as store:
        assert store.resolve(run_id).weights  # the final weights were kept


def test_reopening_shows_every_step_and_snapshot_the_store_holds(window, qtbot):
    run_id = train_in_window(window, qtbot)
    window.reset()                                 # Reset (Ctrl+R), as a user clears the window
    assert len(window.controller.history) == 0
    window.runs.browser.select([run_id])
    window.runs.browser.open_button.click()
    with RunStore() as store:
        steps, records = store.steps(run_id), store.records(run_id)
    h = window.controller.history
    assert len(h) == len(steps) == 300
    assert h.column("loss").tolist() == steps[:, 2].tolist()
    assert len(h.snapshots) == len(records) > 10
    assert window.controller.session is None and window.controller.state == "idle"
    assert window.step_label.text() == "step 300 / 300"   # the status bar says where the run ended
    # the scrubber moves the activation histograms to an earlier snapshot
    scrub = window.runs.scrubber
    assert scrub.isVisible() and scrub.step == records[-1]["step"]
    scrub.show_step(50)
    at = max(r["step"] for r in records if r["step"] <= 50)
    assert scrub.step == at and scrub.label.text() == f"step {at}"
    # the histograms drawn are that step's, read from the store
    (rec,) = [r for r in records if r["step"] == at]
    drawn = [row[3] for row in window.dashboard.activations.csv_table()[1]]
    assert drawn == [c for layer in rec["layers"] if layer["hist"] for c in layer["hist"]["counts"]]
    # Start sets up a new run as usual
    window.setup.set_config(SHORT.copy(steps=100_000))
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.step_count > 5, timeout=WAIT)
    assert not scrub.isVisible()


def test_compare_three_runs_draws_three_curves_per_chart(window, qtbot):
    ids = [record(SHORT.copy(steps=60, seed=s, lr=lr)) for s, lr in ((0, 1e-2), (0, 3e-3), (1, 1e-3))]
    window.runs.browser.refresh_list()
    window.runs.browser.select(ids)
    window.runs.browser.compare_button.click()
    view = window.runs.compare
    assert window.tabs.currentWidget() is view
    assert view.curve_counts() == {"loss": 3, "accuracy": 3, "update_ratio": 3}
    assert set(view.differing_keys()) == {"lr", "seed"}
    assert "seeds differ" in view.seeds.text()
    for plot in view.plots.values():  # a legend entry per run
        assert len(plot.legend.items) == 3
    window.runs.browser.select(ids[:2])
    window.runs.browser.compare_button.click()
    assert view.curve_counts() == {"loss": 2, "accuracy": 2, "update_ratio": 2}
    assert view.differing_keys() == ["lr"] and "same seed" in view.seeds.text()


def test_rename_in_place_and_delete_after_confirmation(window, qtbot, monkeypatch):
    keep, gone = record(SHORT.copy(steps=20), "keep"), record(SHORT.copy(steps=20), "gone")
    b = window.runs.browser
    b.refresh_list()
    row = b.run_ids().index(keep)
    b.model.itemFromIndex(b.proxy.mapToSource(b.proxy.index(row, 0))).setText("kept run")
    with RunStore() as store:
        assert store.resolve(keep).name == "kept run"
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    b.select([gone])
    b.delete_button.click()
    assert len(asked) == 1 and set(listed(window)) == {keep, gone}  # refused: nothing deleted
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    b.delete_button.click()
    assert set(listed(window)) == {keep}
    with RunStore() as store:
        assert [r.id for r in store.runs()] == [keep]


def test_filter_hides_runs_that_do_not_match(window):
    a, c = record(SHORT.copy(steps=10), "alpha"), record(SHORT.copy(steps=10, dataset="circles"), "beta")
    b = window.runs.browser
    b.refresh_list()
    b.filter.setText("circles")
    assert b.run_ids() == [c]
    b.filter.setText("")
    assert set(b.run_ids()) == {a, c}


def test_continue_starts_a_new_run_from_the_stored_weights(window, qtbot):
    old = record(SHORT)
    with RunStore() as store:
        run = store.resolve(old)
        fresh_first = store.steps(old)[0, 2]
    window.runs.browser.refresh_list()
    window.runs.browser.select([old])
    window.runs.browser.continue_button.click()
    qtbot.waitUntil(lambda: len(window.controller.history) >= 1, timeout=WAIT)
    assert window.controller.session.cfg.lr == pytest.approx(run.config["lr"] * 0.1)
    first = window.controller.history.column("loss")[0]
    # the new run starts where the old one ended (within one batch's noise), not from scratch
    assert abs(first - run.train_loss) < 0.25 < fresh_first - first
    window.controller.stop()
    qtbot.waitUntil(lambda: len(listed(window)) == 2, timeout=WAIT)


def test_closing_the_window_mid_run_records_the_run_as_stopped(qtbot):
    from gui.main_window import MainWindow
    win = MainWindow(restore=False, save_settings=False)
    qtbot.addWidget(win)
    win.show()
    win.setup.set_config(SHORT.copy(steps=100_000))
    win.act_start.trigger()
    qtbot.waitUntil(lambda: len(win.controller.history) >= 20, timeout=WAIT)
    win.close()
    with RunStore() as store:
        (run,) = store.runs()
        assert run.status == "stopped" and run.steps >= 20 and run.weights


def test_a_diverged_run_stopped_stays_diverged_and_a_failed_one_is_crashed(window, qtbot):
    c = window.controller
    window.setup.set_config(SHORT.copy(init="normal", init_std=100.0, depth=4, lr=100.0, optimizer="sgd",
                                       steps=100_000))
    window.act_start.trigger()
    qtbot.waitUntil(lambda: c.state == "diverged", timeout=WAIT)
    window.act_stop.trigger()
    qtbot.waitUntil(lambda: [r[-1] for r in listed(window).values()] == ["diverged"], timeout=WAIT)

    window.act_reset.trigger()   # (Start stays off after a diverged run until Reset)
    window.setup.set_config(SHORT.copy(steps=100_000))
    window.act_start.trigger()
    qtbot.waitUntil(lambda: c.step_count > 5, timeout=WAIT)

    os.kill(c.session.pid, signal.SIGKILL)   # the worker dies: its run is marked crashed
    qtbot.waitUntil(lambda: sorted(r[-1] for r in listed(window).values()) == ["crashed", "diverged"], timeout=WAIT)


def test_a_reopened_run_draws_every_loss_point_and_its_knob_markers(window):
    cfg = SHORT.copy(steps=120)
    session = TrainingSession(cfg, keep_history=False, use_outbox=False)
    with RunStore() as store:
        writer = store.create_run(cfg.to_dict(), total_steps=session.total_steps,
                                  name="a run renamed at length, to say what it was for " * 2)
    session.recorder.sinks.append(writer.ingest)
    for i in range(120):
        if i in (40, 80):
            session.set_lr(cfg.lr / (i // 40 + 1))  # two live knob changes: two markers
        session.step()
    session.flush()
    writer.close("finished")
    window.runs.browser.refresh_list()
    window.runs.browser.select([writer.id])
    width = window.width()
    window.runs.browser.open_button.click()
    QApplication.processEvents()  # (the status bar lays out its new message)
    assert window.minimumSizeHint().width() <= 1280 and window.width() == width  # the window keeps its size
    header, rows = window.dashboard.loss.csv_table()
    assert len(rows) == 120 and header[1] == "train_loss"
    assert window.dashboard.marker_count() == 2


def test_export_writes_tensorboard_event_files_for_the_selected_runs(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    run_id = record(SHORT.copy(steps=30), "exported")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "tb"))
    window.runs.browser.refresh_list()
    window.runs.browser.select([run_id])
    window.runs.browser.export_button.click()
    assert list((tmp_path / "tb" / "exported").glob("events.out.tfevents.*"))


def test_the_browser_follows_a_running_run_s_steps_and_status_while_it_trains(qtbot):
    with RunStore() as store:
        writer = store.create_run(SHORT.to_dict(), name="training elsewhere")
    browser = RunsBrowser()   # alone: only its own polling can show what the writer adds
    qtbot.addWidget(browser)
    assert browser.proxy.rowCount() == 0   # the store is read when the list is first shown
    browser.show()
    qtbot.waitUntil(lambda: browser.proxy.rowCount() == 1, timeout=WAIT)

    def shown(column: str) -> str:
        (row,) = range(browser.proxy.rowCount())
        return browser.proxy.index(row, COLUMNS.index(column)).data()

    assert (shown("Steps"), shown("Status")) == ("0", "running") and browser.poll.isActive()
    step = 0
    for upto in (100, 250):   # the writer's own thread commits them while the browser polls
        while step < upto:
            step += 1
            writer.write("scalars", {"step": step, "epoch": 0, "loss": 1.0 / step, "data_loss": 1.0 / step,
                                     "reg_loss": 0.0, "train_acc": 0.75, "lr": 0.1})
        qtbot.waitUntil(lambda: shown("Steps") == str(upto), timeout=WAIT)
        assert shown("Status") == "running" and shown("Train acc") == "75.0%"
    writer.close("finished")
    qtbot.waitUntil(lambda: shown("Status") == "finished", timeout=WAIT)
    assert not browser.poll.isActive()   # nothing running: no more reads


def test_reopening_moves_the_decision_boundary_with_the_scrubber(window, qtbot):
    run_id = train_in_window(window, qtbot)
    window.controller.reset()
    with RunStore() as store:
        steps = store.boundary_steps(run_id)
    assert steps[0] == 1 and steps[-1] == 300 and len(steps) >= 3
    window.runs.browser.select([run_id])
    window.runs.browser.open_button.click()
    view, scrub = window.lab.boundary, window.runs.scrubber
    window.tabs.setCurrentWidget(view)
    assert scrub.twin.isVisible()                     # the slider is at hand on the boundary tab too
    assert view.payload["step"] == 300 and view.plot.titleLabel.text.endswith("at step 300")
    final = view.payload["classes"]
    scrub.twin_slider.setValue(0)                     # dragged to the start, under the boundary
    assert scrub.step == 1 and view.payload["step"] == 1 and "at step 1" in view.plot.titleLabel.text
    assert view.payload["classes"] != final           # the untrained net's boundary is another
    assert scrub.label.text() == scrub.twin_label.text() == "step 1"
    middle = steps[len(steps) // 2]
    scrub.show_step(middle + 1)                       # between two boundaries: the last one before
    assert view.payload["step"] == middle
    with RunStore() as store:
        assert view.payload["classes"] == store.boundary(run_id, middle)["classes"]


def test_a_recorded_run_without_boundaries_says_why_in_the_boundary_tab(window, qtbot):
    older = record(SHORT.copy(steps=30))              # recorded as before boundaries were kept
    digits = record(RunConfig(dataset="digits", steps=20))
    window.runs.browser.refresh_list()
    view = window.lab.boundary
    for run_id, words in ((older, "recorded before babysit kept them"), (digits, "needs 2-D inputs")):
        assert window.runs.open_run(run_id)
        window.tabs.setCurrentWidget(view)
        assert view.payload is None and words in view.caption.text()
