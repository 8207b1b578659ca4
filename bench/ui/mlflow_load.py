"""Writes the UI benchmark's data straight into an MLflow tracking database.

Usage: python mlflow_load.py <sqlite-uri> <artifact-root> <sizes-json>

The same experiments, runs, params, metrics and tags as bench/ui/data.mjs writes through the
REST API into `yard server` (the formulas are mirrored line for line). Through MLflow's REST API
the 10,000 runs and 1,000,000 points take over half an hour on a 2-core machine, so they go in
with MLflow's own SQLAlchemy models in a few bulk inserts, before its server starts. Prints the
ids as one JSON object.
"""

import json
import math
import sys
import uuid

from mlflow.entities import LifecycleStage, RunStatus, SourceType
from mlflow.store.tracking.dbmodels.models import (
    SqlLatestMetric,
    SqlMetric,
    SqlParam,
    SqlRun,
    SqlTag,
)
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

BASE = 1767225600000  # Date.UTC(2026, 0, 1)
PARAMS = [f"p{i}" for i in range(10)]
METRICS = [f"m{i}" for i in range(10)]
TAGS = [f"t{i}" for i in range(10)]


def run_name(i: int) -> str:
    return f"run-{i:05d}"


def main() -> None:
    db_uri, artifact_root, sizes_json = sys.argv[1:4]
    sizes = json.loads(sizes_json)
    store = SqlAlchemyStore(db_uri, artifact_root)
    table_id = store.create_experiment("ui-bench-table")
    chart_id = store.create_experiment("ui-bench-charts")
    wide_experiment_id = store.create_experiment("ui-bench-wide")
    runs, params, metrics, latest, tags = [], [], [], [], []

    def add_run(experiment_id: str, name: str, start: int, end: int | None) -> str:
        run_id = uuid.uuid4().hex
        runs.append(
            dict(
                run_uuid=run_id,
                name=name,
                source_type=SourceType.to_string(SourceType.LOCAL),
                source_name="",
                entry_point_name="",
                user_id="bench",
                status=RunStatus.to_string(
                    RunStatus.FINISHED if end is not None else RunStatus.RUNNING
                ),
                start_time=start,
                end_time=end,
                source_version="",
                lifecycle_stage=LifecycleStage.ACTIVE,
                artifact_uri=f"{artifact_root}/{experiment_id}/{run_id}/artifacts",
                experiment_id=int(experiment_id),
            )
        )
        tags.append(dict(key="mlflow.runName", value=name, run_uuid=run_id))
        tags.append(dict(key="mlflow.user", value="bench", run_uuid=run_id))
        return run_id

    def add_metric(run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        metrics.append(
            dict(key=key, value=value, timestamp=timestamp, step=step, is_nan=False, run_uuid=run_id)
        )

    for i in range(sizes["tableRuns"]):
        run_id = add_run(table_id, run_name(i), BASE + i * 1000, BASE + i * 1000 + 500)
        for k, key in enumerate(PARAMS):
            params.append(dict(key=key, value=f"v{(i * 7 + k) % 13}", run_uuid=run_id))
        for k, key in enumerate(METRICS):
            add_metric(run_id, key, math.sin(i * 0.37 + k), BASE + i * 1000, 0)
        for k, key in enumerate(TAGS):
            tags.append(dict(key=key, value=f"tag-{(i + k) % 17}", run_uuid=run_id))

    chart_run_ids = []
    for r in range(sizes["chartRuns"]):
        run_id = add_run(chart_id, f"curve-{r}", BASE + r, None)
        chart_run_ids.append(run_id)
        steps = sizes["chartSteps"]
        for step in range(steps):
            decay = math.exp(-step / (steps / 4))
            value = 0.1 + r * 0.02 + decay + 0.05 * math.sin(step / 50 + r)
            add_metric(run_id, "loss", value, BASE + step * 10, step)

    wide_id = add_run(wide_experiment_id, "wide", BASE + 100, None)
    for k in range(sizes["wideKeys"]):
        add_metric(wide_id, f"k{k:04d}", k / sizes["wideKeys"], BASE, 0)

    # The latest value of each (run, key): the last one logged (highest step, then timestamp).
    last = {}
    for row in metrics:
        key = (row["run_uuid"], row["key"])
        seen = last.get(key)
        if seen is None or (row["step"], row["timestamp"]) >= (seen["step"], seen["timestamp"]):
            last[key] = row
    latest = list(last.values())

    with store.ManagedSessionMaker() as session:
        session.bulk_insert_mappings(SqlRun, runs)
        session.bulk_insert_mappings(SqlParam, params)
        session.bulk_insert_mappings(SqlTag, tags)
        session.bulk_insert_mappings(SqlMetric, metrics)
        session.bulk_insert_mappings(SqlLatestMetric, latest)
    print(
        json.dumps(
            dict(
                tableExperimentId=str(table_id),
                firstRunName=run_name(sizes["tableRuns"] - 1),
                lastRunName=run_name(0),
                chartExperimentId=str(chart_id),
                chartRunIds=chart_run_ids,
                wideExperimentId=str(wide_experiment_id),
                wideRunId=wide_id,
            )
        )
    )


if __name__ == "__main__":
    main()
