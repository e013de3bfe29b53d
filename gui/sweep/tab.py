"""The Sweep tab: the caviar way of working (many models in parallel, keep the best), in the window.

    left    the spec (TOML, presets), trials and workers, Run / Stop, earlier sweeps
    right   Space                  where the trials would fall, as random and as grid (preview.py)
            Trials                 every loss curve, the accuracy scatter (drag a box to refine),
                                   refine / ensemble buttons, the trials table
            Parallel coordinates   for spaces of more than two keys

The sweep runs on a thread of its own (runner.py); its messages are drained by a timer on the GUI
thread every TICK_MS and drawn at most once per tick, only what changed (data.py). A trial is a
recorded run: a double-click on its row or its point emits `openRequested(run id)`, which the
window hands to the Runs browser's way of opening a run (gui/sweep/wiring.py).
"""
from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget

from engine.errors import BabysitError

from .data import SweepData
from .editor import ERROR_COLOUR
from .layout import SweepTabLayout
from .runner import SweepRunner
from .stages import Plan, box_space, save_next_stage

TICK_MS = 25              # drains at ~40 Hz: a frame every tick stays above 30 frames/s
TABLE_SECONDS = 0.25      # the running trials' rows are written at most this often
TOP = 0.25                # "zoom to the top quarter"
DEFAULT_PRESET = "lr_reg_coarse_to_fine"
ACCURACY = "validation accuracy"   # the y choice that is no key: accuracy over one key


