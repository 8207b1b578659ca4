"""The pipelines benchmark's shapes run with Prefect 3 (the peer of `yard run`).

Usage: python prefect_shapes.py chain|fanout --steps N --salt S

Runs one flow and prints one JSON line on stdout:
  {"shape", "steps", "salt", "taskRuns", "flowSeconds", "answer", "expected",
   "bodies", "states", "flowState"}
where `flowSeconds` is the flow call's own time (perf_counter around it), `bodies` how many task
bodies really ran (a cached task run does not run its body), and `states` the final state names of
the task runs (`Completed`, `Cached`, ...) as the tasks' on_completion/on_failure hooks saw them.

Every task persists its result (`persist_result=True`) and caches by its inputs and its source
(`INPUTS + TASK_SOURCE`: Prefect's DEFAULT policy adds RUN_ID, which would make every new flow run
miss). `salt` is an input of every task, so a new salt is a cold cache and the same salt again is
a rerun. The settings (PREFECT_API_URL, PREFECT_HOME, PREFECT_LOCAL_STORAGE_PATH, logging level)
come from the environment the benchmark sets.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import INPUTS, TASK_SOURCE

_lock = threading.Lock()
_bodies = 0
_states: dict[str, int] = {}


def _ran() -> None:
    """Counts a task body that really ran (map items run in Prefect's thread pool)."""
    global _bodies
    with _lock:
        _bodies += 1


def _record(_task: Any, _run: Any, state: Any) -> None:
    with _lock:
        _states[state.name] = _states.get(state.name, 0) + 1


SETTINGS: dict[str, Any] = {
    "persist_result": True,
    "cache_policy": INPUTS + TASK_SOURCE,
    "on_completion": [_record],
    "on_failure": [_record],
}


@task(**SETTINGS)
def first(salt: str) -> int:
    _ran()
    return 1


@task(**SETTINGS)
def add_one(x: int, salt: str) -> int:
    _ran()
    return x + 1


@task(**SETTINGS)
def items(n: int, salt: str) -> list[int]:
    _ran()
    return list(range(n))


@task(**SETTINGS)
def double(x: int, salt: str) -> int:
    _ran()
    return 2 * x


@task(**SETTINGS)
def total(xs: list[int], salt: str) -> int:
    _ran()
    return sum(xs)


@flow(name="bench-chain", persist_result=True)
def chain(n: int, salt: str) -> int:
    """n tasks, each consuming the previous one's output: 1, 2, ..., n."""
    x = first(salt)
    for _ in range(n - 1):
        x = add_one(x, salt)
    return x


@flow(name="bench-fanout", persist_result=True)
def fanout(n: int, salt: str) -> int:
    """One task making [0, n), `.map` doubling each item, one task summing them."""
    xs = items(n, salt)
    doubled = double.map(xs, salt=unmapped(salt))
    return total(doubled, salt)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=["chain", "fanout"])
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--salt", required=True)
    args = parser.parse_args()
    n: int = args.steps
    if n < 1:
        print(f"--steps must be at least 1, got {n}", file=sys.stderr)
        return 2
    run = chain if args.shape == "chain" else fanout
    started = time.perf_counter()
    state = run(n, args.salt, return_state=True)
    seconds = time.perf_counter() - started
    answer = state.result(raise_on_failure=False)
    print(
        json.dumps(
            {
                "shape": args.shape,
                "steps": n,
                "salt": args.salt,
                "taskRuns": n if args.shape == "chain" else n + 2,
                "flowSeconds": seconds,
                "answer": answer if isinstance(answer, int) else repr(answer),
                "expected": n if args.shape == "chain" else n * (n - 1),
                "bodies": _bodies,
                "states": _states,
                "flowState": state.name,
            }
        )
    )
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
