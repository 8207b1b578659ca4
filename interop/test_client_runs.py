"""Scenarios for runs through ``MlflowClient``: lifecycle, batches, datasets and search."""

from __future__ import annotations

import sys
import time

import mlflow
import mlflow.data
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException


def test_a_run_is_created_updated_deleted_and_restored(client: MlflowClient, unique) -> None:
    experiment_id = client.create_experiment(unique("runs"))
    started = int(time.time() * 1000) - 5_000
    run = client.create_run(
        experiment_id, start_time=started, tags={"source": "interop"}, run_name="first"
    )
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    assert run.info.start_time == started
    assert run.info.run_name == "first"
    assert run.info.lifecycle_stage == "active"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    assert run.data.tags["source"] == "interop"
    assert run.data.tags["mlflow.runName"] == "first"

    client.update_run(run_id, name="renamed")
    fetched = client.get_run(run_id)
    assert fetched.info.run_name == "renamed"
    assert fetched.data.tags["mlflow.runName"] == "renamed"
    assert fetched.info.status == "RUNNING"

    client.set_terminated(run_id, status="FINISHED")
    finished = client.get_run(run_id).info
    assert finished.status == "FINISHED"
    assert finished.end_time is not None and finished.end_time >= started

    client.update_run(run_id, status="FAILED")
    assert client.get_run(run_id).info.status == "FAILED"

    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run_id]

    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run_id]


def test_log_batch_writes_metrics_params_and_tags_together(client: MlflowClient, unique) -> None:
    experiment_id = client.create_experiment(unique("batch"))
    run_id = client.create_run(experiment_id).info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric("loss", 1.0 / (step + 1), now + step, step) for step in range(50)]
    metrics.append(Metric("acc", 0.5, now, 0))
    metrics.append(Metric("acc", 0.75, now + 1, 1))
    params = [Param(f"p{index}", str(index)) for index in range(20)]
    tags = [RunTag("batch", "yes"), RunTag("removable", "soon")]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    run = client.get_run(run_id)
    assert run.data.params == {f"p{index}": str(index) for index in range(20)}
    assert run.data.metrics == {"loss": 1.0 / 50, "acc": 0.75}
    assert run.data.tags["batch"] == "yes"

    history = client.get_metric_history(run_id, "loss")
    assert len(history) == 50
    assert sorted((m.step, m.value, m.timestamp) for m in history) == [
        (step, 1.0 / (step + 1), now + step) for step in range(50)
    ]

    # Re-logging an identical param is accepted; so is an empty batch.
    client.log_batch(run_id, params=[Param("p0", "0")])
    client.log_batch(run_id)

    client.delete_tag(run_id, "removable")
    assert "removable" not in client.get_run(run_id).data.tags
    with pytest.raises(MlflowException) as error:
        client.delete_tag(run_id, "removable")
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    # The latest value of a metric is the one with the highest step, then timestamp.
    client.log_metric(run_id, "acc", 0.1, timestamp=now - 10_000, step=0)
    assert client.get_run(run_id).data.metrics["acc"] == 0.75
    client.log_metric(run_id, "acc", 0.95, timestamp=now + 5, step=7)
    assert client.get_run(run_id).data.metrics["acc"] == 0.95


def test_special_metric_values_round_trip(client: MlflowClient, unique, server) -> None:
    experiment_id = client.create_experiment(unique("special"))
    run_id = client.create_run(experiment_id).info.run_id
    client.log_metric(run_id, "nan", float("nan"))
    client.log_metric(run_id, "inf", float("inf"))
    client.log_metric(run_id, "neg_inf", float("-inf"))
    client.log_metric(run_id, "big", 1.7976931348623157e308)
    client.log_metric(run_id, "tiny", 5e-324)
    client.log_metric(run_id, "int", 42)
    metrics = client.get_run(run_id).data.metrics
    assert metrics["nan"] != metrics["nan"]
    if server.kind == "mlflow":
        # MLflow's SQL stores clamp infinities to the largest finite double.
        assert metrics["inf"] == sys.float_info.max
        assert metrics["neg_inf"] == -sys.float_info.max
    else:
        # Modelyard keeps infinities as they were logged (a documented difference).
        assert metrics["inf"] == float("inf")
        assert metrics["neg_inf"] == float("-inf")
    assert metrics["big"] == 1.7976931348623157e308
    assert metrics["tiny"] == 5e-324
    assert metrics["int"] == 42.0