class SweepTab(SweepTabLayout, QWidget):
    openRequested = Signal(str)   # a trial's run id

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.data = SweepData()
        self.runner = SweepRunner()
        self.plan = Plan()
        self.sweep = None              # engine.sweep.driver.Sweep shown (created, opened or running)
        self.frames = 0                # draws done (the benchmark reads it)
        self.ensemble_result: dict | None = None
        self._run_text = ""
        self._spec_trials: int | None = None
        self._active = False           # a run started and its end not yet seen
        self._stopping = False
        self._run_error: str | None = None
        self._preview_stale = True
        self._parallel_stale = True
        self._rows_behind: set = set()   # table rows changed since they were last written
        self._table_due = 0.0
        self.timer = QTimer(self, interval=TICK_MS)
        self.timer.timeout.connect(self.tick)
        self.built = False

    def ensure_built(self) -> None:
        """Make the widgets, the first time the tab is shown (five plots: a quarter of a second
        the window's first paint need not wait for)."""
        if self.built:
            return
        self.built = True
        self._make_widgets()
        self.editor.load_preset(DEFAULT_PRESET)
        self._sync_buttons()

    # ================================================================== the spec
    def _spec_changed(self) -> None:
        spec = self.editor.spec()
        if spec is not None and spec.trials != self._spec_trials:
            self._spec_trials = spec.trials
            self.trials.setValue(spec.trials)   # the spec's count, until the user sets another
        self._fill_keys()
        self._stale()
        self._sync_buttons()

    def _edited(self) -> None:
        if self.plan.kind in ("resume", "opened"):   # that stage's spec is fixed on disk
            self._set_plan(Plan())

    def _set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self._sync_buttons()

    def _stale(self) -> None:
        """The spec, the trials or the keys changed: the preview is drawn again when shown."""
        self._preview_stale = True
        self._wake()

    def _wake(self) -> None:
        if self.isVisible() and not self.timer.isActive():
            self.timer.start()

    def _fill_keys(self) -> None:
        """The keys to draw: the shown sweep's and the editor's; the choice kept where it can be."""
        spec = self.editor.spec()
        keys = list(dict.fromkeys(self.data.keys() + (list(spec.space) if spec else [])))
        x, y = self.xkey.currentText(), self.ykey.currentText()
        for combo, items, keep, default in ((self.xkey, keys, x, keys[0] if keys else ""),
                                            (self.ykey, keys + [ACCURACY], y, keys[1] if len(keys) > 1 else ACCURACY)):
            if [combo.itemText(i) for i in range(combo.count())] == items:
                continue
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(items)
            combo.setCurrentText(keep if keep in keys else default)   # accuracy as y: chosen again after a new spec
            combo.blockSignals(False)
        self._keys_changed()

    def _keys_changed(self) -> None:
        x, y = self.xkey.currentText(), self.ykey.currentText()
        xparam = self.data.axis_param(x) or self._spec_param(x)
        yparam = None if y in (ACCURACY, x) else self.data.axis_param(y) or self._spec_param(y)
        if (xparam, yparam) != (self.scatter.xparam, self.scatter.yparam):   # new axes: the box goes
            self.scatter.set_keys(xparam, yparam)
            self.scatter.redraw(self.data)
        self._stale()

    def _spec_param(self, key: str):
        spec = self.editor.spec()
        return spec.space.get(key) if spec else None

    # ================================================================== running
    def run(self) -> bool:
        """Run what the plan says with the editor's spec: a new sweep, the next stage, or the rest."""
        self.ensure_built()
        spec = self.editor.spec()
        if spec is None or self.runner.running:
            return False
        spec = spec.copy(trials=self.trials.value())
        from engine.sweep.driver import Sweep   # Optuna: loaded when a sweep is wanted
        trials = None
        try:
            if self.plan.kind == "next":
                sweep = self.plan.sweep
                stage = save_next_stage(sweep, spec)
                self.data.set_spec(stage, sweep.spec(stage))
            elif self.plan.kind == "resume":
                sweep, trials = self.plan.sweep, spec.trials
            else:
                sweep = Sweep.create(spec)
                self.data.clear(sweep.id)
                self.data.set_spec(1, sweep.spec(1))
        except (BabysitError, OSError) as exc:
            self._say(f"cannot run: {exc}", error=True)
            return False
        self.sweep = sweep
        self._run_text = self.editor.toml()
        self.ensemble_label.clear()
        self.runner.start(sweep, workers=self.workers.value(), trials=trials)
        self._active, self._stopping, self._run_error = True, False, None
        self._say(f"{sweep.id}: starting {self.workers.value()} worker(s)…")
        self.views.setCurrentWidget(self.live_page)
        self.timer.start()
        self._sync_buttons()
        return True

    def stop(self) -> None:
        if self.runner.running:
            self.runner.stop()
            self._stopping = True
            self.stop_button.setEnabled(False)

    def shutdown(self, timeout: float = 3.0) -> bool:
        """Stop a running sweep and wait for its thread (the window is closing)."""
        self.runner.stop()
        return self.runner.join(timeout)

    @property
    def running(self) -> bool:
        """A run started and its end not yet taken in (its thread may just have ended)."""
        return self._active or self.runner.running

    def tick(self) -> None:
        """Drain the sweep's messages; draw what changed (the tab shown); notice the run's end."""
        alive = self.runner.running   # read first: a thread that ended has put all its messages
        for m in self.runner.take():
            if m["kind"] == "error":
                self._run_error = m["message"]
                self._say(m["message"], error=True)
            else:
                self.data.ingest(m)
        if self._active and not alive:
            self._active = False
            self._run_ended()
        if self.isVisible():
            self.draw()
        elif not self._active:
            self.timer.stop()

    def _run_ended(self) -> None:
        sweep, stage = self.sweep, self.data.last_stage
        complete = self._recorded(sweep, stage) >= self._total(sweep.spec(stage))
        if self.editor.toml() == self._run_text:   # the editor still shows what ran
            self._set_plan(Plan("opened" if complete else "resume", sweep, stage))
        counts = ", ".join(f"{n} {s}" for s, n in self.data.counts().items())
        best = self.data.best()
        self._say(f"{sweep.id}: {'stage ' + str(stage) + ' done' if complete else 'stopped'} ({counts})"
                  + (f"; best val acc {best.val_acc:.3f} (trial {best.label})" if best and best.val_acc is not None else "")
                  + ("" if complete else f". Resume stage {stage} runs the rest."))
        if self._run_error:   # the sweep's own failure stays in view
            self._say(self._run_error, error=True)
        self.refresh_sweeps()
        self._sync_buttons()

    @staticmethod
    def _recorded(sweep, stage: int) -> int:
        return len(sweep.results(stage))

    @staticmethod
    def _total(spec) -> int:
        return min(spec.trials, spec.grid_size()) if spec.sampler == "grid" else spec.trials

    # ================================================================== drawing
    def draw(self) -> None:
        """Redraw what changed since the last draw (at most once a tick)."""
        if self._preview_stale and self.views.currentWidget() is self.preview:
            self._preview_stale = False
            self._draw_preview()
        changes = self.data.take_changes()
        self._parallel_stale |= changes.ended or changes.specs
        if self._parallel_stale and self.views.currentWidget() is self.parallel:   # drawn when looked at
            self._parallel_stale = False
            self.parallel.redraw(self.data)
        if not changes:
            return
        if changes.specs:
            if changes.cleared:
                self.curves.clear_trials()
            self._fill_keys()
            self.table.show_all(self.data)
            self._rows_behind = set()
            self.parallel.set_columns(self.data)
            self.views.setTabVisible(self.parallel_index, len(self.data.keys()) > 2)
        else:
            self._rows_behind |= changes.rows
            now = time.monotonic()
            # steps ticking in the table a few times a second are enough; a trial that starts or
            # ends is written at once
            if changes.ended or now >= self._table_due or any(k not in self.table.keys_shown for k in changes.rows):
                self.table.show_changes(self.data, self._rows_behind)
                self._rows_behind = set()
                self._table_due = now + TABLE_SECONDS
        self.curves.show_changes(self.data, changes)
        if changes.ended or changes.specs:
            self.scatter.redraw(self.data)
            self._show_edge_warnings()
            self._sync_buttons()
        if self._active and not self._run_error:
            self._say(self._progress_text())
        self.frames += 1

    def _draw_preview(self) -> None:
        spec = self.editor.spec()
        if spec is not None:
            spec = spec.copy(trials=self.trials.value())
        x, y = self.xkey.currentText(), self.ykey.currentText()
        try:
            self.preview.show_spec(spec, x, None if y == ACCURACY else y)
        except BabysitError as exc:   # a space Optuna cannot sample (named in words by the engine)
            self._say(str(exc), error=True)

    def _progress_text(self) -> str:
        counts = self.data.counts()
        parts = [f"{n} {s}" for s, n in counts.items()]
        best = self.data.best()
        return ("stopping: every trial ends within 2 s… " if self._stopping else "") + (
                f"{self.data.sweep_id} · stage {self.data.last_stage}: " + ", ".join(parts)
                + (f" · best val acc {best.val_acc:.3f} ({best.label})" if best and best.val_acc is not None else ""))

    def _show_edge_warnings(self) -> None:
        from engine.sweep.space import edge_warnings
        stage = self.data.last_stage
        best = self.data.best(stage)
        spec = self.data.specs.get(stage)
        # the sweep's best may be in an earlier stage: then say whose range this is
        who = (f"the best trial ({best.label})" if best is self.data.best() else f"stage {stage}'s best trial ({best.label})"
               ) if best is not None else ""
        words = edge_warnings(spec, best.params, who=who) if best is not None and spec is not None else []
        self.warning.setText("⚠ " + "\n⚠ ".join(words) if words else "")
        self.warning.setVisible(bool(words))

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {ERROR_COLOUR};" if error else "")

    def _sync_buttons(self) -> None:
        running = self._active or self.runner.running   # until the tick has seen the run's end
        self.run_button.setText(self.plan.run_label())
        self.run_button.setEnabled(not running and self.editor.spec() is not None)
        self.run_button.setToolTip(self.editor.error or self.plan.describe())
        self.stop_button.setEnabled(running)
        self.plan_label.setText(self.plan.describe())
        self.new_button.setVisible(self.plan.kind != "new")
        ended = [t for t in self.data.finished() if t.stage == self.data.last_stage]
        can_refine = not running and self.sweep is not None and len(ended) >= 2
        self.top_button.setEnabled(can_refine)
        self.box_button.setEnabled(can_refine and self.scatter.box is not None)
        self.ensemble_button.setEnabled(len(self.data.finished()) >= 1)
        self.open_button.setEnabled(not running and self.earlier.count() > 0)

    # ================================================================== coarse to fine
    def refine_top(self) -> None:
        """The next stage around the top quarter of the last stage's finished trials."""
        try:
            stage, spec, _warnings = self.sweep.refine(top=TOP, save=False)   # shown from the data
        except BabysitError as exc:
            self._say(str(exc), error=True)
            return
        self._next_stage(stage, spec, f"the top quarter of stage {stage - 1}")

    def refine_box(self) -> None:
        """The next stage inside the box dragged on the scatter."""
        stage = self.data.last_stage
        inside = [t.params for t in self.data.finished() if t.stage == stage and self.scatter.in_box(t)]
        try:
            spec = box_space(self.data.specs[stage], self.scatter.xparam, self.scatter.yparam, self.scatter.box, inside)
        except BabysitError as exc:
            self._say(f"cannot refine to that box: {exc}", error=True)
            return
        self._next_stage(stage + 1, spec, f"the box ({len(inside)} finished trials inside)")

    def _next_stage(self, stage: int, spec, what: str) -> None:
        self.editor.set_text(spec.to_toml())
        self._set_plan(Plan("next", self.sweep, stage))
        self._say(f"stage {stage}'s space, around {what}, is in the editor: Run runs it in the same sweep.")
        self.views.setCurrentWidget(self.preview)

    def ensemble(self) -> None:
        """Validation accuracy of the k best trials' averaged predictions beside the best one's."""
        from engine.sweep.ensemble import ensemble_top_k
        try:
            e = ensemble_top_k(self.data.results(), self.k.value(), self.data.metric)
        except BabysitError as exc:
            self.ensemble_result = None
            self.ensemble_label.setText(str(exc))
            self.ensemble_label.setStyleSheet(f"color: {ERROR_COLOUR};")
            return
        self.ensemble_result = e
        gain = 100 * (e["ensemble_acc"] - e["best_acc"])
        self.ensemble_label.setStyleSheet("")
        self.ensemble_label.setText(f"top {e['k']} averaged: <b>{e['ensemble_acc']:.3f}</b> · best single "
                                    f"{e['best_acc']:.3f} ({gain:+.1f} points)")

    # ================================================================== earlier sweeps
    def refresh_sweeps(self) -> None:
        from engine.sweep.driver import list_sweeps
        current = self.earlier.currentData()
        self.earlier.clear()
        for s in sorted(list_sweeps(), key=lambda s: s["modified"], reverse=True):
            best = f", best {s['best']:.3f}" if s["best"] is not None else ""
            self.earlier.addItem(f"{s['name']} · {s['trials']} trials{best} · {s['modified']}", s["sweep"])
            self.earlier.setItemData(self.earlier.count() - 1, s["sweep"], Qt.ItemDataRole.ToolTipRole)
        if current is not None and self.earlier.findData(current) >= 0:
            self.earlier.setCurrentIndex(self.earlier.findData(current))
        self._sync_buttons()

    def open_sweep(self, ref: str | None) -> bool:
        """Show an earlier sweep: every stage's trials drawn, its last stage's spec in the editor."""
        self.ensure_built()
        if not ref or self.runner.running:
            return False
        from engine.sweep.driver import Sweep
        try:
            sweep = Sweep.open(ref)
            self.data.load(sweep)
            spec = sweep.spec()
        except (BabysitError, OSError) as exc:
            self._say(f"cannot open {ref}: {exc}", error=True)
            return False
        self.sweep = sweep
        self.editor.set_text(spec.to_toml())
        complete = self._recorded(sweep, sweep.stage) >= self._total(spec)
        self._set_plan(Plan("opened" if complete else "resume", sweep, sweep.stage))
        self._say(f"{sweep.id}: {len(self.data.trials)} trials in {len(sweep.stages)} stage(s)")
        self.views.setCurrentWidget(self.live_page)
        self.draw()
        return True

    def _open_trial(self, key) -> None:
        t = self.data.trials.get(tuple(key))
        if t is not None:
            self.openRequested.emit(t.run)

    # ================================================================== showing
    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.ensure_built()
        super().showEvent(event)
        if self.earlier.count() == 0:
            self.refresh_sweeps()
        self.timer.start()
