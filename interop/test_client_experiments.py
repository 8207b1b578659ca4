"""Scenarios for experiments through ``MlflowClient``."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException


def test_an_experiment_is_created_read_renamed_and_tagged(client: MlflowClient, unique) -> None:
    name = unique("exp")
    experiment_id = client.create_experiment(name, tags={"owner": "alice", "kind": "interop"})
    assert isinstance(experiment_id, str) and experiment_id

    experiment = client.get_experiment(experiment_id)
    assert experiment.name == name
    assert experiment.experiment_id == experiment_id
    assert experiment.lifecycle_stage == "active"
    assert experiment.artifact_location.startswith("mlflow-artifacts:/")
    assert experiment.tags == {"owner": "alice", "kind": "interop"}
    assert experiment.creation_time is not None and experiment.creation_time > 0
    assert experiment.last_update_time is not None

    by_name = client.get_experiment_by_name(name)
    assert by_name is not None and by_name.experiment_id == experiment_id
    assert client.get_experiment_by_name(unique("missing-exp")) is None

    client.set_experiment_tag(experiment_id, "owner", "bob")
    client.set_experiment_tag(experiment_id, "extra", "value with spaces")
    client.delete_experiment_tag(experiment_id, "kind")
    tags = client.get_experiment(experiment_id).tags
    assert tags == {"owner": "bob", "extra": "value with spaces"}

    renamed = unique("exp-renamed")
    client.rename_experiment(experiment_id, renamed)
    assert client.get_experiment(experiment_id).name == renamed
    assert client.get_experiment_by_name(name) is None
    assert client.get_experiment_by_name(renamed).experiment_id == experiment_id


def test_a_deleted_experiment_is_hidden_until_restored(client: MlflowClient, unique) -> None:
    name = unique("exp-delete")
    experiment_id = client.create_experiment(name)
    run = client.create_run(experiment_id)

    client.delete_experiment(experiment_id)
    deleted = client.get_experiment(experiment_id)
    assert deleted.lifecycle_stage == "deleted"
    assert client.get_experiment_by_name(name).lifecycle_stage == "deleted"
    # Deleting an experiment deletes its runs too.
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"

    active = client.search_experiments(filter_string=f"name = '{name}'")
    assert active == []
    deleted_only = client.search_experiments(
        view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{name}'"
    )
    assert [e.experiment_id for e in deleted_only] == [experiment_id]
    every = client.search_experiments(view_type=ViewType.ALL, filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in every] == [experiment_id]

    with pytest.raises(MlflowException) as error:
        client.create_experiment(name)
    assert error.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"
    restored = client.search_experiments(filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in restored] == [experiment_id]


def test_search_experiments_filters_orders_and_pages(client: MlflowClient, unique) -> None:
    prefix = unique("exp-search")
    ids = []
    for index in range(5):
        ids.append(
            client.create_experiment(
                f"{prefix}-{index}",
                tags={"parity": "odd" if index % 2 else "even", "n": str(index)},
            )
        )

    by_name_desc = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"]
    )
    assert [e.name for e in by_name_desc] == [f"{prefix}-{i}" for i in (4, 3, 2, 1, 0)]

    by_name_asc = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"]
    )
    assert [e.experiment_id for e in by_name_asc] == ids

    odd = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%' AND tags.parity = 'odd'", order_by=["name"]
    )
    assert [e.name for e in odd] == [f"{prefix}-1", f"{prefix}-3"]

    case_insensitive = client.search_experiments(
        filter_string=f"name ILIKE '{prefix.upper()}-%' AND tags.n != '0'"
    )
    assert len(case_insensitive) == 4

    newest_first = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["creation_time DESC", "name DESC"]
    )
    assert {e.experiment_id for e in newest_first} == set(ids)
    creation = [e.creation_time for e in newest_first]
    assert creation == sorted(creation, reverse=True)

    seen = []
    page = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"], max_results=2
    )
    pages = 1
    seen.extend(e.name for e in page)
    while page.token:
        page = client.search_experiments(
            filter_string=f"name LIKE '{prefix}-%'",
            order_by=["name ASC"],
            max_results=2,
            page_token=page.token,
        )
        pages += 1
        seen.extend(e.name for e in page)
    assert pages == 3
    assert seen == [f"{prefix}-{i}" for i in range(5)]

    client.delete_experiment(ids[0])
    assert len(client.search_experiments(filter_string=f"name LIKE '{prefix}-%'")) == 4
    all_views = client.search_experiments(
        view_type=ViewType.ALL, filter_string=f"name LIKE '{prefix}-%'"
    )
    assert len(all_views) == 5

    fluent = mlflow.search_experiments(filter_string=f"name = '{prefix}-2'")
    assert [e.experiment_id for e in fluent] == [ids[2]]


def test_the_default_experiment_exists(client: MlflowClient) -> None:
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_set_experiment_creates_once_and_then_reuses(unique) -> None:
    name = unique("exp-fluent")
    first = mlflow.set_experiment(name)
    second = mlflow.set_experiment(name)
    assert first.experiment_id == second.experiment_id
    by_id = mlflow.set_experiment(experiment_id=first.experiment_id)
    assert by_id.name == name
