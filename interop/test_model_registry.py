"""Scenarios for the model registry through ``MlflowClient``."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def _code_of(call) -> str:
    with pytest.raises(MlflowException) as error:
        call()
    return error.value.error_code


@pytest.fixture
def source_run(client: MlflowClient, unique):
    """A finished run with a small artifact folder to register versions from."""
    mlflow.set_experiment(unique("registry-src"))
    with mlflow.start_run() as run:
        mlflow.log_text("weights", "model/weights.txt")
    return run


def test_a_registered_model_is_created_renamed_tagged_and_deleted(
    client: MlflowClient, unique
) -> None:
    name = unique("model")
    created = client.create_registered_model(
        name, tags={"task": "classification"}, description="first description"
    )
    assert created.name == name
    assert created.description == "first description"
    assert created.tags == {"task": "classification"}
    assert created.creation_timestamp > 0

    assert _code_of(lambda: client.create_registered_model(name)) == "RESOURCE_ALREADY_EXISTS"

    updated = client.update_registered_model(name, description="second description")
    assert updated.description == "second description"
    client.set_registered_model_tag(name, "owner", "alice")
    client.delete_registered_model_tag(name, "task")
    fetched = client.get_registered_model(name)
    assert fetched.tags == {"owner": "alice"}
    assert fetched.description == "second description"
    assert fetched.last_updated_timestamp >= fetched.creation_timestamp

    renamed = unique("model-renamed")
    client.rename_registered_model(name, renamed)
    assert client.get_registered_model(renamed).tags == {"owner": "alice"}
    assert _code_of(lambda: client.get_registered_model(name)) == "RESOURCE_DOES_NOT_EXIST"

    client.delete_registered_model(renamed)
    assert _code_of(lambda: client.get_registered_model(renamed)) == "RESOURCE_DOES_NOT_EXIST"


def test_search_registered_models_filters_orders_and_pages(client: MlflowClient, unique) -> None:
    prefix = unique("search-model")
    for index in range(5):
        client.create_registered_model(
            f"{prefix}-{index}", tags={"parity": "odd" if index % 2 else "even"}
        )

    names = [m.name for m in client.search_registered_models(f"name LIKE '{prefix}-%'")]
    assert names == [f"{prefix}-{index}" for index in range(5)]
    desc = client.search_registered_models(f"name LIKE '{prefix}-%'", order_by=["name DESC"])
    assert [m.name for m in desc] == [f"{prefix}-{index}" for index in (4, 3, 2, 1, 0)]
    exact = client.search_registered_models(f"name = '{prefix}-3'")
    assert [m.name for m in exact] == [f"{prefix}-3"]
    odd = client.search_registered_models(f"name LIKE '{prefix}-%' AND tags.parity = 'odd'")
    assert [m.name for m in odd] == [f"{prefix}-1", f"{prefix}-3"]
    insensitive = client.search_registered_models(f"name ILIKE '{prefix.upper()}-%'")
    assert len(insensitive) == 5

    seen = []
    page = client.search_registered_models(f"name LIKE '{prefix}-%'", max_results=2)
    seen.extend(m.name for m in page)
    while page.token:
        page = client.search_registered_models(
            f"name LIKE '{prefix}-%'", max_results=2, page_token=page.token
        )
        seen.extend(m.name for m in page)
    assert seen == names


def test_model_versions_carry_tags_aliases_and_stages(
    client: MlflowClient, unique, source_run
) -> None:
    name = unique("versions")
    client.create_registered_model(name)
    source = f"{source_run.info.artifact_uri}/model"
    v1 = client.create_model_version(
        name, source, run_id=source_run.info.run_id, tags={"quality": "ok"}, description="v1"
    )
    v2 = client.create_model_version(name, source, run_id=source_run.info.run_id)
    v3 = client.create_model_version(name, source, run_id=source_run.info.run_id)
    assert [v1.version, v2.version, v3.version] == ["1", "2", "3"]
    assert v1.status == "READY"
    assert v1.current_stage == "None"
    assert v1.run_id == source_run.info.run_id
    assert v1.source == source
    assert v1.tags == {"quality": "ok"}
    assert v1.description == "v1"

    fetched = client.get_model_version(name, "1")
    assert fetched.name == name and fetched.version == "1"
    assert fetched.creation_timestamp > 0

    client.update_model_version(name, "2", description="second")
    assert client.get_model_version(name, "2").description == "second"
    client.set_model_version_tag(name, "2", "validated", "true")
    client.set_model_version_tag(name, "2", "tmp", "x")
    client.delete_model_version_tag(name, "2", "tmp")
    assert client.get_model_version(name, "2").tags == {"validated": "true"}

    client.set_registered_model_alias(name, "champion", "2")
    client.set_registered_model_alias(name, "challenger", "3")
    champion = client.get_model_version_by_alias(name, "champion")
    assert champion.version == "2"
    assert "champion" in champion.aliases
    model = client.get_registered_model(name)
    assert model.aliases == {"champion": "2", "challenger": "3"}
    # Moving an alias takes it away from the old version.
    client.set_registered_model_alias(name, "champion", "3")
    assert client.get_model_version_by_alias(name, "champion").version == "3"
    assert "champion" not in client.get_model_version(name, "2").aliases
    client.delete_registered_model_alias(name, "challenger")
    assert client.get_registered_model(name).aliases == {"champion": "3"}
    assert (
        _code_of(lambda: client.get_model_version_by_alias(name, "challenger"))
        == "INVALID_PARAMETER_VALUE"
    )

    staged = client.transition_model_version_stage(name, "1", "Staging")
    assert staged.current_stage == "Staging"
    client.transition_model_version_stage(name, "2", "Production")
    client.transition_model_version_stage(name, "3", "Production", archive_existing_versions=True)
    assert client.get_model_version(name, "2").current_stage == "Archived"
    assert client.get_model_version(name, "3").current_stage == "Production"

    latest = {v.current_stage: v.version for v in client.get_latest_versions(name)}
    assert latest == {"Staging": "1", "Production": "3", "Archived": "2"}
    production = client.get_latest_versions(name, stages=["Production"])
    assert [v.version for v in production] == ["3"]
    latest_in_model = {
        v.current_stage: v.version for v in client.get_registered_model(name).latest_versions
    }
    assert latest_in_model == latest

    versions = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"])
    assert [v.version for v in versions] == ["3", "2", "1"]
    by_run = client.search_model_versions(
        f"run_id = '{source_run.info.run_id}' AND name = '{name}'"
    )
    assert {v.version for v in by_run} == {"1", "2", "3"}
    tagged = client.search_model_versions(f"name = '{name}' AND tags.validated = 'true'")
    assert [v.version for v in tagged] == ["2"]

    client.delete_model_version(name, "1")
    assert _code_of(lambda: client.get_model_version(name, "1")) == "RESOURCE_DOES_NOT_EXIST"
    remaining = client.search_model_versions(f"name = '{name}'")
    assert sorted(v.version for v in remaining) == ["2", "3"]
    v4 = client.create_model_version(name, source, run_id=source_run.info.run_id)
    assert v4.version == "4"

    assert client.get_model_version_download_uri(name, "3") == source

    client.delete_registered_model(name)
    assert client.search_model_versions(f"name = '{name}'") == []

