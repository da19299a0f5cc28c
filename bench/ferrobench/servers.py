"""Server processes and probes: start a server in its own process group, wait for ``/health``,
read its process tree's memory and CPU from ``/proc``, stop the whole tree. Shared by
``run.py`` and ``sdk_overhead.py``."""

from __future__ import annotations

import atexit
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
DEFAULT_FF_BIN = ROOT / "target" / "release" / "ferroflow"

# Keep the Python client and the reference server from phoning home and from
# routing loopback traffic through a proxy.
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ..." -- comm may contain spaces/parens.
        rest = stat[stat.rfind(b")") + 2 :].split()
        ppid = int(rest[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _proc_stat(pid: int) -> list[bytes] | None:
    """Fields after "(comm)" of /proc/<pid>/stat: [state, ppid, pgrp, ...]."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def _alive_pid(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in (b"Z", b"X")


def group_pids(pgid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _proc_stat(int(name))
            if st is not None and int(st[2]) == pgid:
                out.append(int(name))
    return out


def process_tree(root: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if not os.path.exists(f"/proc/{pid}"):
            continue
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> tuple[float, float, int, float]:
    """(sum VmRSS MiB, sum Pss MiB, process count, largest single VmRSS MiB) over root and descendants."""
    pids = process_tree(root)
    rss_each = [status_kib(p, "VmRSS") / 1024.0 for p in pids]
    pss = sum(_pss_kib(p) for p in pids) / 1024.0
    return sum(rss_each), pss, len(pids), max(rss_each, default=0.0)


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root: int) -> float:
    """User+system CPU seconds of root and its live descendants (plus their reaped children)."""
    total = 0
    for pid in process_tree(root):
        st = _proc_stat(pid)
        if st is not None:
            total += sum(int(x) for x in st[11:15])  # utime stime cutime cstime
    return total / _CLK_TCK


def settled_memory(root: int, min_wait: float, max_wait: float = 60.0) -> tuple[float, float, int, float]:
    """tree_memory() once the tree has stopped growing: after min_wait seconds, sample every
    0.5 s until the summed RSS moved < 1 % over the last 2 s (the reference keeps spawning and
    importing helper processes well after /health answers), at most max_wait seconds."""
    time.sleep(min_wait)
    t_end = time.monotonic() + max_wait
    hist = [tree_memory(root)]
    while time.monotonic() < t_end:
        time.sleep(0.5)
        hist.append(tree_memory(root))
        if len(hist) >= 5:
            rss = [h[0] for h in hist[-5:]]
            same_procs = len({h[2] for h in hist[-5:]}) == 1
            if same_procs and max(rss) - min(rss) <= 0.01 * max(rss) + 0.1:
                break
    return hist[-1]


def health_once(port: int, timeout: float = 0.5, path: str = "/health") -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class ServerProc:
    """A server started in its own session/process group; stop() kills the whole tree."""

    def __init__(self, name: str, cmd: list[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None):
        self.name, self.cmd, self.log_path, self.cwd = name, cmd, log_path, cwd
        self.env = env  # the child's environment; None: ours
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, port: int, timeout_s: float, poll_s: float = 0.002, health_path: str = "/health") -> float:
        """Start the process; return seconds from spawn to first 200 from GET /health."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        env = dict(os.environ if self.env is None else self.env)
        env.update(QUIET_ENV)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C reaches only us, we stop it
        )
        _LIVE.add(self)
        deadline = t0 + timeout_s
        while True:
            if health_once(port, path=health_path):
                return time.perf_counter() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before /health was OK; "
                    f"see {self.log_path}:\n{tail(self.log_path)}"
                )
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.name} did not answer /health within {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(poll_s)

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc is None:
            return
        pids = set(group_pids(self.proc.pid))
        if self.alive():
            pids.update(process_tree(self.proc.pid))
        try:
            if self.alive():
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    pass
            # Kill the group and any descendant that left it (only processes we started).
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            pids.update(group_pids(self.proc.pid))
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            # Wait until every process of the tree is really gone, so the store can be deleted.
            deadline = time.monotonic() + 5
            while any(_alive_pid(p) for p in pids) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            _LIVE.discard(self)
            if self._log:
                self._log.close()
                self._log = None


_LIVE: set[ServerProc] = set()


def stop_all() -> None:
    for s in list(_LIVE):
        try:
            s.stop(grace_s=3.0)
        except Exception:  # noqa: BLE001 - best effort during teardown
            pass


atexit.register(lambda: stop_all())


def rm_tree(path: Path) -> None:
    for _ in range(5):  # a dying server may still touch its store for a moment
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.2)


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""



