"""Stateless replicas (issue 15): several `ferroflow server` processes on one PostgreSQL
database behave as one server. Runs only with ``FERROFLOW_TEST_BACKEND=postgres`` (SQLite is one
process's file); `cargo xtask test` runs it in its PostgreSQL pass."""

from __future__ import annotations

import base64
import shutil
import signal
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import _LIVE_SERVERS, Server, _binary, _postgres_admin_url
from test_durability import Producer, _batch_get


@pytest.fixture
def replicas():
    """Two servers on ONE fresh database (none of its tables made yet), started at the same
    moment, each with its own port and log."""
    if _postgres_admin_url() is None:
        pytest.skip("replicas share a PostgreSQL database (FERROFLOW_TEST_BACKEND=postgres)")
    binary = _binary()
    workdir = Path(tempfile.mkdtemp(prefix="ferroflow-replicas-"))
    a = Server(binary, workdir, name="a")
    b = Server(binary, workdir, name="b")
    b.postgres_uri = a.postgres_uri  # the same database
    for srv in (a, b):
        _LIVE_SERVERS.append(srv)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda srv: srv.start(), (a, b)))
        yield a, b
    finally:
        for srv in (a, b):
            srv.stop(sig=signal.SIGKILL)
            _LIVE_SERVERS.remove(srv)
        a.drop_database()
        shutil.rmtree(workdir, ignore_errors=True)


def test_what_one_replica_writes_the_other_reads_at_once(replicas):
    a, b = replicas
    ca, cb = a.client(), b.client()
    name = f"replicas-{uuid.uuid4().hex}"
    eid = ca.create_experiment(name, tags={"team": "x"})
    assert cb.get_experiment_by_name(name).experiment_id == eid
    run = cb.create_run(eid)
    ca.log_param(run.info.run_id, "lr", "0.1")
    ca.log_metric(run.info.run_id, "loss", 0.5)
    seen = cb.get_run(run.info.run_id)
    assert seen.data.params == {"lr": "0.1"} and seen.data.metrics == {"loss": 0.5}
    cb.set_experiment_tag(eid, "team", "y")
    assert ca.get_experiment(eid).tags["team"] == "y"
    # A name taken through one replica is taken through the other (no per-process cache).
    with pytest.raises(Exception, match="RESOURCE_ALREADY_EXISTS"):
        ca.create_experiment(name)


def test_concurrent_registrations_through_both_number_1_to_n(replicas):
    a, b = replicas
    name = f"model-{uuid.uuid4().hex}"
    a.client().create_registered_model(name)
    clients = [a.client(), b.client()]

    def register(i: int) -> int:
        return int(clients[i % 2].create_model_version(name, f"s3://bucket/{i}").version)

    with ThreadPoolExecutor(8) as pool:
        versions = sorted(pool.map(register, range(40)))
    assert versions == list(range(1, 41))
    # Each replica sees all 40, each once.
    for srv in (a, b):
        found = srv.client().search_model_versions(f"name = '{name}'", max_results=100)
        assert sorted(int(v.version) for v in found) == list(range(1, 41))


def test_a_replica_killed_during_ingest_loses_no_acknowledged_span(replicas):
    a, b = replicas
    r = requests.post(f"{a.url}/api/2.0/mlflow/experiments/create", json={"name": f"k-{uuid.uuid4().hex}"}, timeout=30)
    assert r.status_code == 200, r.text
    eid = r.json()["experiment_id"]
    producers = [Producer(a, eid, f"producer-{i}") for i in range(3)]
    for p in producers:
        p.start()
    try:
        time.sleep(2.0)
        a.kill()  # SIGKILL mid-stream: no shutdown code runs
        time.sleep(0.5)
    finally:
        for p in producers:
            p.stop.set()
        for p in producers:
            p.join(timeout=30)
    acked: dict[str, set[str]] = {}
    for p in producers:
        acked.update(p.acked_spans)
    assert len(acked) >= 10, len(acked)
    # Read through the replica that stayed up: every acknowledged span is there, once.
    found = _batch_get(b.url, sorted(acked))
    missing = sorted(set(acked) - set(found))
    assert not missing, f"{len(missing)} acknowledged traces lost, e.g. {missing[:3]}"
    for trace_id, span_ids in acked.items():
        stored = [base64.b64decode(s["span_id"]).hex() for s in found[trace_id]["spans"]]
        assert sorted(stored) == sorted(span_ids), trace_id
