"""Scenarios for MLflow's fluent tracking API (``mlflow.start_run`` and friends)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import RunStatus


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_a_run_records_params_metrics_tags_and_artifacts(unique, tmp_path: Path) -> None:
    experiment_id = mlflow.set_experiment(unique("fluent")).experiment_id

    source = tmp_path / "source"
    (source / "nested" / "deeper").mkdir(parents=True)
    (source / "top.txt").write_text("top level\n")
    (source / "nested" / "config.yaml").write_text("lr: 0.1\nlayers: [4, 8]\n")
    (source / "nested" / "deeper" / "weights.bin").write_bytes(os.urandom(4096))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * 1024 * 1024 + 123))
    single = tmp_path / "notes.md"
    single.write_text("# notes\nünïcödé ✓\n", encoding="utf-8")

    with mlflow.start_run(run_name="fluent-run") as run:
        run_id = run.info.run_id
        assert run.info.experiment_id == experiment_id
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"optimizer": "adam", "epochs": 3, "layers": "[4, 8]"})
        for step, loss in enumerate([0.9, 0.5, 0.25]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_metrics({"accuracy": 0.91, "f1": 0.88}, step=2)
        mlflow.log_metric("negative", -1.5)
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"stage": "dev", "note": "a longer tag value with spaces"})
        mlflow.log_dict({"a": 1, "b": [1, 2, 3]}, "dicts/config.json")
        mlflow.log_text("hello, artifacts\n", "texts/hello.txt")
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(big), artifact_path="blobs")
        mlflow.log_artifacts(str(source), artifact_path="tree")

    client = MlflowClient()
    fetched = client.get_run(run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.run_name == "fluent-run"
    assert fetched.info.end_time is not None
    assert fetched.info.end_time >= fetched.info.start_time
    assert fetched.info.lifecycle_stage == "active"
    assert fetched.data.params == {
        "lr": "0.1",
        "optimizer": "adam",
        "epochs": "3",
        "layers": "[4, 8]",
    }
    assert fetched.data.metrics == {"loss": 0.25, "accuracy": 0.91, "f1": 0.88, "negative": -1.5}
    assert fetched.data.tags["team"] == "vision"
    assert fetched.data.tags["stage"] == "dev"
    assert fetched.data.tags["note"] == "a longer tag value with spaces"
    assert fetched.data.tags["mlflow.runName"] == "fluent-run"
    assert "mlflow.user" in fetched.data.tags
    assert "mlflow.source.name" in fetched.data.tags

    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (0, 0.9),
        (1, 0.5),
        (2, 0.25),
    ]
    assert all(m.timestamp > 0 for m in history)

    root = {a.path: a for a in client.list_artifacts(run_id)}
    assert set(root) == {"dicts", "texts", "notes.md", "blobs", "tree"}
    assert root["tree"].is_dir and not root["notes.md"].is_dir
    assert root["notes.md"].file_size == single.stat().st_size
    tree = {a.path: a.is_dir for a in client.list_artifacts(run_id, "tree")}
    assert tree == {"tree/top.txt": False, "tree/nested": True}
    nested = {a.path for a in client.list_artifacts(run_id, "tree/nested")}
    assert nested == {"tree/nested/config.yaml", "tree/nested/deeper"}
    blobs = client.list_artifacts(run_id, "blobs")
    assert [(a.path, a.file_size) for a in blobs] == [("blobs/big.bin", big.stat().st_size)]

    out = tmp_path / "download"
    out.mkdir()
    tree_dir = Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="tree", dst_path=str(out))
    )
    assert _tree(tree_dir) == _tree(source)
    big_copy = Path(client.download_artifacts(run_id, "blobs/big.bin", str(out)))
    assert big_copy.read_bytes() == big.read_bytes()
    config = mlflow.artifacts.load_dict(f"runs:/{run_id}/dicts/config.json")
    assert config == {"a": 1, "b": [1, 2, 3]}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/texts/hello.txt") == "hello, artifacts\n"
    everything = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(out / "all")))
    assert (everything / "notes.md").read_bytes() == single.read_bytes()
    assert json.loads((everything / "dicts" / "config.json").read_text()) == config
    assert (everything / "tree" / "nested" / "deeper" / "weights.bin").read_bytes() == (
        source / "nested" / "deeper" / "weights.bin"
    ).read_bytes()


def test_nested_runs_point_at_their_parent(unique) -> None:
    experiment_id = mlflow.set_experiment(unique("nested")).experiment_id
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child-1", nested=True) as child_1:
            mlflow.log_metric("score", 1.0)
        with mlflow.start_run(run_name="child-2", nested=True) as child_2:
            mlflow.log_metric("score", 2.0)
        assert mlflow.active_run().info.run_id == parent.info.run_id

    client = MlflowClient()
    for child in (child_1, child_2):
        tags = client.get_run(child.info.run_id).data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
    assert "mlflow.parentRunId" not in client.get_run(parent.info.run_id).data.tags

    children = client.search_runs(
        [experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        order_by=["metrics.score DESC"],
    )
    assert [r.info.run_id for r in children] == [child_2.info.run_id, child_1.info.run_id]


def test_end_run_records_the_final_status(unique) -> None:
    mlflow.set_experiment(unique("statuses"))
    client = MlflowClient()
    ids = {}
    for status in ("FINISHED", "FAILED", "KILLED"):
        run = mlflow.start_run(run_name=f"ends-{status.lower()}")
        ids[status] = run.info.run_id
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
        assert client.get_run(run.info.run_id).info.end_time is None
        mlflow.end_run(status=status)
    for status, run_id in ids.items():
        info = client.get_run(run_id).info
        assert info.status == status
        assert info.end_time is not None

    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run(run_name="raises") as run:
            _ = 1 / 0
    assert client.get_run(run.info.run_id).info.status == RunStatus.to_string(RunStatus.FAILED)


def test_a_finished_run_can_be_resumed_and_logged_to(unique) -> None:
    mlflow.set_experiment(unique("resume"))
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0, step=0)
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.log_metric("m", 2.0, step=1)
        assert MlflowClient().get_run(run.info.run_id).info.status == "RUNNING"
    history = MlflowClient().get_metric_history(run.info.run_id, "m")
    assert sorted((m.step, m.value) for m in history) == [(0, 1.0), (1, 2.0)]
    assert MlflowClient().get_run(run.info.run_id).info.status == "FINISHED"


def test_search_runs_returns_a_dataframe_of_runs(unique) -> None:
    experiment_id = mlflow.set_experiment(unique("frame")).experiment_id
    expected = {}
    for index, (lr, acc) in enumerate([("0.1", 0.7), ("0.01", 0.9), ("0.001", 0.8)]):
        with mlflow.start_run(run_name=f"frame-{index}") as run:
            mlflow.log_param("lr", lr)
            mlflow.log_metric("acc", acc)
            mlflow.set_tag("group", "odd" if index % 2 else "even")
            expected[run.info.run_id] = (lr, acc)

    frame = mlflow.search_runs(experiment_ids=[experiment_id], order_by=["metrics.acc DESC"])
    assert len(frame) == 3
    for column in (
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
        "metrics.acc",
        "params.lr",
        "tags.group",
        "tags.mlflow.runName",
    ):
        assert column in frame.columns, column
    assert list(frame["metrics.acc"]) == [0.9, 0.8, 0.7]
    assert list(frame["params.lr"]) == ["0.01", "0.001", "0.1"]
    assert list(frame["tags.mlflow.runName"]) == ["frame-1", "frame-2", "frame-0"]
    assert set(frame["status"]) == {"FINISHED"}
    assert set(frame["experiment_id"]) == {experiment_id}
    for _, row in frame.iterrows():
        assert expected[row["run_id"]] == (row["params.lr"], row["metrics.acc"])

    filtered = mlflow.search_runs(
        experiment_names=[mlflow.get_experiment(experiment_id).name],
        filter_string="tags.group = 'even' and metrics.acc > 0.75",
    )
    assert list(filtered["params.lr"]) == ["0.001"]

    as_list = mlflow.search_runs(
        experiment_ids=[experiment_id], output_format="list", order_by=["params.lr ASC"]
    )
    assert [r.data.params["lr"] for r in as_list] == ["0.001", "0.01", "0.1"]
