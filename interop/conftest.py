"""Fixtures that start a tracking server for the interop scenarios.

Every scenario runs once per backend (``sqlite+local``, ``postgres+local``, ``sqlite+s3``,
``postgres+s3``) against either ``yard server`` (default) or the real ``mlflow server``
(``--server=mlflow``), so the scenarios can first be proven against MLflow itself.

Environment:
  MODELYARD_TEST_PG_URL   PostgreSQL superuser URL; each server gets a fresh database.
  MODELYARD_TEST_S3_URL   S3-compatible endpoint; each server gets a fresh bucket.
  MODELYARD_INTEROP_LOG_DIR  if set, server logs are written there (kept after the run).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
YARD_BIN = REPO_ROOT / "packages" / "cli" / "dist" / "bin.js"
BACKENDS = ("sqlite+local", "postgres+local", "sqlite+s3", "postgres+s3")

# Fail fast instead of retrying for minutes when a server answers 5xx, and never phone home.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("interop")
    group.addoption(
        "--server",
        choices=("yard", "mlflow"),
        default="yard",
        help="which tracking server the scenarios run against (default: yard)",
    )
    group.addoption(
        "--backend",
        action="append",
        choices=BACKENDS,
        default=None,
        help="run only these backends (repeatable; default: all four)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "backends(*names): run these scenarios only on the named backends (of those chosen)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("backend") or list(BACKENDS)
        only = metafunc.definition.get_closest_marker("backends")
        if only is not None:
            chosen = [backend for backend in chosen if backend in only.args]
        metafunc.parametrize("server", chosen, indirect=True, scope="session")


@dataclass(frozen=True)
class Server:
    """A running tracking server."""

    kind: str
    backend: str
    url: str
    log_path: Path

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_admin_url() -> str | None:
    return os.environ.get("MODELYARD_TEST_PG_URL") or None


def _with_database(url: str, database: str) -> str:
    """The same PostgreSQL URL pointing at another database, with the SQLAlchemy scheme."""
    parts = urllib.parse.urlsplit(url)
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urllib.parse.urlunsplit((scheme, parts.netloc, "/" + database, parts.query, ""))


def _psql(admin_url: str, sql: str) -> None:
    subprocess.run(
        ["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with code {proc.returncode} before answering /health.\n"
                f"--- server log ({log_path}) ---\n{_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as error:
            last_error = str(error)
        time.sleep(0.3)
    raise RuntimeError(
        f"server at {url} did not answer GET /health with 200 within {timeout_s:.0f}s "
        f"(last: {last_error}).\n--- server log ({log_path}) ---\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 80) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    # The server runs in its own session: signal the whole group (mlflow forks workers).
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest):
    """Starts the chosen server on the backend given by the parametrisation; yields a Server."""
    backend: str = request.param
    kind: str = request.config.getoption("server")
    metadata, artifacts = backend.split("+")

    pg_admin = _pg_admin_url()
    s3_url = os.environ.get("MODELYARD_TEST_S3_URL") or None
    if metadata == "postgres" and not pg_admin:
        pytest.skip(f"backend {backend}: MODELYARD_TEST_PG_URL is not set, so it is skipped")
    if artifacts == "s3" and not s3_url:
        pytest.skip(f"backend {backend}: MODELYARD_TEST_S3_URL is not set, so it is skipped")
    if kind == "yard" and not YARD_BIN.is_file():
        pytest.fail(f"{YARD_BIN} is missing: run `npm run build` first", pytrace=False)

    token = secrets.token_hex(4)
    workdir = Path(tempfile.mkdtemp(prefix=f"yard-interop-{backend.replace('+', '-')}-"))
    log_dir = Path(os.environ.get("MODELYARD_INTEROP_LOG_DIR") or workdir)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{kind}-{backend.replace('+', '-')}-{token}.log"
    env = dict(os.environ)
    cleanups = []

    if metadata == "sqlite":
        backend_uri = f"sqlite:///{workdir / 'tracking.db'}"
    else:
        assert pg_admin is not None
        database = f"yard_interop_{token}"
        _psql(pg_admin, f"CREATE DATABASE {database}")
        cleanups.append(lambda: _psql(pg_admin, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        backend_uri = _with_database(pg_admin, database)
        if kind == "mlflow":
            # MLflow's registry breaks on psycopg 3 (SQLAlchemy 2.1's default PostgreSQL driver):
            # archiving other versions compares an integer column with a VARCHAR parameter.
            backend_uri = backend_uri.replace("postgresql://", "postgresql+psycopg2://", 1)

    if artifacts == "local":
        artifacts_uri = str(workdir / "artifacts")
    else:
        import boto3

        assert s3_url is not None
        env.setdefault("AWS_ACCESS_KEY_ID", "test")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
        env.setdefault("AWS_REGION", "us-east-1")
        env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])
        env["MLFLOW_S3_ENDPOINT_URL"] = s3_url
        bucket = f"yard-interop-{token}"
        boto3.client(
            "s3",
            endpoint_url=s3_url,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_REGION"],
        ).create_bucket(Bucket=bucket)
        artifacts_uri = f"s3://{bucket}/artifacts"

    port = _free_port()
    common = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        artifacts_uri,
    ]
    if kind == "yard":
        cmd = ["node", str(YARD_BIN), "server", *common]
        ready_timeout = 60.0
    else:
        cmd = [sys.executable, "-m", "mlflow", "server", *common, "--workers", "1"]
        ready_timeout = 180.0

    url = f"http://127.0.0.1:{port}"
    log_file = open(log_path, "wb")
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_ready(url, proc, ready_timeout, log_path)
        yield Server(kind=kind, backend=backend, url=url, log_path=log_path)
    finally:
        _stop(proc)
        log_file.close()
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as error:  # cleanup must not hide the test outcome
                print(f"interop cleanup failed: {error}", file=sys.stderr)
        if not os.environ.get("MODELYARD_INTEROP_LOG_DIR"):
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def tracking_uri(server: Server):
    """Points the MLflow client at the current server and ends any run a test left open."""
    import mlflow

    os.environ["MLFLOW_TRACKING_URI"] = server.url
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    yield server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attaches the tail of the server's log to every failing scenario's report."""
    outcome = yield
    report = outcome.get_result()
    running = getattr(item, "funcargs", {}).get("server")
    if report.failed and isinstance(running, Server):
        report.sections.append(
            (f"{running.kind} server log tail ({running.backend})", running.log_tail(25))
        )


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Returns a function making names unique to this test invocation."""
    token = secrets.token_hex(4)
    return lambda prefix: f"{prefix}-{token}"


@pytest.fixture
def client():
    from mlflow import MlflowClient

    return MlflowClient()
