"""The error contract: which MLflow error code (and HTTP status) each misuse produces."""

from __future__ import annotations

import uuid

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException


def _code_of(call) -> str:
    with pytest.raises(MlflowException) as error:
        call()
    return error.value.error_code


def test_missing_resources_answer_resource_does_not_exist(client: MlflowClient, unique) -> None:
    missing_run = uuid.uuid4().hex
    assert _code_of(lambda: client.get_run(missing_run)) == "RESOURCE_DOES_NOT_EXIST"
    assert _code_of(lambda: client.log_param(missing_run, "p", "v")) == "RESOURCE_DOES_NOT_EXIST"
    assert _code_of(lambda: client.get_experiment("987654321")) == "RESOURCE_DOES_NOT_EXIST"
    assert _code_of(lambda: client.delete_experiment("987654321")) == "RESOURCE_DOES_NOT_EXIST"
    assert (
        _code_of(lambda: client.get_registered_model(unique("missing-model")))
        == "RESOURCE_DOES_NOT_EXIST"
    )


def test_invalid_writes_answer_invalid_parameter_value(client: MlflowClient, unique) -> None:
    experiment_id = client.create_experiment(unique("errors"))
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "lr", "0.1")

    assert _code_of(lambda: client.log_param(run_id, "lr", "0.2")) == "INVALID_PARAMETER_VALUE"
    assert (
        _code_of(lambda: client.log_batch(run_id, params=[Param("lr", "0.3")]))
        == "INVALID_PARAMETER_VALUE"
    )
    # A rejected batch changes nothing.
    assert (
        _code_of(
            lambda: client.log_batch(
                run_id,
                metrics=[Metric("fine", 1.0, 1, 0)],
                params=[Param("other", "x"), Param("lr", "0.4")],
            )
        )
        == "INVALID_PARAMETER_VALUE"
    )
    run = client.get_run(run_id)
    assert run.data.params == {"lr": "0.1"}
    assert "fine" not in run.data.metrics

    # A run that was deleted accepts no more data.
    client.delete_run(run_id)
    assert _code_of(lambda: client.log_metric(run_id, "m", 1.0)) == "INVALID_PARAMETER_VALUE"
    client.restore_run(run_id)

    assert _code_of(lambda: client.create_experiment("")) == "INVALID_PARAMETER_VALUE"
    existing = unique("errors-dup")
    client.create_experiment(existing)
    assert _code_of(lambda: client.create_experiment(existing)) == "RESOURCE_ALREADY_EXISTS"


def test_bad_search_requests_answer_invalid_parameter_value(client: MlflowClient, unique) -> None:
    experiment_id = client.create_experiment(unique("errors-search"))
    bad_filters = [
        "metrics.acc >>> 1",
        "params.lr = 0.1",
        "nonsense.key = 'x'",
        "metrics.acc > 'high'",
        "attributes.status = 'FINISHED' OR attributes.status = 'FAILED'",
    ]
    for bad in bad_filters:
        code = _code_of(lambda: client.search_runs([experiment_id], filter_string=bad))
        assert code == "INVALID_PARAMETER_VALUE", bad
    assert (
        _code_of(lambda: client.search_runs([experiment_id], order_by=["metrics.acc SIDEWAYS"]))
        == "INVALID_PARAMETER_VALUE"
    )
    assert (
        _code_of(lambda: client.search_runs([experiment_id], max_results=50001))
        == "INVALID_PARAMETER_VALUE"
    )
    assert (
        _code_of(lambda: client.search_experiments(filter_string="name === 'x'"))
        == "INVALID_PARAMETER_VALUE"
    )


def test_errors_are_json_bodies_with_matching_http_statuses(server, unique) -> None:
    base = f"{server.url}/api/2.0/mlflow"

    missing = requests.get(f"{base}/runs/get", params={"run_id": uuid.uuid4().hex}, timeout=30)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/json")
    body = missing.json()
    assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert isinstance(body["message"], str) and body["message"]

    created = requests.post(f"{base}/experiments/create", json={"name": unique("raw")}, timeout=30)
    assert created.status_code == 200
    experiment_id = created.json()["experiment_id"]

    bad_filter = requests.post(
        f"{base}/runs/search",
        json={"experiment_ids": [experiment_id], "filter": "metrics.acc >>> 1"},
        timeout=30,
    )
    assert bad_filter.status_code == 400
    assert bad_filter.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    duplicate = requests.post(
        f"{base}/experiments/create",
        json={"name": mlflow.get_experiment(experiment_id).name},
        timeout=30,
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"

    missing_field = requests.post(f"{base}/experiments/create", json={}, timeout=30)
    assert missing_field.status_code == 400
    assert missing_field.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    no_model = requests.get(
        f"{base}/registered-models/get", params={"name": unique("raw-missing")}, timeout=30
    )
    assert no_model.status_code == 404
    assert no_model.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
