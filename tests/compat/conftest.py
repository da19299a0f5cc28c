"""Fixtures of the compatibility suite: a ferroflow server driven by the real `mlflow` client.

The server under test is the binary named by ``FERROFLOW_BIN`` (``cargo xtask test`` sets it to
``target/debug/ferroflow``), started as::

    $FERROFLOW_BIN server --host 127.0.0.1 --port P \
        --backend-store-uri sqlite:///<tmp>/ff.db --artifacts-destination <tmp>/artifacts

Any program taking these arguments works, so the suite can be checked against the reference
server itself: ``FERROFLOW_BIN=.venv/bin/mlflow`` (``mlflow server`` has the same flags).

``FERROFLOW_TEST_BACKEND=postgres`` gives every server started here a PostgreSQL database of its
own instead (``--backend-store-uri postgresql://…/ff_<uuid>``, which the server creates) on the
server named by ``FERROFLOW_TEST_POSTGRES_URL`` (an admin URL; ``cargo xtask test`` starts a
scratch cluster and sets it); the database is dropped when the server's test is done.
``FERROFLOW_TEST_ARTIFACTS=s3`` runs the whole suite with S3 artifacts: every server started here
stores them under ``--artifacts-destination s3://<bucket>/<server>`` in an S3 emulator (moto's
server, started by the ``s3`` fixture on a free port).

Alternatively ``FERROFLOW_TEST_URL=http://127.0.0.1:5099`` runs the suite against a server that
is already up; tests that need their own server (``fresh_server``) are then skipped. A reference
server started by hand needs ``MLFLOW_TRUNCATE_LONG_VALUES=false`` in its environment for
``test_param_value_too_long`` (servers started here get it from ``SERVER_ENV``).

Fixtures:

* ``server`` (session): the shared server; ``.url``, ``.port``, ``.log_path``.
* ``fresh_server`` (function): a factory, ``srv = fresh_server()``, for tests that need a server
  of their own; ``srv.restart()`` SIGKILLs it and starts it again on the same store.
  ``fresh_server(extra_args=("--otlp-grpc-port", "N"))`` adds flags to its command line,
  ``env={...}`` variables to its environment,
  ``artifacts_destination="s3://…"`` puts its artifacts there, ``binary=REFERENCE_BIN`` starts
  the reference ``mlflow server`` instead.
* ``s3`` (session): the S3 emulator, started on first use; ``.endpoint``, ``.bucket``, ``.env``
  (the variables a server or client needs to reach it; also set in this process), ``.objects(prefix)``.
* ``experiment`` (function): a new experiment ``test-<uuid>``, made active; returns its id.
* ``client``: an ``MlflowClient`` for the shared server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

# Set before mlflow is imported anywhere: no telemetry thread, no calls to outside hosts.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
# A failing server should fail a test quickly, not after minutes of client retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")

import mlflow  # noqa: E402
import requests  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

HEALTH_TIMEOUT_S = 60.0
# The reference server (FERROFLOW_BIN=.venv/bin/mlflow) takes far longer to boot, above all
# with its auth app on a busy machine.
REFERENCE_HEALTH_TIMEOUT_S = 240.0
LOG_TAIL_LINES = 60

# Environment given to every server started here. `MLFLOW_TRUNCATE_LONG_VALUES=false` makes the
# reference server reject over-long param/tag values (its default is to truncate them); ferroflow
# rejects them whatever this says (see test_param_value_too_long).
SERVER_ENV = {
    "MLFLOW_TRUNCATE_LONG_VALUES": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "RUST_BACKTRACE": "1",
}


# `s3`: every server started here keeps its artifacts in the S3 emulator (module docs).
ARTIFACTS_MODE = os.environ.get("FERROFLOW_TEST_ARTIFACTS", "local")
if ARTIFACTS_MODE not in ("local", "s3"):
    raise RuntimeError(f"FERROFLOW_TEST_ARTIFACTS={ARTIFACTS_MODE!r}: use local or s3")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_admin_url() -> str | None:
    """The admin URL of the PostgreSQL server under test, when the backend is PostgreSQL."""
    backend = os.environ.get("FERROFLOW_TEST_BACKEND", "sqlite")
    if backend == "sqlite":
        return None
    if backend != "postgres":
        pytest.exit(f"FERROFLOW_TEST_BACKEND={backend!r}: expected sqlite or postgres", returncode=2)
    url = os.environ.get("FERROFLOW_TEST_POSTGRES_URL")
    if not url:
        pytest.exit(
            "FERROFLOW_TEST_BACKEND=postgres needs FERROFLOW_TEST_POSTGRES_URL "
            "(`cargo xtask pg start` prints one; `cargo xtask test` sets it)",
            returncode=2,
        )
    return url


def _tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


class S3Emulator:
    """moto's S3 server on a free loopback port, with one bucket."""

    bucket = "ferroflow-test"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = _free_port()
        self.log_path = workdir / "s3.log"
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        # An IP address: requests go path-style, as an emulator expects.
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict:
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "ferroflow-test",
            "AWS_SECRET_ACCESS_KEY": "ferroflow-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self) -> "S3Emulator":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the S3 emulator exited:\n{_tail(self.log_path)}")
            try:
                requests.get(self.endpoint, timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the S3 emulator did not start:\n{_tail(self.log_path)}")
                time.sleep(0.1)
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def client(self):
        import boto3

        env = self.env
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def objects(self, prefix: str) -> dict:
        """Key -> (size, ETag) of every object under `prefix`."""
        found = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = (item["Size"], item["ETag"].strip('"'))
        return found

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


_S3: S3Emulator | None = None


def s3_emulator() -> S3Emulator:
    """The session's S3 emulator, started on first use; its variables are set in this process
    too, so the client reaches it when it writes to S3 itself."""
    global _S3
    if _S3 is None:
        _S3 = S3Emulator(Path(tempfile.mkdtemp(prefix="ferroflow-s3-"))).start()
        os.environ.update(_S3.env)
    return _S3


class Server:
    """One server process on a store of its own (a SQLite file and an artifact directory, or
    a prefix of the S3 emulator's bucket when `artifacts_destination` says so or the suite runs
    with FERROFLOW_TEST_ARTIFACTS=s3)."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        name: str = "ff",
        extra_args: tuple = (),
        artifacts_destination: str | None = None,
        postgres_admin_url: str | None = None,
    ):
        self.binary = binary
        self.extra_args = [str(a) for a in extra_args]  # appended to the command line
        self.workdir = workdir
        self.db_path = workdir / f"{name}.db"
        self.artifacts_dir = workdir / "artifacts"
        if artifacts_destination is None and ARTIFACTS_MODE == "s3":
            artifacts_destination = f"s3://{s3_emulator().bucket}/{workdir.name}"
        self.artifacts_destination = artifacts_destination or str(self.artifacts_dir)
        self.env = dict(s3_emulator().env) if self.artifacts_destination.startswith("s3://") else {}
        self.log_path = workdir / f"{name}.log"
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        # On PostgreSQL: a database of this server's own, made by the server on first start (made
        # here for the reference server, which does not create one). The reference server keeps
        # SQLite unless `postgres_admin_url` is given.
        admin_url = postgres_admin_url or (None if self.is_reference else _postgres_admin_url())
        self.postgres_admin_url = admin_url
        self.postgres_uri = (
            f"{admin_url.rsplit('/', 1)[0]}/ff_{uuid.uuid4().hex}" if admin_url else None
        )

    @property
    def is_reference(self) -> bool:
        return Path(self.binary).name == "mlflow"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend_store_uri(self) -> str:
        if self.postgres_uri and self.is_reference:
            # The driver named as MLflow users write it (the test venv has psycopg2).
            return self.postgres_uri.replace("postgresql://", "postgresql+psycopg2://", 1)
        return self.postgres_uri or f"sqlite:///{self.db_path}"

    def drop_database(self) -> None:
        """Drops the server's PostgreSQL database (best effort: the server may hold it still)."""
        if not self.postgres_uri:
            return
        self._admin(f"DROP DATABASE IF EXISTS {self.postgres_uri.rsplit('/', 1)[1]} WITH (FORCE)", check=False)

    def _create_database(self) -> None:
        self._admin(f"CREATE DATABASE {self.postgres_uri.rsplit('/', 1)[1]}")

    def _admin(self, statement: str, check: bool = True) -> None:
        """One statement on the PostgreSQL server's admin database, outside a transaction."""
        import psycopg2

        try:
            connection = psycopg2.connect(self.postgres_admin_url)
        except psycopg2.Error:
            if check:
                raise
            return
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        except psycopg2.Error:
            if check:
                raise
        finally:
            connection.close()

    def start(self) -> "Server":
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        if self.is_reference and self.postgres_uri and self.starts == 0:
            self._create_database()
        self.starts += 1
        cmd = [
            self.binary,
            "server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--backend-store-uri", self.backend_store_uri,
            "--artifacts-destination", self.artifacts_destination,
            *self.extra_args,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **SERVER_ENV, **self.env},
                # Its own process group, so that stop() also ends any child it started.
                start_new_session=True,
            )
        self._wait_healthy()
        return self

    def _route_prefix(self) -> str:
        """The `--static-prefix` the server was started with, if any."""
        args = self.extra_args
        if "--static-prefix" in args and args.index("--static-prefix") + 1 < len(args):
            return "/" + args[args.index("--static-prefix") + 1].strip("/")
        return ""

    def _wait_healthy(self) -> None:
        timeout = REFERENCE_HEALTH_TIMEOUT_S if self.is_reference else HEALTH_TIMEOUT_S
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"server exited with code {code} before answering /health; "
                    f"log {self.log_path}:\n{_tail(self.log_path)}"
                )
            try:
                r = requests.get(f"{self.url}{self._route_prefix()}/health", timeout=2)
                if r.status_code == 200:
                    return
                last_error = f"HTTP {r.status_code}: {r.text[:200]!r}"
            except requests.RequestException as e:
                last_error = repr(e)
            time.sleep(0.1)
        self.stop(sig=signal.SIGKILL)
        raise RuntimeError(
            f"server did not answer /health within {timeout:.0f}s "
            f"(last error: {last_error}); log {self.log_path}:\n{_tail(self.log_path)}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stops the server (and its process group); SIGKILL when `sig` was not enough."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=timeout)
        # Children left behind in the group (a reference server's workers) go too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or a power cut."""
        self.stop(sig=signal.SIGKILL)

    def restart(self) -> "Server":
        """Kills the server with SIGKILL and starts it again on the same store and port."""
        self.kill()
        self._wait_port_free()
        return self.start()

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", self.port))
                    return
                except OSError:
                    time.sleep(0.1)
        self.port = _free_port()  # still taken: move rather than fail

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _tail(self.log_path, lines)

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.url)