@dataclass
class ServerSpec:
    name: str  # "reference" | "ferroflow"
    make_cmd: Callable[[int, Path], list[str]]
    start_timeout_s: float
    startup_samples: int = 1  # default cold starts for the start-up median (--startup-samples overrides)
    env: dict[str, str] | None = None  # added to the server's environment (S3 credentials)


class S3Emulator:
    """moto's S3 server on a free loopback port with one bucket, for runs on a bucket."""

    bucket = "ferrobench"

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.proc = ServerProc("s3", [str(VENV_BIN / "python"), "-m", "moto.server", "-H", "127.0.0.1",
                                      "-p", str(self.port)], workdir / "s3.log", workdir)

    @property
    def env(self) -> dict[str, str]:
        # An IP address as the endpoint: both servers send path-style requests to it.
        return {
            "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.port}",
            "AWS_ACCESS_KEY_ID": "ferrobench",
            "AWS_SECRET_ACCESS_KEY": "ferrobench-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self) -> "S3Emulator":
        self.proc.start(self.port, 60.0, poll_s=0.1, health_path="/")
        import boto3

        env = self.env
        boto3.client("s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                     region_name=env["AWS_DEFAULT_REGION"]).create_bucket(Bucket=self.bucket)
        return self


@dataclass
class Deployment:
    """Where a server keeps its data: a fresh SQLite file and artifact directory in its scratch
    directory (the default), or a fresh database on a PostgreSQL server and a fresh prefix of a
    bucket (`postgres_admin_url`, `s3`), as a team running MLflow at scale deploys it."""

    postgres_admin_url: str | None = None
    s3: S3Emulator | None = None

    def backend_store_uri(self, name: str, tmp: Path, driver: str = "") -> str:
        if not self.postgres_admin_url:
            return f"sqlite:///{tmp}/{name}.db"
        import psycopg2

        database = f"ffbench_{name}_{tmp.name.replace('-', '_').lower()}"
        connection = psycopg2.connect(self.postgres_admin_url)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {database}")
        finally:
            connection.close()
        scheme = f"postgresql{driver}://"
        return self.postgres_admin_url.rsplit("/", 1)[0].replace("postgresql://", scheme, 1) + f"/{database}"

    def artifacts_destination(self, name: str, tmp: Path) -> str:
        if self.s3 is None:
            return str(tmp / name)
        return f"s3://{self.s3.bucket}/{name}-{tmp.name}"

    @property
    def env(self) -> dict[str, str] | None:
        return dict(self.s3.env) if self.s3 else None

    def describe(self) -> str:
        store = "PostgreSQL" if self.postgres_admin_url else "SQLite"
        return f"{store} store, artifacts in {'an S3 bucket (moto)' if self.s3 else 'a local directory'}"


def reference_spec(deployment: Deployment = Deployment()) -> ServerSpec:
    mlflow_bin = VENV_BIN / "mlflow"

    def cmd(port: int, tmp: Path) -> list[str]:
        return [
            str(mlflow_bin), "server",
            "--host", "127.0.0.1", "--port", str(port),
            # psycopg2: the driver the bench's venv has (MLflow's default for postgresql:// is psycopg 3).
            "--backend-store-uri", deployment.backend_store_uri("ref", tmp, driver="+psycopg2"),
            "--artifacts-destination", deployment.artifacts_destination("art", tmp),
            "--workers", "1",
        ]

    return ServerSpec("reference", cmd, start_timeout_s=180.0, env=deployment.env)


def ferroflow_spec(binary: Path, deployment: Deployment = Deployment()) -> ServerSpec:
    # The server runs in its scratch directory: a relative --binary means the caller's directory.
    binary = Path(binary).resolve()

    def cmd(port: int, tmp: Path) -> list[str]:
        return [
            str(binary), "server",
            "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", deployment.backend_store_uri("ff", tmp),
            "--artifacts-destination", deployment.artifacts_destination("ffart", tmp),
        ]

    return ServerSpec("ferroflow", cmd, start_timeout_s=60.0, startup_samples=5, env=deployment.env)
