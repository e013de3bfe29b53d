"""Exports of a recorded run: TensorBoard's own reader reads back what the store holds; CSV; JSON."""
import csv
import json

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import plugin_data_pb2

from engine.runs.export import export_csv, export_json, export_tensorboard
from engine.runs.store import RunStore, RunStoreError
from test_store import train_recorded


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    _, writer = train_recorded(store, steps=60)
    return store, store.resolve(writer.id)


def read_events(directory):
    acc = ea.EventAccumulator(str(directory), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def test_tensorboard_export_reads_back_equal_to_the_store(recorded, tmp_path):
    store, run = recorded
    acc = read_events(export_tensorboard(store, run.name, tmp_path / "tb"))
    columns = store.scalars(run.id)
    for column, tag in (("loss", "train/loss"), ("train_acc", "train/acc"), ("lr", "train/lr"),
                        ("val_acc", "val/acc")):
        events = acc.Scalars(tag)
        keep = ~np.isnan(columns[column])
        assert [e.step for e in events] == columns["step"][keep].astype(int).tolist()
        # TensorBoard keeps a scalar as a 32-bit float
        np.testing.assert_array_equal(np.float32([e.value for e in events]), columns[column][keep].astype(np.float32))

    records = store.records(run.id)
    ratios = acc.Scalars("update_ratio/hidden2")
    assert [e.step for e in ratios] == [r["step"] for r in records]
    np.testing.assert_array_equal([e.value for e in ratios],
                                  np.float32([r["layers"][1]["update_ratio"] for r in records]))
    hists = acc.Histograms("activations/hidden1")
    assert [h.step for h in hists] == [r["step"] for r in records]
    for h, rec in zip(hists, records):
        hist = rec["layers"][0]["hist"]
        assert list(h.histogram_value.bucket) == hist["counts"]
        assert list(h.histogram_value.bucket_limit) == hist["edges"][1:]
        assert h.histogram_value.num == sum(hist["counts"])
        assert h.histogram_value.min == rec["layers"][0]["pcts"][0]
    assert "activations/output" not in acc.Tags()["histograms"]  # the output layer has no activation histogram

    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["optimizer"].string_value == "adam" and hp["lr"].number_value == run.config["lr"]
    assert hp["epochs"].string_value == "none"
    assert acc.Scalars("hparam/val_acc")[0].value == pytest.approx(run.val_acc, rel=1e-6)


def test_tensorboard_export_refuses_a_folder_with_event_files(recorded, tmp_path):
    store, run = recorded
    export_tensorboard(store, run.id, tmp_path)
    with pytest.raises(RunStoreError, match="already holds TensorBoard event files"):
        export_tensorboard(store, run.id, tmp_path)


def test_csv_and_json_exports_hold_every_step(recorded, tmp_path):
    store, run = recorded
    metrics, hists = export_csv(store, run.id, tmp_path / "csv")
    rows = list(csv.DictReader(metrics.open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 61))
    assert float(rows[-1]["loss"]) == pytest.approx(store.scalars(run.id)["loss"][-1], rel=1e-5)
    bins = list(csv.DictReader(hists.open()))
    rec = store.records(run.id)[-1]
    last = [int(b["count"]) for b in bins if int(b["step"]) == rec["step"] and b["layer"] == "hidden2"]
    assert last == rec["layers"][1]["hist"]["counts"]

    obj = json.loads(export_json(store, run.name, tmp_path / "run.json").read_text())
    assert obj["run"]["id"] == run.id and obj["run"]["status"] == "finished"
    assert obj["scalars"]["step"] == list(range(1, 61)) and obj["config"] == run.config
    assert len(obj["snapshots"]) == len(store.records(run.id))