class ExternalServer:
    """A server started outside the suite (`FERROFLOW_TEST_URL`)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1]) if self.url.count(":") == 2 else None
        self.log_path = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "(external server: no log)"

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.url)


def _binary() -> str:
    binary = os.environ.get("FERROFLOW_BIN")
    if not binary:
        pytest.exit(
            "FERROFLOW_BIN is not set: run the suite with `cargo xtask test`, or set "
            "FERROFLOW_BIN to the server binary (or FERROFLOW_TEST_URL to a running server)",
            returncode=2,
        )
    path = shutil.which(binary) or binary
    if not os.access(path, os.X_OK):
        pytest.exit(f"FERROFLOW_BIN={binary!r} is not an executable file", returncode=2)
    return str(Path(path).resolve())


# The reference server, for tests that compare with it (same flags as ferroflow's).
REFERENCE_BIN = str(Path(sys.executable).parent / "mlflow")

# Servers whose log tail goes into the report of a failing test.
_LIVE_SERVERS: list = []


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    external = os.environ.get("FERROFLOW_TEST_URL")
    if external:
        srv = ExternalServer(external)
        r = requests.get(f"{srv.url}/health", timeout=10)
        assert r.status_code == 200, f"{srv.url}/health answered {r.status_code}"
        _LIVE_SERVERS.append(srv)
        yield srv
        _LIVE_SERVERS.remove(srv)
        return
    workdir = Path(tempfile.mkdtemp(prefix="ferroflow-compat-"))
    srv = Server(_binary(), workdir)
    try:
        srv.start()
    except RuntimeError as e:
        pytest.exit(f"could not start the server under test: {e}", returncode=3)
    _LIVE_SERVERS.append(srv)
    try:
        yield srv
    finally:
        _LIVE_SERVERS.remove(srv)
        srv.stop()
        srv.drop_database()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def tracking_uri(server):
    """Points the mlflow client at the shared server for the whole session."""
    os.environ["MLFLOW_TRACKING_URI"] = server.url
    mlflow.set_tracking_uri(server.url)
    yield server.url


@pytest.fixture
def fresh_server():
    """Factory of servers of the test's own: `srv = fresh_server()`; `srv.restart()`."""
    if os.environ.get("FERROFLOW_TEST_URL"):
        pytest.skip("needs a server of its own (FERROFLOW_TEST_URL is set)")
    binary = _binary()
    made: list[Server] = []

    def make(
        extra_args: tuple = (),
        artifacts_destination: str | None = None,
        binary: str = binary,
        postgres_admin_url: str | None = None,
        env: dict | None = None,
    ) -> Server:
        workdir = Path(tempfile.mkdtemp(prefix="ferroflow-fresh-"))
        srv = Server(
            binary,
            workdir,
            extra_args=extra_args,
            artifacts_destination=artifacts_destination,
            postgres_admin_url=postgres_admin_url,
        )
        srv.env.update(env or {})
        made.append(srv)
        _LIVE_SERVERS.append(srv)
        srv.start()
        return srv

    yield make
    for srv in made:
        srv.stop(sig=signal.SIGKILL)
        _LIVE_SERVERS.remove(srv)
        srv.drop_database()
        shutil.rmtree(srv.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def s3():
    """The S3 emulator (class `S3Emulator`), shared by the session."""
    emulator = s3_emulator()
    yield emulator


def pytest_sessionfinish(session, exitstatus):
    if _S3 is not None:
        _S3.stop()
        shutil.rmtree(_S3.workdir, ignore_errors=True)


@pytest.fixture
def client(server) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url)


@pytest.fixture
def experiment(server) -> str:
    """A new, uniquely named experiment made active for the fluent API; returns its id."""
    name = f"test-{uuid.uuid4().hex}"
    exp = mlflow.set_experiment(name)
    yield exp.experiment_id
    # Leave no active run behind for the next test.
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Adds the tail of each live server's log to the report of a failing test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when in ("setup", "call"):
        for srv in _LIVE_SERVERS:
            if srv.log_path is not None:
                report.sections.append(
                    (f"server log tail ({srv.log_path})", srv.log_tail())
                )