def test_dataset_inputs_are_recorded_and_searchable(client: MlflowClient, unique) -> None:
    experiment_id = mlflow.set_experiment(unique("datasets")).experiment_id
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    train = mlflow.data.from_pandas(frame, source="/data/train.csv", targets="y", name="train-set")
    evaluation = mlflow.data.from_pandas(frame.head(2), targets="y", name="eval-set")

    with mlflow.start_run() as fluent_run:
        mlflow.log_input(train, context="training", tags={"split": "train"})
    run_id = client.create_run(experiment_id).info.run_id
    client.log_inputs(
        run_id,
        datasets=[
            DatasetInput(
                evaluation._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "eval")]
            )
        ],
    )

    inputs = client.get_run(fluent_run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert dataset.name == "train-set"
    assert dataset.digest == train.digest
    assert dataset.source_type == train.source._get_source_type()
    assert dataset.source == train.source.to_json()
    assert dataset.schema and "x" in dataset.schema
    assert dataset.profile and "num_rows" in dataset.profile
    tags = {tag.key: tag.value for tag in inputs[0].tags}
    assert tags == {"mlflow.data.context": "training", "split": "train"}

    other = client.get_run(run_id).inputs.dataset_inputs
    assert [(d.dataset.name, d.dataset.digest) for d in other] == [("eval-set", evaluation.digest)]

    def search(filter_string: str) -> set[str]:
        return {r.info.run_id for r in client.search_runs([experiment_id], filter_string)}

    assert search("datasets.name = 'train-set'") == {fluent_run.info.run_id}
    assert search(f"datasets.digest = '{evaluation.digest}'") == {run_id}
    assert search("datasets.context = 'training'") == {fluent_run.info.run_id}
    assert search("datasets.name LIKE '%-set'") == {fluent_run.info.run_id, run_id}
    assert search("datasets.name IN ('eval-set', 'nope')") == {run_id}


@pytest.fixture
def searchable(client: MlflowClient, unique):
    """Six finished or running runs with varied metrics, params and tags."""
    experiment_id = client.create_experiment(unique("search"))
    specs = [
        # name, lr, acc, loss, team, status
        ("alpha", "0.1", 0.60, 0.90, "red", "FINISHED"),
        ("beta", "0.01", 0.75, 0.50, "red", "FINISHED"),
        ("gamma", "0.001", 0.90, 0.20, "blue", "FAILED"),
        ("delta", "0.01", 0.85, 0.30, "blue", "FINISHED"),
        ("epsilon", "0.5", 0.40, 1.20, "green", "RUNNING"),
        ("zeta", "0.05", 0.95, 0.10, "green", "KILLED"),
    ]
    ids = {}
    base = int(time.time() * 1000)
    for index, (name, lr, acc, loss, team, status) in enumerate(specs):
        run = client.create_run(experiment_id, run_name=name, start_time=base + index * 1000)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", acc, base, 0), Metric("loss", loss, base, 0)],
            params=[Param("lr", lr), Param("model", "tree" if index % 2 else "linear")],
            tags=[RunTag("team", team)],
        )
        if status != "RUNNING":
            client.set_terminated(
                run.info.run_id, status=status, end_time=base + index * 1000 + 500
            )
        ids[name] = run.info.run_id
    return experiment_id, ids


