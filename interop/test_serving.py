"""Scenarios for model serving, driven by real third-party clients.

A scikit-learn LogisticRegression is converted with skl2onnx, logged with ``mlflow.onnx`` to the
server's registry and aliased ``champion``; ``yard deployments create`` puts it behind an endpoint.
Then:

- NVIDIA's ``tritonclient[http]`` speaks the Open Inference Protocol v2 to ``/v2/...`` (JSON and
  binary tensors) and must get scikit-learn's own labels and probabilities back;
- MLflow's scoring formats (``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``,
  ``text/csv``) are posted to ``/endpoints/<name>/invocations`` the way MLflow's own scoring client
  and ``requests`` send them, and each answer must equal what MLflow's scoring server computes for
  the same bytes (``mlflow.pyfunc.scoring_server.invocations`` run in this process on the model
  downloaded back from the registry);
- bad input sent by tritonclient is refused with a 4xx that names the input and its expected
  shape or datatype, and the deployment keeps serving.

These scenarios need ``yard server`` (MLflow's tracking server serves no models), so they skip
under ``--server=mlflow``, and they run on two backends only (``sqlite+local``, ``postgres+s3``):
serving reads the model through the same artifact store code as the tracking scenarios, which
already cover the other two combinations.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mlflow
import mlflow.onnx
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.http as triton
from mlflow import MlflowClient
from mlflow.models import infer_signature
from mlflow.pyfunc import scoring_server
from mlflow.pyfunc.scoring_server.client import ScoringServerClient, dump_input_data
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression
from tritonclient.utils import InferenceServerException

from conftest import YARD_BIN, Server

pytestmark = [
    pytest.mark.backends("sqlite+local", "postgres+s3"),
    pytest.mark.skipif(
        "config.getoption('server') != 'yard'",
        reason="serving scenarios need yard server: MLflow's tracking server serves no models",
    ),
]

N_FEATURES = 20
N_CLASSES = 3
INPUT_NAME = "float_input"
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]
# float32 arithmetic in two runtimes (onnxruntime in Python and in Node) against sklearn's float64.
PROBABILITY_TOLERANCE = 1e-5


def _make_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three overlapping Gaussian blobs in 20 dimensions (training set) and 12 rows to predict.

    The blobs overlap (the model scores about 0.84 on its training set), so most answers are
    uncertain and the probabilities are compared away from 0 and 1; no row is near a tie between
    two classes (the top two probabilities differ by at least 0.27), so float32 rounding cannot
    change a label.
    """
    rng = np.random.default_rng(20240601)
    centers = rng.normal(0.0, 0.5, size=(N_CLASSES, N_FEATURES))
    y = np.repeat(np.arange(N_CLASSES), 200)
    x = centers[y] + rng.normal(0.0, 1.0, size=(y.size, N_FEATURES))
    picks = np.arange(12) % N_CLASSES
    rows = centers[picks] + rng.normal(0.0, 1.0, size=(picks.size, N_FEATURES))
    return x.astype(np.float32), y.astype(np.int64), rows.astype(np.float32)


@dataclass(frozen=True)
class Served:
    """A model logged to the server's registry and deployed behind an endpoint."""

    server: Server
    model_name: str
    deployment: str
    sklearn_model: LogisticRegression
    rows: np.ndarray
    pyfunc_model: Any

    @property
    def host_port(self) -> str:
        return urllib.parse.urlsplit(self.server.url).netloc

    @property
    def invocations_url(self) -> str:
        return f"{self.server.url}/endpoints/{self.deployment}/invocations"


