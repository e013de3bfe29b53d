"""The history store: bounded by decimation, newest row kept, exports that read back."""
import csv
import io
import json

import numpy as np
import pytest

from engine.runs.history import LAYER_KEYS, SCALAR_KEYS, History


def scalars(step: int) -> dict:
    return {"step": step, "epoch": step // 10, "loss": 1.0 / step, "data_loss": 1.0 / step, "reg_loss": 0.0,
            "train_acc": 0.5, "lr": 0.01}


def layer(name: str, step: int, hidden: bool = True) -> dict:
    return {"name": name, "act_mean": 0.1 * step if hidden else None, "act_std": 0.5 if hidden else None,
            "dead_frac": 0.25 if hidden else None, "sat_frac": None, "dead_units": 0.0 if hidden else None,
            "unit_spread": 0.3 if hidden else None,
            "hist": {"edges": [0.0, 0.5, 1.0], "counts": [3, step]} if hidden else None,
            "pcts": [float(k) for k in range(9)] if hidden else None,
            "weight_norm": 2.0, "grad_norm": 0.1, "update_ratio": 1e-3 * step}


def snapshot(step: int) -> dict:
    return {**scalars(step), "layers": [layer("hidden1", step), layer("output", step, hidden=False)]}


def test_decimation_bounds_rows_and_keeps_the_newest():
    h = History(max_rows=64, max_probe_rows=16, max_snapshots=8)
    for s in range(1, 1001):
        h.append_scalars(scalars(s))
        if s % 5 == 0:
            h.append_snapshot(snapshot(s))
    steps = h.column("step")
    assert len(steps) <= 64 and h.scalars.capacity == 64 and h.scalars.stride > 1
    assert np.all(np.diff(steps) > 0) and steps[0] <= 16         # still ordered, still reaching back
    assert 1000 - h.scalars.stride < steps[-1] <= 1000
    assert h.generation > 0
    # whatever the stride, the newest row is at hand and ends the exports
    assert h.last_step == 1000 and h.latest_scalars["loss"] == pytest.approx(1e-3)
    exported = h.to_json_obj()
    assert exported["scalars"]["step"][-1] == 1000 and exported["scalars"]["loss"][-1] == pytest.approx(1e-3)
    assert exported["layers"]["step"][-1] == 1000 and len(exported["layers"]["update_ratio"][-1]) == 2
    assert h.to_csv_text().splitlines()[-1].startswith("1000,")
    assert len(h.layer_column("step")) <= 16
    assert h.latest_snapshot["step"] == 1000 and len(h.snapshots) <= 8
    # the arrays do not grow with the run: a longer one holds the same bytes
    before = h.nbytes()
    for s in range(1001, 5001):
        h.append_scalars(scalars(s))
        if s % 5 == 0:
            h.append_snapshot(snapshot(s))
    assert h.nbytes() == before and h.last_step == 5000


def test_latest_snapshot_is_the_newest_whatever_the_stride():
    h = History(max_snapshots=2)
    assert h.latest_snapshot is None
    for s in range(1, 40):
        h.append_snapshot(snapshot(s))
        assert h.latest_snapshot["step"] == s
    assert len(h.snapshots) <= 2
    assert h.layer_names == ["hidden1", "output"]
    assert h.layer_column("update_ratio").shape == (39, 2)
    assert h.layer_column("pcts").shape == (39, 2, 9)
    assert h.layer_column("pcts")[-1, 0].tolist() == [float(k) for k in range(9)]  # the rows hold the values
    assert np.isnan(h.layer_column("pcts")[-1, 1]).all()
    assert np.isnan(h.layer_column("act_mean")[0, 1])  # the output layer has no activation stats


def test_json_export_round_trip(tmp_path):
    h = History()
    h.config = {"lr": 0.01}
    for s in range(1, 21):
        h.append_scalars(scalars(s))
        if s % 10 == 0:
            h.append_snapshot(snapshot(s))
    h.append_val(20, 0.7, 0.6)
    h.append_event({"event": "lr", "step": 10, "label": "lr 0.01 → 0.02"})
    path = tmp_path / "run.json"
    h.to_json(path)
    obj = json.loads(path.read_text(encoding="utf-8"))
    assert obj["format"] == "babysit-history/1" and obj["config"] == {"lr": 0.01}
    for k in SCALAR_KEYS:
        assert obj["scalars"][k] == pytest.approx(h.column(k).tolist())
    assert obj["val"]["val_loss"] == pytest.approx([0.7])
    assert obj["layer_names"] == ["hidden1", "output"]
    assert np.allclose(obj["layers"]["update_ratio"], h.layer_column("update_ratio"))
    assert obj["snapshots"][-1]["layers"][0]["hist"]["counts"] == [3, 20]
    assert obj["events"][0]["label"] == "lr 0.01 → 0.02"