def test_search_runs_filters_on_metrics_params_tags_and_attributes(
    client: MlflowClient, searchable
) -> None:
    experiment_id, ids = searchable
    names = {run_id: name for name, run_id in ids.items()}

    def search(filter_string: str, **kwargs) -> list[str]:
        runs = client.search_runs([experiment_id], filter_string, **kwargs)
        return [names[r.info.run_id] for r in runs]

    def search_set(filter_string: str) -> set[str]:
        return set(search(filter_string))

    assert search_set("metrics.acc > 0.8") == {"gamma", "delta", "zeta"}
    assert search_set("metrics.acc >= 0.85 and metrics.loss < 0.25") == {"gamma", "zeta"}
    assert search_set("metrics.loss != 0.5") == {"alpha", "gamma", "delta", "epsilon", "zeta"}
    assert search_set("metrics.acc <= 0.6") == {"alpha", "epsilon"}
    assert search_set("params.lr = '0.01'") == {"beta", "delta"}
    assert search_set("params.model != 'tree' AND params.lr LIKE '0.0%'") == {"gamma"}
    assert search_set("tags.team = 'blue'") == {"gamma", "delta"}
    assert search_set("tags.team ILIKE 'R%'") == {"alpha", "beta"}
    assert search_set("tags.`mlflow.runName` = 'beta'") == {"beta"}
    assert search_set("attributes.status = 'FAILED'") == {"gamma"}
    assert search_set("attributes.status != 'FINISHED'") == {"gamma", "epsilon", "zeta"}
    assert search_set("attributes.run_name = 'delta'") == {"delta"}
    assert search_set("run_name LIKE '%eta'") == {"beta", "zeta"}
    assert search_set(f"attributes.run_id = '{ids['alpha']}'") == {"alpha"}
    assert search_set(f"attributes.run_id IN ('{ids['alpha']}', '{ids['zeta']}')") == {
        "alpha",
        "zeta",
    }
    start_of_delta = client.get_run(ids["delta"]).info.start_time
    assert search_set(f"attributes.start_time >= {start_of_delta}") == {"delta", "epsilon", "zeta"}
    assert search_set("metrics.missing > 0") == set()
    assert search_set("") == set(ids)


def test_search_runs_orders_and_pages(client: MlflowClient, searchable) -> None:
    experiment_id, ids = searchable
    names = {run_id: name for name, run_id in ids.items()}

    def ordered(order_by: list[str], filter_string: str = "") -> list[str]:
        runs = client.search_runs([experiment_id], filter_string, order_by=order_by)
        return [names[r.info.run_id] for r in runs]

    assert ordered(["metrics.acc DESC"]) == ["zeta", "gamma", "delta", "beta", "alpha", "epsilon"]
    assert ordered(["metrics.loss ASC"]) == ["zeta", "gamma", "delta", "beta", "alpha", "epsilon"]
    assert ordered(["params.lr ASC", "attributes.run_name DESC"]) == [
        "gamma",
        "delta",
        "beta",
        "zeta",
        "alpha",
        "epsilon",
    ]
    assert ordered(["tags.team ASC", "metrics.acc ASC"]) == [
        "delta",
        "gamma",
        "epsilon",
        "zeta",
        "alpha",
        "beta",
    ]
    assert ordered(["attributes.start_time DESC"]) == [
        "zeta",
        "epsilon",
        "delta",
        "gamma",
        "beta",
        "alpha",
    ]
    # Default order: newest start_time first.
    assert ordered([]) == ["zeta", "epsilon", "delta", "gamma", "beta", "alpha"]
    assert ordered(["run_name"]) == ["alpha", "beta", "delta", "epsilon", "gamma", "zeta"]
    # Runs without the metric sort last either way.
    assert ordered(["metrics.acc DESC"], "params.model = 'tree'") == ["zeta", "delta", "beta"]

    pages = []
    page = client.search_runs([experiment_id], order_by=["metrics.acc ASC"], max_results=4)
    pages.append([names[r.info.run_id] for r in page])
    while page.token:
        page = client.search_runs(
            [experiment_id], order_by=["metrics.acc ASC"], max_results=4, page_token=page.token
        )
        pages.append([names[r.info.run_id] for r in page])
    assert pages == [["epsilon", "alpha", "beta", "delta"], ["gamma", "zeta"]]


def test_search_runs_spans_several_experiments(client: MlflowClient, unique) -> None:
    first = client.create_experiment(unique("multi-a"))
    second = client.create_experiment(unique("multi-b"))
    run_a = client.create_run(first, run_name="in-a").info.run_id
    run_b = client.create_run(second, run_name="in-b").info.run_id
    client.log_metric(run_a, "shared", 1.0)
    client.log_metric(run_b, "shared", 2.0)
    runs = client.search_runs([first, second], order_by=["metrics.shared DESC"])
    assert [r.info.run_id for r in runs] == [run_b, run_a]
    assert [r.info.experiment_id for r in runs] == [second, first]