def yard(server: Server, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Runs the built `yard` CLI against the server; returns the finished process."""
    return subprocess.run(
        ["node", str(YARD_BIN), "--server", server.url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _ok(process: subprocess.CompletedProcess[str]) -> str:
    assert process.returncode == 0, (
        f"`{' '.join(process.args[2:])}` exited with {process.returncode}\n"
        f"--- stdout ---\n{process.stdout}\n--- stderr ---\n{process.stderr}"
    )
    return process.stdout


@pytest.fixture(scope="module")
def served(server: Server) -> Iterator[Served]:
    """Trains, converts, logs, registers, aliases and deploys the model once per backend."""
    import secrets

    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    token = secrets.token_hex(4)
    model_name = f"serving-blobs-{token}"
    deployment = f"blobs-{token}"

    x, y, rows = _make_data()
    model = LogisticRegression(max_iter=1000, random_state=0).fit(x, y)
    onnx_model = convert_sklearn(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))],
        options={id(model): {"zipmap": False}},
    )
    # The signature as skl2onnx's outputs have it: int64 labels, float32 probabilities.
    signature = infer_signature(
        x[:5],
        {
            "label": model.predict(x[:5]).astype(np.int64),
            "probabilities": model.predict_proba(x[:5]).astype(np.float32),
        },
    )

    mlflow.set_experiment(f"serving-{token}")
    with mlflow.start_run():
        info = mlflow.onnx.log_model(
            onnx_model,
            name="model",
            registered_model_name=model_name,
            signature=signature,
            # Naming the requirements skips MLflow's slow requirement-inference subprocess.
            pip_requirements=["onnx", "onnxruntime"],
        )
    MlflowClient().set_registered_model_alias(
        model_name, "champion", str(info.registered_model_version)
    )

    _ok(
        yard(
            server,
            "deployments",
            "create",
            deployment,
            "--model",
            f"models:/{model_name}@champion",
            "--wait",
        )
    )
    pyfunc_model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    try:
        yield Served(server, model_name, deployment, model, rows, pyfunc_model)
    finally:
        yard(server, "deployments", "delete", deployment)


@pytest.fixture
def oip(served: Served) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(url=served.host_port, network_timeout=60.0)
    try:
        yield client
    finally:
        client.close()


def _infer(
    client: triton.InferenceServerClient,
    model: str,
    rows: np.ndarray,
    *,
    binary: bool,
    name: str = INPUT_NAME,
    datatype: str = "FP32",
) -> triton.InferResult:
    tensor = triton.InferInput(name, list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput("label", binary_data=binary),
        triton.InferRequestedOutput("probabilities", binary_data=binary),
    ]
    return client.infer(model, [tensor], outputs=outputs)


def _assert_matches_sklearn(served: Served, result: triton.InferResult, rows: np.ndarray) -> None:
    labels = result.as_numpy("label")
    probabilities = result.as_numpy("probabilities")
    assert labels is not None and probabilities is not None
    assert labels.dtype == np.int64
    assert probabilities.dtype == np.float32
    assert labels.shape == (rows.shape[0],)
    assert probabilities.shape == (rows.shape[0], N_CLASSES)
    assert labels.tolist() == served.sklearn_model.predict(rows).tolist()
    np.testing.assert_allclose(
        probabilities, served.sklearn_model.predict_proba(rows), rtol=0, atol=PROBABILITY_TOLERANCE
    )


# --- Open Inference Protocol v2 through tritonclient -------------------------------------------


def test_tritonclient_sees_a_live_ready_server_and_model(
    served: Served, oip: triton.InferenceServerClient
) -> None:
    assert oip.is_server_live()
    assert oip.is_server_ready()
    assert oip.is_model_ready(served.deployment)
    assert not oip.is_model_ready(f"{served.deployment}-missing")
    metadata = oip.get_server_metadata()
    assert isinstance(metadata["name"], str) and metadata["name"]
    assert isinstance(metadata["version"], str) and metadata["version"]


def test_tritonclient_reads_the_model_metadata_from_the_onnx_graph(
    served: Served, oip: triton.InferenceServerClient
) -> None:
    metadata = oip.get_model_metadata(served.deployment)
    assert metadata["name"] == served.deployment
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, 20]}]
    outputs = sorted(metadata["outputs"], key=lambda output: output["name"])
    assert outputs == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, N_CLASSES]},
    ]


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_tritonclient_infers_sklearns_labels_and_probabilities(
    served: Served, oip: triton.InferenceServerClient, binary: bool
) -> None:
    result = _infer(oip, served.deployment, served.rows, binary=binary)
    _assert_matches_sklearn(served, result, served.rows)
    response = result.get_response()
    assert response["model_name"] == served.deployment
    assert {output["name"] for output in response["outputs"]} == {"label", "probabilities"}


def test_tritonclient_infers_a_single_row_and_a_batch_of_one_hundred(
    served: Served, oip: triton.InferenceServerClient
) -> None:
    one = served.rows[:1]
    _assert_matches_sklearn(served, _infer(oip, served.deployment, one, binary=True), one)
    batch = np.tile(served.rows, (9, 1))[:100]
    _assert_matches_sklearn(served, _infer(oip, served.deployment, batch, binary=True), batch)


def test_tritonclient_gets_only_the_outputs_it_asks_for(
    served: Served, oip: triton.InferenceServerClient
) -> None:
    tensor = triton.InferInput(INPUT_NAME, list(served.rows.shape), "FP32")
    tensor.set_data_from_numpy(served.rows)
    result = oip.infer(
        served.deployment, [tensor], outputs=[triton.InferRequestedOutput("probabilities")]
    )
    assert [output["name"] for output in result.get_response()["outputs"]] == ["probabilities"]
    assert result.as_numpy("label") is None
    np.testing.assert_allclose(
        result.as_numpy("probabilities"),
        served.sklearn_model.predict_proba(served.rows),
        rtol=0,
        atol=PROBABILITY_TOLERANCE,
    )


# --- MLflow scoring protocol -------------------------------------------------------------------


def _frame(rows: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def _body(request_format: str, rows: np.ndarray) -> tuple[str, str]:
    """The request body and content type, built the way MLflow's clients build them."""
    if request_format == "dataframe_split":
        # MLflow's scoring client: DataFrame.to_dict(orient="split"), index included.
        return dump_input_data(_frame(rows)), "application/json"
    if request_format == "inputs":
        # MLflow's scoring client with a numpy array.
        return dump_input_data(rows), "application/json"
    if request_format == "instances":
        return dump_input_data(rows, inputs_key="instances"), "application/json"
    if request_format == "dataframe_records":
        records = _frame(rows).to_dict(orient="records")
        return json.dumps({"dataframe_records": records}), "application/json"
    if request_format == "csv":
        return _frame(rows).to_csv(index=False), "text/csv"
    raise AssertionError(request_format)


def _mlflow_scoring_answer(served: Served, body: str, content_type: str) -> dict[str, Any]:
    """What MLflow's scoring server (`mlflow models serve`) answers for these bytes."""
    model = served.pyfunc_model
    schema = model.metadata.get_input_schema()
    answer = scoring_server.invocations(body, content_type, model, schema)
    assert answer.status == 200, answer.response
    return json.loads(answer.response)


def _assert_json_close(actual: Any, expected: Any, path: str = "$") -> None:
    """Equal JSON, except that floats may differ by PROBABILITY_TOLERANCE."""
    if isinstance(expected, float) or isinstance(actual, float):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), path
        assert actual == pytest.approx(expected, abs=PROBABILITY_TOLERANCE), path
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r}"
        assert sorted(actual) == sorted(expected), path
        for key in expected:
            _assert_json_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for index, (left, right) in enumerate(zip(actual, expected)):
            _assert_json_close(left, right, f"{path}[{index}]")
    else:
        assert actual == expected and type(actual) is type(expected), path