def test_csv_export_round_trip(tmp_path):
    h = History()
    for s in range(1, 11):
        h.append_scalars(scalars(s))
    h.append_snapshot(snapshot(10))
    h.append_val(10, 0.7, 0.6)
    h.append_event({"event": "lr", "step": 5, "label": "lr change"})
    path = tmp_path / "run.csv"
    h.to_csv(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert float(rows[2]["loss"]) == pytest.approx(1 / 3, rel=1e-5)
    last = rows[-1]
    assert float(last["val_loss"]) == pytest.approx(0.7) and float(last["val_acc"]) == pytest.approx(0.6)
    assert float(last["hidden1/update_ratio"]) == pytest.approx(0.01)
    assert last["output/act_mean"] == ""  # missing values are empty cells, not "nan"
    assert {f"hidden1/{k}" for k in LAYER_KEYS} <= set(last)
    assert rows[4]["events"] == "lr change" and rows[0]["events"] == ""


def test_the_json_export_ends_at_the_newest_snapshot_whatever_the_stride():
    h = History(max_snapshots=3)
    for s in range(2, 23, 2):
        h.append_snapshot(snapshot(s))
    steps = [snap["step"] for snap in h.to_json_obj()["snapshots"]]
    assert steps[-1] == 22 and steps == sorted(set(steps))  # the newest, once, after the kept ones
    assert len(h.snapshots) <= 3


def test_rows_gathered_in_batches_are_stored_as_rows_written_one_by_one():
    # the columns write BATCH rows at a time; which rows are kept and when the store is decimated
    # must not depend on it, and every read sees every row appended so far
    batched, single = History(max_rows=64, max_probe_rows=16), History(max_rows=64, max_probe_rows=16)
    single.scalars.BATCH = 1
    for s in range(1, 700):
        batched.append_scalars(scalars(s))
        single.append_scalars(scalars(s))
        if s in (3, 64, 65, 130, 699):  # reads between batches, around decimations
            assert batched.column("step").tolist() == single.column("step").tolist()
            assert len(batched) == len(single) and batched.generation == single.generation
    for key in SCALAR_KEYS:
        np.testing.assert_array_equal(batched.column(key), single.column(key))
    assert batched.to_json_obj()["scalars"] == single.to_json_obj()["scalars"]


def test_a_row_that_does_not_fit_is_dropped_and_the_others_are_kept():
    h = History(max_rows=64, max_probe_rows=16)
    h.append_snapshot(snapshot(1))
    h.probes.append({"step": 2, "act_mean": [0.1, 0.2, 0.3]})  # three layers where there are two
    for s in (3, 4):
        h.append_snapshot(snapshot(s))
    with pytest.warns(UserWarning, match="dropped"):
        steps = h.layer_column("step").tolist()
    assert steps == [1, 3, 4]
    assert h.layer_column("update_ratio")[:, 0].tolist() == pytest.approx([1e-3, 3e-3, 4e-3])
    h.append_snapshot(snapshot(5))  # the store goes on
    assert h.layer_column("step").tolist() == [1, 3, 4, 5]


def column(rows: list[dict], key: str) -> np.ndarray:
    """One key of these rows as the run store reads it back: float64, NaN for None."""
    return np.array([np.nan if r.get(key) is None else r[key] for r in rows], np.float64)


def test_a_history_filled_from_whole_columns_equals_one_filled_row_by_row():
    sizes = dict(max_rows=64, max_probe_rows=16, max_snapshots=8)
    live = History(**sizes)
    rows, vals, records, events = [], [], [], []
    for s in range(1, 1001):  # every store decimates several times
        row = {**scalars(s), "train_acc": 0.5 if s % 3 == 0 else None}  # accuracy counted on some steps
        rows.append(row)
        live.append_scalars(row)
        if s % 25 == 0:
            vals.append((s, 1.0 / s, 0.5 + s * 1e-4))
            live.append_val(*vals[-1])
        if s % 5 == 0:
            rec = snapshot(s)
            if s > 600:  # a layer more from here: the probe rows start over, the snapshots go on
                rec["layers"].insert(1, layer("hidden2", s))
            records.append(rec)
            live.append_snapshot(rec)
        if s in (300, 700):
            events.append({"event": "lr", "step": s, "label": f"lr at step {s}"})
            live.append_event(events[-1])

    since = [r for r in records if len(r["layers"]) == 3]
    layers = {"step": column(since, "step"),
              "pcts": np.array([[l["pcts"] or [np.nan] * 9 for l in r["layers"]] for r in since])}
    for key in LAYER_KEYS:
        layers[key] = np.array([column(r["layers"], key) for r in since])
    asked = []

    def read_records(at):
        asked.extend(at.tolist())
        return [records[i] for i in at]

    bulk = History.from_arrays(
        {k: column(rows, k) for k in SCALAR_KEYS},
        {"step": np.array([v[0] for v in vals], float), "val_loss": np.array([v[1] for v in vals]),
         "val_acc": np.array([v[2] for v in vals])},
        layer_names=["hidden1", "hidden2", "output"], layers=layers, records=len(records),
        read_records=read_records, events=events, **sizes)
    assert live.generation > 5 and live.scalars.stride > 8
    np.testing.assert_equal(bulk.to_json_obj(), live.to_json_obj())
    assert (bulk.version, bulk.scalars.stride) == (live.version, live.scalars.stride)
    assert 0 < bulk.generation <= live.generation  # (live's also counts the probe rows dropped at the change)
    assert bulk.latest_scalars == live.latest_scalars and bulk.latest_snapshot is records[-1]
    assert len(asked) <= 9  # only the snapshots kept (and the newest) were read
    # both go on alike: the same rows kept from here on too
    decimated = bulk.generation - live.generation
    for s in range(1001, 1500):
        for h in (live, bulk):
            h.append_scalars(scalars(s))
            if s % 5 == 0:
                h.append_snapshot(snapshot(s))
    np.testing.assert_equal(bulk.to_json_obj(), live.to_json_obj())
    assert bulk.generation - live.generation == decimated


def test_a_history_filled_from_empty_columns_is_an_empty_history():
    empty = History.from_arrays({k: np.zeros(0) for k in SCALAR_KEYS})
    assert empty.to_json_obj() == History().to_json_obj()
    assert len(empty) == 0 and empty.last_step == -1 and empty.latest_snapshot is None
