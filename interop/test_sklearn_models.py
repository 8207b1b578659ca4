"""Scenarios for scikit-learn autologging, MLflow 3 logged models and loading from the registry."""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_iris(as_frame=True)
    return data.data, data.target.to_numpy()


def test_autolog_records_params_metrics_and_the_model(client: MlflowClient, unique, iris) -> None:
    features, target = iris
    mlflow.set_experiment(unique("autolog"))
    mlflow.sklearn.autolog(log_input_examples=False, log_model_signatures=True, silent=True)
    try:
        with mlflow.start_run() as run:
            model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(features, target)
    finally:
        mlflow.sklearn.autolog(disable=True)

    fetched = client.get_run(run.info.run_id)
    assert fetched.data.params["max_depth"] == "3"
    assert fetched.data.params["random_state"] == "0"
    assert fetched.data.params["criterion"] == "gini"
    assert fetched.data.metrics["training_accuracy_score"] == pytest.approx(
        model.score(features, target)
    )
    assert "training_f1_score" in fetched.data.metrics
    assert fetched.data.tags["estimator_name"] == "DecisionTreeClassifier"
    assert fetched.data.tags["estimator_class"] == "sklearn.tree._classes.DecisionTreeClassifier"

    logged = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert len(logged) == 1
    assert logged[0].source_run_id == run.info.run_id
    reloaded = mlflow.sklearn.load_model(f"models:/{logged[0].model_id}")
    assert np.array_equal(reloaded.predict(features), model.predict(features))


def test_a_logged_model_is_registered_aliased_and_served_back(
    client: MlflowClient, unique, iris, tmp_path
) -> None:
    features, target = iris
    experiment_id = mlflow.set_experiment(unique("sk-model")).experiment_id
    name = unique("iris-classifier")
    model = LogisticRegression(max_iter=500).fit(features, target)
    expected = model.predict(features)

    with mlflow.start_run() as run:
        mlflow.log_params({"max_iter": 500})
        mlflow.log_metric("train_accuracy", model.score(features, target))
        info = mlflow.sklearn.log_model(
            model,
            name="classifier",
            registered_model_name=name,
            input_example=features.head(3),
            params={"variant": "baseline"},
            # Naming the requirements skips a slow (~10 s) inference subprocess; the autolog
            # scenario keeps the inferred path.
            pip_requirements=["scikit-learn", "numpy", "pandas"],
        )

    assert info.model_uri == f"models:/{info.model_id}"
    assert info.run_id == run.info.run_id
    assert str(info.registered_model_version) == "1"
    assert info.signature is not None

    logged = mlflow.get_logged_model(info.model_id)
    assert logged.name == "classifier"
    assert logged.experiment_id == experiment_id
    assert logged.source_run_id == run.info.run_id
    assert logged.status == "READY"
    # MLflow 3 copies the run's params onto a model logged inside it.
    assert logged.params == {"variant": "baseline", "max_iter": "500"}
    assert logged.artifact_location.startswith("mlflow-artifacts:/")
    assert mlflow.last_logged_model().model_id == info.model_id
    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id], filter_string="name = 'classifier'", output_format="list"
    )
    assert [m.model_id for m in found] == [info.model_id]
    artifacts = {a.path for a in client.list_logged_model_artifacts(info.model_id)}
    assert {"MLmodel", "requirements.txt", "python_env.yaml"} <= artifacts
    assert any(path.startswith("model.") for path in artifacts), artifacts

    version = client.get_model_version(name, "1")
    assert version.run_id == run.info.run_id
    assert version.status == "READY"
    assert version.source == info.model_uri
    client.set_registered_model_alias(name, "champion", "1")

    # A second version from another logged model, registered afterwards.
    shallow = DecisionTreeClassifier(max_depth=1, random_state=0).fit(features, target)
    with mlflow.start_run():
        second = mlflow.sklearn.log_model(
            shallow,
            name="shallow",
            pip_requirements=["scikit-learn"],
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
    v2 = mlflow.register_model(second.model_uri, name)
    assert v2.version == "2"
    client.set_registered_model_alias(name, "challenger", "2")

    by_alias = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert np.array_equal(np.asarray(by_alias.predict(features)), expected)
    assert by_alias.metadata.model_id == info.model_id
    by_version = mlflow.sklearn.load_model(f"models:/{name}/1")
    assert np.array_equal(by_version.predict_proba(features), model.predict_proba(features))
    challenger = mlflow.pyfunc.load_model(f"models:/{name}@challenger")
    assert np.array_equal(np.asarray(challenger.predict(features)), shallow.predict(features))
    by_model_id = mlflow.pyfunc.load_model(info.model_uri)
    assert np.array_equal(np.asarray(by_model_id.predict(features)), expected)

    client.transition_model_version_stage(name, "1", "Production")
    by_stage = mlflow.pyfunc.load_model(f"models:/{name}/Production")
    assert np.array_equal(np.asarray(by_stage.predict(features)), expected)

    downloaded = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}@champion", dst_path=str(tmp_path)
    )
    mlmodel = (Path(downloaded) / "MLmodel").read_text()
    assert info.model_id in mlmodel
    assert "sklearn" in mlmodel