@pytest.mark.parametrize(
    "request_format", ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"]
)
def test_scoring_formats_answer_what_mlflows_scoring_server_answers(
    served: Served, request_format: str
) -> None:
    body, content_type = _body(request_format, served.rows)
    response = requests.post(
        served.invocations_url, data=body, headers={"Content-Type": content_type}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()

    # MLflow's scoring server cannot answer text/csv for a model with a tensor signature (its CSV
    # parser asks the tensor schema for pandas column types and fails), so the CSV answer is
    # compared with MLflow's answer to the same rows sent as dataframe_split.
    reference_body, reference_type = (
        (body, content_type) if request_format != "csv" else _body("dataframe_split", served.rows)
    )
    expected = _mlflow_scoring_answer(served, reference_body, reference_type)
    # For this two-output ONNX model MLflow answers one list per named output.
    assert sorted(expected["predictions"]) == ["label", "probabilities"]
    _assert_json_close(answer, expected)

    assert answer["predictions"]["label"] == served.sklearn_model.predict(served.rows).tolist()
    np.testing.assert_allclose(
        np.asarray(answer["predictions"]["probabilities"]),
        served.sklearn_model.predict_proba(served.rows),
        rtol=0,
        atol=PROBABILITY_TOLERANCE,
    )


def test_mlflows_own_scoring_client_gets_predictions(served: Served) -> None:
    client = ScoringServerClient("127.0.0.1", 0)
    # The client posts to url_prefix + "/invocations"; a deployment's endpoint is one path deeper.
    client.url_prefix = f"{served.server.url}/endpoints/{served.deployment}"
    answer = client.invoke(_frame(served.rows))
    predictions = answer["predictions"]
    assert predictions["label"] == served.sklearn_model.predict(served.rows).tolist()
    local = served.pyfunc_model.predict(served.rows)
    np.testing.assert_allclose(
        np.asarray(predictions["probabilities"]),
        local["probabilities"],
        rtol=0,
        atol=PROBABILITY_TOLERANCE,
    )


# --- Bad input over real clients ---------------------------------------------------------------


def test_tritonclient_is_told_the_expected_shape_when_a_feature_is_missing(
    served: Served, oip: triton.InferenceServerClient
) -> None:
    narrow = np.ascontiguousarray(served.rows[:, : N_FEATURES - 1])
    for binary in (True, False):
        with pytest.raises(InferenceServerException) as raised:
            _infer(oip, served.deployment, narrow, binary=binary)
        message = raised.value.message()
        assert raised.value.status() == "400", str(raised.value)
        assert INPUT_NAME in message, message
        assert re.search(r"\[-1,\s*20\]", message), message
    # Still serving.
    _assert_matches_sklearn(
        served, _infer(oip, served.deployment, served.rows, binary=True), served.rows
    )


def test_tritonclient_is_told_the_expected_datatype(
    served: Served, oip: triton.InferenceServerClient
) -> None:
    with pytest.raises(InferenceServerException) as raised:
        _infer(oip, served.deployment, served.rows.astype(np.float64), binary=True, datatype="FP64")
    message = raised.value.message()
    assert raised.value.status() == "400", str(raised.value)
    assert INPUT_NAME in message and "FP32" in message, message


def test_tritonclient_is_told_when_an_input_is_unknown(
    served: Served, oip: triton.InferenceServerClient
) -> None:
    with pytest.raises(InferenceServerException) as raised:
        _infer(oip, served.deployment, served.rows, binary=False, name="features")
    assert raised.value.status() == "400", str(raised.value)
    assert INPUT_NAME in raised.value.message()


def test_tritonclient_gets_an_error_for_an_unknown_model(
    served: Served, oip: triton.InferenceServerClient
) -> None:
    missing = f"{served.deployment}-missing"
    with pytest.raises(InferenceServerException) as raised:
        _infer(oip, missing, served.rows, binary=True)
    assert raised.value.status() == "404", str(raised.value)
    assert missing in raised.value.message()
    with pytest.raises(InferenceServerException) as raised:
        oip.get_model_metadata(missing)
    assert raised.value.status() == "404", str(raised.value)
    # The deployment that exists still answers.
    _assert_matches_sklearn(
        served, _infer(oip, served.deployment, served.rows, binary=False), served.rows
    )


def test_tritonclient_addresses_the_registry_version_and_not_others(
    served: Served, oip: triton.InferenceServerClient
) -> None:
    tensor = triton.InferInput(INPUT_NAME, list(served.rows.shape), "FP32")
    tensor.set_data_from_numpy(served.rows)
    result = oip.infer(served.deployment, [tensor], model_version="1")
    _assert_matches_sklearn(served, result, served.rows)
    assert oip.is_model_ready(served.deployment, model_version="1")
    assert not oip.is_model_ready(served.deployment, model_version="7")
    with pytest.raises(InferenceServerException) as raised:
        oip.infer(served.deployment, [tensor], model_version="7")
    assert raised.value.status() == "404", str(raised.value)


def test_scoring_errors_are_4xx_json_and_the_endpoint_keeps_serving(served: Served) -> None:
    narrow = served.rows[:, : N_FEATURES - 1]
    bad = [
        (json.dumps({"inputs": narrow.tolist()}), "application/json"),
        (json.dumps({"inputs": [["a"] * N_FEATURES]}), "application/json"),
        (json.dumps({"rows": served.rows.tolist()}), "application/json"),
        ("{not json", "application/json"),
    ]
    messages: list[str] = []
    for body, content_type in bad:
        response = requests.post(
            served.invocations_url, data=body, headers={"Content-Type": content_type}, timeout=60
        )
        assert 400 <= response.status_code < 500, (body[:80], response.status_code, response.text)
        error = response.json()
        # MLflow's scoring server's error shape.
        assert isinstance(error["error_code"], str) and isinstance(error["message"], str), error
        messages.append(error["message"])
    assert INPUT_NAME in messages[0] and re.search(r"\[-1,\s*20\]", messages[0]), messages[0]
    assert INPUT_NAME in messages[1] and "FP32" in messages[1], messages[1]

    missing = requests.post(
        f"{served.server.url}/endpoints/{served.deployment}-missing/invocations",
        data=_body("inputs", served.rows)[0],
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert missing.status_code == 404, missing.text

    body, content_type = _body("inputs", served.rows)
    response = requests.post(
        served.invocations_url, data=body, headers={"Content-Type": content_type}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"]["label"] == served.sklearn_model.predict(
        served.rows
    ).tolist()


# --- The CLI ----------------------------------------------------------------------------------


def test_the_cli_gets_lists_and_deletes_a_deployment_by_version(served: Served) -> None:
    name = f"{served.deployment}-v1"
    _ok(
        yard(
            served.server,
            "deployments",
            "create",
            name,
            "--model",
            f"models:/{served.model_name}/1",
            "--wait",
        )
    )
    try:
        assert name in _ok(yard(served.server, "deployments", "get", name))
        listed = _ok(yard(served.server, "deployments", "list"))
        assert name in listed and served.deployment in listed

        client = triton.InferenceServerClient(url=served.host_port)
        try:
            assert client.is_model_ready(name)
            result = _infer(client, name, served.rows, binary=True)
            _assert_matches_sklearn(served, result, served.rows)
        finally:
            client.close()
    finally:
        _ok(yard(served.server, "deployments", "delete", name))

    assert yard(served.server, "deployments", "get", name).returncode != 0
    gone = requests.get(f"{served.server.url}/v2/models/{name}/ready", timeout=30)
    assert gone.status_code != 200
    assert name not in _ok(yard(served.server, "deployments", "list"))


def test_pyfunc_answers_the_same_as_sklearn_for_the_logged_model(served: Served) -> None:
    """The reference the scoring scenarios compare with is itself right."""
    local = served.pyfunc_model.predict(served.rows)
    assert local["label"].tolist() == served.sklearn_model.predict(served.rows).tolist()
    np.testing.assert_allclose(
        local["probabilities"],
        served.sklearn_model.predict_proba(served.rows),
        rtol=0,
        atol=PROBABILITY_TOLERANCE,
    )
