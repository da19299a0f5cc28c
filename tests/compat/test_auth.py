"""The basic-auth app (`ferroflow server --app-name basic-auth`) with the real client: users
through `mlflow.server.get_app_client("basic-auth", …)`, credentials through
MLFLOW_TRACKING_USERNAME/PASSWORD (or MLFLOW_TRACKING_TOKEN), and the statuses MLflow's auth
app answers: 401 with the Basic challenge without credentials, 403 without permission."""

import json
import os
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import mlflow
import mlflow.server
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException

ADMIN_PASSWORD = "admin-password-1234"
ADMIN = ("admin", ADMIN_PASSWORD)
ALICE = ("alice", "alice-password-1")
BOB = ("bob", "bob-password-123")
# What the reference server (`mlflow server --app-name basic-auth`, default_permission READ)
# answered to `_parity_flows`, recorded by running this file with FERROFLOW_BIN=.venv/bin/mlflow
# (where `test_every_status_matches_the_reference` checks the reference against it too).
REFERENCE_STATUSES = Path(__file__).with_name("auth_reference_statuses.json")


def _auth_server(fresh_server, monkeypatch, ini: str | None = None):
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
    if ini is not None:
        path = os.path.join(tempfile.mkdtemp(prefix="ferroflow-auth-"), "basic_auth.ini")
        with open(path, "w") as f:
            f.write(ini)
        monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", path)
    # The reference needs a secret key for its forms; harmless for ferroflow.
    monkeypatch.setenv("MLFLOW_FLASK_SERVER_SECRET_KEY", "test-secret-key")
    srv = fresh_server(extra_args=("--app-name", "basic-auth"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.url)
    return srv


def _ferroflow_only() -> None:
    """Skips a test of what goes beyond MLflow's auth app when the suite runs the reference."""
    if Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow":
        pytest.skip("a ferroflow feature the reference does not have")


def _as(monkeypatch, username: str, password: str):
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def _status(excinfo) -> int:
    error = excinfo.value
    return error.get_http_status_code() if isinstance(error, MlflowException) else -1


def test_credentials_are_required_except_on_open_routes(fresh_server, monkeypatch):
    srv = _auth_server(fresh_server, monkeypatch)
    base = srv.url
    for open_path in ("/health", "/api/3.0/mlflow/server-info"):
        assert requests.get(base + open_path, timeout=10).status_code == 200, open_path
    # /version asks for credentials, as the reference's does.
    assert requests.get(base + "/version", timeout=10).status_code == 401
    missing = requests.get(base + "/api/2.0/mlflow/experiments/search?max_results=10", timeout=10)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Basic realm="mlflow"'
    wrong = requests.get(
        base + "/api/2.0/mlflow/experiments/get?experiment_id=0", auth=("admin", "not the password"), timeout=10
    )
    assert wrong.status_code == 401
    unknown_user = requests.get(base + "/api/2.0/mlflow/experiments/get?experiment_id=0", auth=("nobody", "x" * 12))
    assert unknown_user.status_code == 401
    ok = requests.get(base + "/api/2.0/mlflow/experiments/get?experiment_id=0", auth=("admin", ADMIN_PASSWORD))
    assert ok.status_code == 200 and ok.json()["experiment"]["name"] == "Default"
    # OTLP needs credentials too.
    otlp = requests.post(base + "/v1/traces", data=b"", headers={"Content-Type": "application/x-protobuf"})
    assert otlp.status_code == 401


def test_users_and_permissions_through_the_real_client(fresh_server, monkeypatch):
    srv = _auth_server(fresh_server, monkeypatch)
    _as(monkeypatch, "admin", ADMIN_PASSWORD)
    users = mlflow.server.get_app_client("basic-auth", tracking_uri=srv.url)
    alice = users.create_user("alice", "alice-password-1")
    assert alice.username == "alice" and alice.is_admin is False
    users.create_user("bob", "bob-password-123")
    assert users.get_user("bob").username == "bob"
    with pytest.raises(MlflowException) as taken:
        users.create_user("bob", "bob-password-123")
    assert "already exists" in str(taken.value)
    with pytest.raises(MlflowException) as short:
        users.create_user("carol", "short")
    assert _status(short) == 400

    # alice creates an experiment: she gets MANAGE on it; bob gets the default (READ).
    _as(monkeypatch, "alice", "alice-password-1")
    client = MlflowClient(srv.url)
    exp_id = client.create_experiment("alice-exp")
    run = client.create_run(exp_id)
    client.log_metric(run.info.run_id, "m", 1.0)
    _as(monkeypatch, "bob", "bob-password-123")
    assert client.get_experiment(exp_id).name == "alice-exp"
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    with pytest.raises(MlflowException) as denied:
        client.create_run(exp_id)
    assert _status(denied) == 403
    with pytest.raises(MlflowException) as denied:
        client.log_metric(run.info.run_id, "m", 2.0)
    assert _status(denied) == 403
    with pytest.raises(MlflowException) as denied:
        client.delete_experiment(exp_id)
    assert _status(denied) == 403
    # Nor may bob manage users or grant himself anything.
    with pytest.raises(MlflowException) as denied:
        users.create_user("mallory", "mallory-password")
    assert _status(denied) == 403
    with pytest.raises(MlflowException) as denied:
        users.grant_user_permission("bob", "experiment", exp_id, "MANAGE")
    assert _status(denied) == 403
    with pytest.raises(MlflowException) as denied:
        users.get_user("alice")
    assert _status(denied) == 403

    # alice (MANAGE) grants bob EDIT: now he may log, not delete.
    _as(monkeypatch, "alice", "alice-password-1")
    users.grant_user_permission("bob", "experiment", exp_id, "EDIT")
    # Only bob himself (or an admin) may read his permission.
    with pytest.raises(MlflowException) as denied:
        users.get_user_permission("bob", "experiment", exp_id)
    assert _status(denied) == 403
    _as(monkeypatch, "bob", "bob-password-123")
    result = users.get_user_permission("bob", "experiment", exp_id)
    assert (result.permission, result.allowed) == ("EDIT", True)
    client.log_metric(run.info.run_id, "m", 2.0)
    assert [m.value for m in client.get_metric_history(run.info.run_id, "m")] == [1.0, 2.0]
    with pytest.raises(MlflowException) as denied:
        client.delete_experiment(exp_id)
    assert _status(denied) == 403

    # DENY locks bob out, even from reading. A grant is made once: changing it is a revoke
    # and a new grant.
    _as(monkeypatch, "alice", "alice-password-1")
    with pytest.raises(MlflowException) as twice:
        users.grant_user_permission("bob", "experiment", exp_id, "DENY")
    assert "already exists" in str(twice.value)
    users.revoke_user_permission("bob", "experiment", exp_id)
    users.grant_user_permission("bob", "experiment", exp_id, "DENY")
    _as(monkeypatch, "bob", "bob-password-123")
    with pytest.raises(MlflowException) as denied:
        client.get_experiment(exp_id)
    assert _status(denied) == 403
    # Searches leave out what he may not read (run searches silently, as the reference does).
    assert client.search_runs([exp_id]) == []
    names = [e.name for e in client.search_experiments()]
    assert "alice-exp" not in names and "Default" in names
    _as(monkeypatch, "alice", "alice-password-1")
    users.revoke_user_permission("bob", "experiment", exp_id)
    _as(monkeypatch, "bob", "bob-password-123")
    assert users.get_user_permission("bob", "experiment", exp_id).permission == "READ"
    _as(monkeypatch, "alice", "alice-password-1")

    # Registered models follow their own grants.
    client.create_registered_model("alice-model")
    _as(monkeypatch, "bob", "bob-password-123")
    assert client.get_registered_model("alice-model").name == "alice-model"
    with pytest.raises(MlflowException) as denied:
        client.update_registered_model("alice-model", description="mine now")
    assert _status(denied) == 403

    # Own password: the current one is required, and must be right.
    with pytest.raises(MlflowException) as refused:
        users.update_user_password("bob", "bob-password-456")
    assert "Current password is required" in str(refused.value)
    with pytest.raises(MlflowException):
        users.update_user_password("bob", "bob-password-456", current_password="wrong-password-x")
    users.update_user_password("bob", "bob-password-456", current_password="bob-password-123")
    with pytest.raises(MlflowException) as stale:
        client.get_experiment(exp_id)
    assert _status(stale) == 401
    _as(monkeypatch, "bob", "bob-password-456")
    assert client.get_experiment(exp_id).name == "alice-exp"

    # Admins: promote, demote, delete; never delete oneself.
    _as(monkeypatch, "admin", ADMIN_PASSWORD)
    users.update_user_admin("bob", True)
    assert users.get_user("bob").is_admin is True
    _as(monkeypatch, "bob", "bob-password-456")
    client.delete_experiment(exp_id)
    _as(monkeypatch, "admin", ADMIN_PASSWORD)
    with pytest.raises(MlflowException) as self_delete:
        users.delete_user("admin")
    assert _status(self_delete) == 400
    users.delete_user("bob")
    with pytest.raises(MlflowException) as gone:
        users.get_user("bob")
    assert _status(gone) == 404


def test_default_permission_and_filtered_searches(fresh_server, monkeypatch):
    ini = "[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///basic_auth.db\nadmin_username = admin\n"
    srv = _auth_server(fresh_server, monkeypatch, ini)
    _as(monkeypatch, "admin", ADMIN_PASSWORD)
    users = mlflow.server.get_app_client("basic-auth", tracking_uri=srv.url)
    users.create_user("erin", "erin-password-1")
    users.create_user("fred", "fred-password-1")
    client = MlflowClient(srv.url)
    _as(monkeypatch, "erin", "erin-password-1")
    mine = client.create_experiment("erin-exp")
    client.create_registered_model("erin-model")
    _as(monkeypatch, "fred", "fred-password-1")
    assert [e.name for e in client.search_experiments()] == []
    assert client.search_registered_models() == []
    with pytest.raises(MlflowException) as denied:
        client.get_experiment(mine)
    assert _status(denied) == 403
    # A trace into erin's experiment over OTLP needs EDIT there.
    otlp = requests.post(
        srv.url + "/v1/traces",
        data=b"",
        headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": mine},
        auth=("fred", "fred-password-1"),
    )
    assert otlp.status_code == 403
    _as(monkeypatch, "erin", "erin-password-1")
    users.grant_user_permission("fred", "experiment", mine, "READ")
    _as(monkeypatch, "fred", "fred-password-1")
    assert [e.name for e in client.search_experiments()] == ["erin-exp"]


def test_api_tokens_work_as_mlflow_tracking_token(fresh_server, monkeypatch):
    _ferroflow_only()
    srv = _auth_server(fresh_server, monkeypatch)
    _as(monkeypatch, "admin", ADMIN_PASSWORD)
    users = mlflow.server.get_app_client("basic-auth", tracking_uri=srv.url)
    users.create_user("gina", "gina-password-1")
    made = requests.post(
        srv.url + "/api/3.0/mlflow/users/tokens/create", json={"name": "ci"}, auth=("gina", "gina-password-1")
    )
    assert made.status_code == 200, made.text
    secret, token_id = made.json()["secret"], made.json()["token"]["id"]
    listed = requests.get(srv.url + "/api/3.0/mlflow/users/tokens/list", auth=("gina", "gina-password-1")).json()
    assert [t["name"] for t in listed["tokens"]] == ["ci"] and "secret" not in listed["tokens"][0]

    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    client = MlflowClient(srv.url)
    exp = client.create_experiment("gina-exp")
    run = client.create_run(exp)
    client.log_param(run.info.run_id, "p", "1")
    assert client.get_run(run.info.run_id).data.params == {"p": "1"}
    assert users.get_user_permission("gina", "experiment", exp).permission == "MANAGE"

    revoked = requests.delete(
        srv.url + "/api/3.0/mlflow/users/tokens/revoke", json={"token_id": token_id}, auth=("gina", "gina-password-1")
    )
    assert revoked.status_code == 200
    assert requests.get(srv.url + "/api/2.0/mlflow/experiments/get?experiment_id=0",
                        headers={"Authorization": f"Bearer {secret}"}).status_code == 401


@pytest.mark.parametrize("password", [None, "", "too-short"])
def test_the_server_refuses_to_start_without_a_good_admin_password(password):
    _ferroflow_only()
    binary = os.environ.get("FERROFLOW_BIN")
    workdir = tempfile.mkdtemp(prefix="ferroflow-auth-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_AUTH_")}
    if password is not None:
        env["MLFLOW_AUTH_ADMIN_PASSWORD"] = password
    done = subprocess.run(
        [binary, "server", "--port", "0", "--app-name", "basic-auth",
         "--backend-store-uri", f"sqlite:///{workdir}/ff.db", "--artifacts-destination", f"{workdir}/a"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "admin password" in (done.stdout + done.stderr)


def _parity_flows(url: str) -> list:
    """(label, answer) for each request of a fixed story: alice makes one of everything (an
    experiment, run, trace, assessment, dataset, registered model, prompt, logged model,
    artifact); bob, with the default READ, then EDIT, then DENY, then MANAGE, reads and writes
    each; grants are made once (a second grant is refused) and revoked."""
    """(label, status) of each request of a fixed story: alice makes one of everything, bob
    (default READ, then EDIT, then DENY) reads and writes each."""
    out = []
    v2, v3, art = url + "/api/2.0/mlflow", url + "/api/3.0/mlflow", url + "/api/2.0/mlflow-artifacts/artifacts"

    def call(label, who, method, full, **kw):
        r = requests.request(method, full, auth=who, timeout=60, **kw)
        out.append((label, r.status_code))
        return r

    call("admin creates alice", ADMIN, "POST", v2 + "/users/create", json={"username": "alice", "password": ALICE[1]})
    call("admin creates bob", ADMIN, "POST", v2 + "/users/create", json={"username": "bob", "password": BOB[1]})
    exp = call("alice creates experiment", ALICE, "POST", v2 + "/experiments/create", json={"name": "alice-exp"}).json()["experiment_id"]
    run = call("alice creates run", ALICE, "POST", v2 + "/runs/create", json={"experiment_id": exp, "start_time": 1}).json()["run"]["info"]["run_id"]
    trace_id = "tr-" + uuid.uuid4().hex
    trace = {"trace": {"trace_info": {"trace_id": trace_id, "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}, "request_time": "2026-01-01T00:00:00Z", "execution_duration": "0.1s", "state": "OK", "trace_metadata": {}, "tags": {}}}}
    call("alice starts trace", ALICE, "POST", v3 + "/traces", json=trace)
    assessment = {"assessment": {"assessment_name": "ok", "trace_id": trace_id, "source": {"source_type": "HUMAN", "source_id": "alice"}, "feedback": {"value": True}}}
    r = call("alice logs assessment", ALICE, "POST", v3 + f"/traces/{trace_id}/assessments", json=assessment)
    assessment_id = r.json()["assessment"]["assessment_id"]
    ds = call("alice creates dataset", ALICE, "POST", v3 + "/datasets/create", json={"name": "ds", "experiment_ids": [exp]}).json()["dataset"]["dataset_id"]
    call("alice creates model", ALICE, "POST", v2 + "/registered-models/create", json={"name": "alice-model"})
    call("alice creates prompt", ALICE, "POST", v2 + "/registered-models/create", json={"name": "alice-prompt", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
    lm = call("alice creates logged model", ALICE, "POST", v2 + "/logged-models", json={"experiment_id": exp, "name": "lm"}).json()["model"]["info"]["model_id"]
    call("alice uploads artifact", ALICE, "PUT", art + f"/{exp}/{run}/artifacts/a.txt", data=b"hello")

    def reads(stage):
        call(f"{stage}: get experiment", BOB, "GET", v2 + "/experiments/get", params={"experiment_id": exp})
        call(f"{stage}: get run", BOB, "GET", v2 + "/runs/get", params={"run_id": run})
        call(f"{stage}: search runs", BOB, "POST", v2 + "/runs/search", json={"experiment_ids": [exp]})
        call(f"{stage}: metric history", BOB, "GET", v2 + "/metrics/get-history", params={"run_id": run, "metric_key": "m"})
        call(f"{stage}: get trace info", BOB, "GET", v3 + f"/traces/{trace_id}")
        call(f"{stage}: search traces", BOB, "POST", v3 + "/traces/search", json={"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}], "max_results": 10})
        call(f"{stage}: get assessment", BOB, "GET", v3 + f"/traces/{trace_id}/assessments/{assessment_id}")
        call(f"{stage}: get dataset", BOB, "GET", v3 + f"/datasets/{ds}")
        call(f"{stage}: search datasets", BOB, "POST", v3 + "/datasets/search", json={"experiment_ids": [exp]})
        call(f"{stage}: get logged model", BOB, "GET", v2 + f"/logged-models/{lm}")
        call(f"{stage}: search logged models", BOB, "POST", v2 + "/logged-models/search", json={"experiment_ids": [exp]})
        call(f"{stage}: list artifacts", BOB, "GET", v2 + "/artifacts/list", params={"run_id": run})
        call(f"{stage}: download artifact", BOB, "GET", art + f"/{exp}/{run}/artifacts/a.txt")
        call(f"{stage}: get model", BOB, "GET", v2 + "/registered-models/get", params={"name": "alice-model"})
        call(f"{stage}: get prompt", BOB, "GET", v2 + "/registered-models/get", params={"name": "alice-prompt"})

    def experiment_writes(stage):
        call(f"{stage}: create run", BOB, "POST", v2 + "/runs/create", json={"experiment_id": exp, "start_time": 1})
        call(f"{stage}: log metric", BOB, "POST", v2 + "/runs/log-metric", json={"run_id": run, "key": "m", "value": 1.0, "timestamp": 1, "step": 0})
        call(f"{stage}: set experiment tag", BOB, "POST", v2 + "/experiments/set-experiment-tag", json={"experiment_id": exp, "key": "k", "value": "v"})
        call(f"{stage}: set trace tag", BOB, "PATCH", v3 + f"/traces/{trace_id}/tags", json={"key": "k", "value": "v"})
        call(f"{stage}: log assessment", BOB, "POST", v3 + f"/traces/{trace_id}/assessments", json=assessment)
        call(f"{stage}: otlp export", BOB, "POST", url + "/v1/traces", data=b"", headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": exp})
        call(f"{stage}: set dataset tags", BOB, "PATCH", v3 + f"/datasets/{ds}/tags", json={"tags": json.dumps({"k": "v"})})
        call(f"{stage}: set logged model tag", BOB, "PATCH", v2 + f"/logged-models/{lm}/tags", json={"tags": [{"key": "k", "value": "v"}]})
        call(f"{stage}: upload artifact", BOB, "PUT", art + f"/{exp}/{run}/artifacts/b.txt", data=b"bob")

    def experiment_manages(stage):
        call(f"{stage}: delete assessment", BOB, "DELETE", v3 + f"/traces/{trace_id}/assessments/{assessment_id}")
        call(f"{stage}: delete run", BOB, "POST", v2 + "/runs/delete", json={"run_id": run})
        call(f"{stage}: delete experiment", BOB, "POST", v2 + "/experiments/delete", json={"experiment_id": exp})

    def model_writes(stage):
        call(f"{stage}: update model", BOB, "PATCH", v2 + "/registered-models/update", json={"name": "alice-model", "description": "d"})
        call(f"{stage}: create model version", BOB, "POST", v2 + "/model-versions/create", json={"name": "alice-model", "source": f"models:/{lm}"})
        call(f"{stage}: update prompt", BOB, "POST", v2 + "/registered-models/set-tag", json={"name": "alice-prompt", "key": "k", "value": "v"})
        call(f"{stage}: delete model", BOB, "DELETE", v2 + "/registered-models/delete", json={"name": "alice-model"})

    def names(who):
        exps = requests.post(v2 + "/experiments/search", json={"max_results": 100}, auth=who, timeout=60).json().get("experiments", [])
        models = requests.get(v2 + "/registered-models/search", params={"max_results": 100}, auth=who, timeout=60)
        models = models.json().get("registered_models", []) if models.ok else None
        return sorted(e["name"] for e in exps), None if models is None else sorted(m["name"] for m in models)

    # bob has the default (READ)
    reads("READ")
    experiment_writes("READ")
    experiment_manages("READ")
    model_writes("READ")
    call("bob grants himself", BOB, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "MANAGE"})
    call("bob reads alice", BOB, "GET", v2 + "/users/get", params={"username": "alice"})
    call("bob creates a user", BOB, "POST", v2 + "/users/create", json={"username": "mallory", "password": "mallory-password"})
    out.append(("READ: searches", names(BOB)))

    # EDIT
    call("alice grants EDIT", ALICE, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "EDIT"})
    call("alice grants EDIT on model", ALICE, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "registered_model", "resource_id": "alice-model", "permission": "EDIT"})
    call("alice grants EDIT on prompt", ALICE, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "prompt", "resource_id": "alice-prompt", "permission": "EDIT"})
    r = call("bob reads his grant", BOB, "GET", v3 + "/users/permissions/get", params={"username": "bob", "resource_type": "experiment", "resource_id": exp})
    out.append(("bob's grant", r.json() if r.ok else None))
    reads("EDIT")
    experiment_writes("EDIT")

    # DENY
    call("alice grants EDIT again", ALICE, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "DENY"})
    call("alice revokes EDIT", ALICE, "POST", v3 + "/users/permissions/revoke", json={"username": "bob", "resource_type": "experiment", "resource_id": exp})
    call("alice revokes EDIT on model", ALICE, "POST", v3 + "/users/permissions/revoke", json={"username": "bob", "resource_type": "registered_model", "resource_id": "alice-model"})
    call("alice grants DENY", ALICE, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "DENY"})
    call("alice grants DENY on model", ALICE, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "registered_model", "resource_id": "alice-model", "permission": "DENY"})
    reads("DENY")
    experiment_writes("DENY")
    out.append(("DENY: searches", names(BOB)))

    # MANAGE
    call("alice revokes DENY", ALICE, "POST", v3 + "/users/permissions/revoke", json={"username": "bob", "resource_type": "experiment", "resource_id": exp})
    call("alice revokes DENY on model", ALICE, "POST", v3 + "/users/permissions/revoke", json={"username": "bob", "resource_type": "registered_model", "resource_id": "alice-model"})
    call("alice grants MANAGE", ALICE, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "MANAGE"})
    call("alice grants MANAGE on model", ALICE, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "registered_model", "resource_id": "alice-model", "permission": "MANAGE"})
    model_writes("MANAGE")
    experiment_manages("MANAGE")
    call("alice revokes twice", ALICE, "POST", v3 + "/users/permissions/revoke", json={"username": "bob", "resource_type": "experiment", "resource_id": exp})
    call("admin grants prompt", ADMIN, "POST", v3 + "/users/permissions/grant", json={"username": "bob", "resource_type": "prompt", "resource_id": "alice-prompt", "permission": "MANAGE"})
    call("bob reads prompt grant", BOB, "GET", v3 + "/users/permissions/get", params={"username": "bob", "resource_type": "prompt", "resource_id": "alice-prompt"})
    call("bob updates prompt", BOB, "POST", v2 + "/registered-models/set-tag", json={"name": "alice-prompt", "key": "k2", "value": "v"})
    call("alice revokes", ALICE, "POST", v3 + "/users/permissions/revoke", json={"username": "bob", "resource_type": "experiment", "resource_id": exp})
    call("no credentials", None, "GET", v2 + "/experiments/get", params={"experiment_id": exp})
    call("server-info open", None, "GET", v3 + "/server-info")
    call("health open", None, "GET", url + "/health")
    call("version", None, "GET", url + "/version")
    return out



def test_every_status_matches_the_reference(fresh_server, monkeypatch):
    srv = _auth_server(fresh_server, monkeypatch)
    got = json.loads(json.dumps(_parity_flows(srv.url)))
    want = json.loads(REFERENCE_STATUSES.read_text())
    assert [row[0] for row in got] == [row[0] for row in want]
    differing = [(g[0], g[1], w[1]) for g, w in zip(got, want) if g[1] != w[1]]
    assert differing == [], "(request, this server, the reference)"


def _start_trace(url: str, who, experiment_id: str) -> str:
    trace_id = "tr-" + uuid.uuid4().hex
    info = {
        "trace_id": trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
        "request_time": "2026-01-01T00:00:00Z", "execution_duration": "0.1s", "state": "OK",
        "trace_metadata": {}, "tags": {"mlflow.traceName": "secret-trace"},
    }  # fmt: skip
    r = requests.post(url + "/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}}, auth=who, timeout=30)
    assert r.status_code == 200, r.text
    return trace_id


def test_the_web_ui_shows_only_what_the_user_may_read(fresh_server, monkeypatch):
    _ferroflow_only()
    ini = "[mlflow]\ndefault_permission = NO_PERMISSIONS\nadmin_username = admin\n"
    srv = _auth_server(fresh_server, monkeypatch, ini)
    url, v2, v3 = srv.url, srv.url + "/api/2.0/mlflow", srv.url + "/api/3.0/mlflow"
    for user, password in (ALICE, BOB):
        r = requests.post(v2 + "/users/create", json={"username": user, "password": password}, auth=ADMIN)
        assert r.status_code == 200
    alices = requests.post(v2 + "/experiments/create", json={"name": "alice-secret"}, auth=ALICE).json()["experiment_id"]
    bobs = requests.post(v2 + "/experiments/create", json={"name": "bob-own"}, auth=BOB).json()["experiment_id"]
    secret_trace = _start_trace(url, ALICE, alices)
    run = requests.post(v2 + "/runs/create", json={"experiment_id": alices, "start_time": 1}, auth=ALICE)
    run_id = run.json()["run"]["info"]["run_id"]
    requests.post(v2 + "/registered-models/create", json={"name": "alice-model"}, auth=ALICE).raise_for_status()
    requests.post(v2 + "/registered-models/create", json={"name": "bob-model"}, auth=BOB).raise_for_status()

    # No credentials: the page is refused like the API.
    assert requests.get(url + "/experiments", timeout=10).status_code == 401
    # bob's experiment list and model list leave out alice's.
    page = requests.get(url + "/experiments", auth=BOB).text
    assert "bob-own" in page and "alice-secret" not in page
    page = requests.get(url + "/models", auth=BOB).text
    assert "bob-model" in page and "alice-model" not in page
    assert "alice-secret" in requests.get(url + "/experiments", auth=ALICE).text
    # Every page of alice's experiment is 403 for him, whatever the page.
    for path in (
        f"/experiments/{alices}/traces",
        f"/experiments/{alices}/traces/{secret_trace}",
        f"/experiments/{alices}/runs",
        f"/experiments/{alices}/runs/{run_id}",
        f"/experiments/{alices}/sessions",
        f"/experiments/{alices}/datasets",
        f"/runs/{run_id}",
        "/models/alice-model",
    ):
        r = requests.get(url + path, auth=BOB, allow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
        assert "secret-trace" not in r.text
    # Nor through a page of his own experiment naming her trace or run.
    r = requests.get(url + f"/experiments/{bobs}/traces/{secret_trace}", auth=BOB)
    assert r.status_code == 404 and "secret-trace" not in r.text
    assert requests.get(url + f"/experiments/{bobs}/runs/{run_id}", auth=BOB).status_code == 404
    # Feedback needs EDIT and the user's CSRF token.
    feedback = {"name": "quality", "value": "true", "rationale": "", "source_id": "bob"}
    r = requests.post(url + f"/experiments/{alices}/traces/{secret_trace}/feedback", data=feedback, auth=BOB,
                      allow_redirects=False)  # fmt: skip
    assert r.status_code == 403
    grant = {"username": "bob", "resource_type": "experiment", "resource_id": alices, "permission": "READ"}
    assert requests.post(v3 + "/users/permissions/grant", json=grant, auth=ALICE).status_code == 200
    page = requests.get(url + f"/experiments/{alices}/traces/{secret_trace}", auth=BOB)
    assert page.status_code == 200 and "Adding feedback needs EDIT" in page.text
    r = requests.post(url + f"/experiments/{alices}/traces/{secret_trace}/feedback", data=feedback, auth=BOB,
                      allow_redirects=False)  # fmt: skip
    assert r.status_code == 403
    requests.post(v3 + "/users/permissions/revoke", json=grant, auth=ALICE).raise_for_status()
    assert requests.post(v3 + "/users/permissions/grant", json={**grant, "permission": "EDIT"}, auth=ALICE).ok
    page = requests.get(url + f"/experiments/{alices}/traces/{secret_trace}", auth=BOB).text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = requests.post(url + f"/experiments/{alices}/traces/{secret_trace}/feedback", data=feedback, auth=BOB,
                      allow_redirects=False)  # fmt: skip
    assert r.status_code == 403, "a form without the token is refused"
    r = requests.post(url + f"/experiments/{alices}/traces/{secret_trace}/feedback", data={**feedback, "csrf": token},
                      auth=BOB, allow_redirects=False)  # fmt: skip
    assert r.status_code in (302, 303), r.text
    trace = requests.get(v3 + f"/traces/{secret_trace}", auth=ALICE).json()["trace"]["trace_info"]
    assert [a["assessment_name"] for a in trace["assessments"]] == ["quality"]


# Roles (RBAC) as MLflow 3.18's auth app serves them. The suite's reference server is 3.17.2,
# which has no role routes, so these tests run against ferroflow only and assert on the shapes
# and statuses learned from the 3.18.0 sources: mlflow/server/auth/entities.py (Role,
# RolePermission, UserRoleAssignment `to_json`), __init__.py (the role handlers and their
# validators: who may call what) and sqlalchemy_store.py (not-found and already-exists cases,
# the reserved `__user_` prefix, how role grants fold with direct ones).
ROLE_KEYS = {"id", "name", "workspace", "description", "permissions"}
ROLE_PERMISSION_KEYS = {"id", "role_id", "resource_type", "resource_pattern", "permission"}
ASSIGNMENT_KEYS = {"id", "user_id", "role_id"}


def test_roles_through_the_real_client(fresh_server, monkeypatch):
    _ferroflow_only()
    # The client reads this file too (it needs `database_uri` there).
    ini = "[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///basic_auth.db\nadmin_username = admin\n"
    srv = _auth_server(fresh_server, monkeypatch, ini)
    _as(monkeypatch, *ADMIN)
    users = mlflow.server.get_app_client("basic-auth", tracking_uri=srv.url)
    users.create_user(*ALICE)
    users.create_user(*BOB)
    client = MlflowClient(srv.url)
    _as(monkeypatch, *ALICE)
    exp_id = client.create_experiment("alice-roles")
    run_id = client.create_run(exp_id).info.run_id

    # bob has nothing (default NO_PERMISSIONS) until a role gives him something.
    _as(monkeypatch, *BOB)
    with pytest.raises(MlflowException) as denied:
        client.get_experiment(exp_id)
    assert _status(denied) == 403
    with pytest.raises(MlflowException) as denied:
        users.create_role(workspace="default", name="sneaky")
    assert _status(denied) == 403

    _as(monkeypatch, *ADMIN)
    role = users.create_role(workspace="default", name="editors", description="edit every experiment")
    assert (role.name, role.workspace, role.description, role.permissions) == (
        "editors", "default", "edit every experiment", [])
    with pytest.raises(MlflowException) as taken:
        users.create_role(workspace="default", name="editors")
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as reserved:
        users.create_role(workspace="default", name="__user_99__")
    assert _status(reserved) == 400
    # Only the default workspace exists here.
    with pytest.raises(MlflowException) as elsewhere:
        users.create_role(workspace="team-a", name="editors")
    assert _status(elsewhere) == 400 and "does not exist" in str(elsewhere.value)

    row = users.add_role_permission(role.id, "experiment", "*", "EDIT")
    assert (row.role_id, row.resource_type, row.resource_pattern, row.permission) == (role.id, "experiment", "*", "EDIT")
    with pytest.raises(MlflowException) as wildcard_only:
        users.add_role_permission(role.id, "run", "some-run", "READ")
    assert _status(wildcard_only) == 400
    with pytest.raises(MlflowException) as bad_level:
        users.add_role_permission(role.id, "workspace", "*", "READ")
    assert _status(bad_level) == 400
    assignment = users.assign_role("bob", role.id)
    assert assignment.role_id == role.id and assignment.user_id == users.get_user("bob").id
    with pytest.raises(MlflowException) as twice:
        users.assign_role("bob", role.id)
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert [r.name for r in users.list_user_roles("bob")] == ["editors"]
    assert [a.user_id for a in users.list_role_users(role.id)] == [assignment.user_id]
    assert [p.id for p in users.list_role_permissions(role.id)] == [row.id]
    assert [r.name for r in users.list_roles("default")] == ["editors"]
    assert users.get_role(role.id).permissions[0].permission == "EDIT"

    # Through the role bob may read and log, not delete (EDIT).
    _as(monkeypatch, *BOB)
    assert client.get_experiment(exp_id).name == "alice-roles"
    client.log_metric(run_id, "m", 1.0)
    with pytest.raises(MlflowException) as denied:
        client.delete_experiment(exp_id)
    assert _status(denied) == 403
    assert users.get_user_permission("bob", "experiment", exp_id).permission == "EDIT"
    # A holder of a role may read it and list the roles of its workspace, not all roles.
    assert users.get_role(role.id).name == "editors"
    assert [r.name for r in users.list_roles("default")] == ["editors"]
    with pytest.raises(MlflowException) as denied:
        users.list_all_roles()
    assert _status(denied) == 403
    with pytest.raises(MlflowException) as denied:
        users.update_role(role.id, name="mine")
    assert _status(denied) == 403

    # A DENY row on the one experiment wins over the wildcard EDIT, and over a direct grant.
    _as(monkeypatch, *ADMIN)
    deny = users.add_role_permission(role.id, "experiment", exp_id, "DENY")
    users.grant_user_permission("bob", "experiment", exp_id, "MANAGE")
    _as(monkeypatch, *BOB)
    with pytest.raises(MlflowException) as denied:
        client.get_experiment(exp_id)
    assert _status(denied) == 403
    assert client.search_runs([exp_id]) == []
    _as(monkeypatch, *ADMIN)
    users.remove_role_permission(deny.id)
    users.revoke_user_permission("bob", "experiment", exp_id)
    assert users.update_role_permission(row.id, "READ").permission == "READ"
    _as(monkeypatch, *BOB)
    assert client.get_experiment(exp_id).name == "alice-roles"
    with pytest.raises(MlflowException) as denied:
        client.log_metric(run_id, "m", 2.0)
    assert _status(denied) == 403

    # A workspace admin (MANAGE on the workspace slot) manages roles and every resource.
    _as(monkeypatch, *ADMIN)
    admins = users.create_role(workspace="default", name="ws-admins")
    users.add_role_permission(admins.id, "workspace", "*", "MANAGE")
    users.assign_role("bob", admins.id)
    _as(monkeypatch, *BOB)
    client.delete_experiment(exp_id)
    client.restore_experiment(exp_id)
    renamed = users.update_role(role.id, name="readers", description="read every experiment")
    assert (renamed.name, renamed.description) == ("readers", "read every experiment")
    users.assign_role("alice", role.id)
    assert [r.name for r in users.list_user_roles("alice")] == ["readers"]
    users.unassign_role("alice", role.id)

    # Unassigning, then deleting a role takes its grants away.
    _as(monkeypatch, *ADMIN)
    users.unassign_role("bob", admins.id)
    with pytest.raises(MlflowException) as gone:
        users.unassign_role("bob", admins.id)
    assert _status(gone) == 404
    users.delete_role(role.id)
    with pytest.raises(MlflowException) as gone:
        users.get_role(role.id)
    assert _status(gone) == 404
    _as(monkeypatch, *BOB)
    with pytest.raises(MlflowException) as denied:
        client.get_experiment(exp_id)
    assert _status(denied) == 403


def test_role_routes_answer_in_the_reference_shapes(fresh_server, monkeypatch):
    _ferroflow_only()
    srv = _auth_server(fresh_server, monkeypatch)
    v2, v3 = srv.url + "/api/2.0/mlflow", srv.url + "/api/3.0/mlflow"
    for user, password in (ALICE, BOB):
        assert requests.post(v2 + "/users/create", json={"username": user, "password": password}, auth=ADMIN).ok
    made = requests.post(v3 + "/roles/create", json={"name": "r1", "workspace": "default"}, auth=ADMIN)
    assert made.status_code == 200, made.text
    role = made.json()["role"]
    assert set(role) == ROLE_KEYS and role["description"] is None and role["permissions"] == []
    added = requests.post(v3 + "/roles/permissions/add", auth=ADMIN, json={
        "role_id": role["id"], "resource_type": "experiment", "resource_pattern": "0", "permission": "USE"})
    assert added.status_code == 200, added.text
    assert set(added.json()["role_permission"]) == ROLE_PERMISSION_KEYS
    assigned = requests.post(v3 + "/roles/assign", json={"username": "alice", "role_id": role["id"]}, auth=ADMIN)
    assert set(assigned.json()["assignment"]) == ASSIGNMENT_KEYS
    got = requests.get(v3 + "/roles/get", params={"role_id": role["id"]}, auth=ADMIN).json()["role"]
    assert set(got["permissions"][0]) == ROLE_PERMISSION_KEYS
    listed = requests.get(v3 + "/roles/users/list", params={"role_id": role["id"]}, auth=ADMIN).json()
    assert [set(a) for a in listed["assignments"]] == [ASSIGNMENT_KEYS]
    # users/list carries each user's roles; users/permissions/list the rows of each role.
    everyone = requests.get(v2 + "/users/list", auth=ADMIN).json()["users"]
    assert [r["name"] for u in everyone if u["username"] == "alice" for r in u["roles"]] == ["r1"]
    rows = requests.get(v3 + "/users/permissions/list", params={"username": "alice"}, auth=ALICE).json()
    assert [(r["role_name"], r["resource_pattern"], r["permission"]) for r in rows["permissions"]][-1] == (
        "r1", "0", "USE")
    # Statuses: missing role 404 for an admin, 403 for others (existence is not told);
    # malformed ids 400; empty deletes answer {}.
    assert requests.get(v3 + "/roles/get", params={"role_id": 999}, auth=ADMIN).status_code == 404
    assert requests.get(v3 + "/roles/get", params={"role_id": 999}, auth=BOB).status_code == 403
    assert requests.get(v3 + "/roles/get", params={"role_id": "x"}, auth=BOB).status_code == 400
    assert requests.get(v3 + "/roles/get", auth=BOB).status_code == 400
    assert requests.get(v3 + "/roles/get", params={"role_id": "x"}, auth=ADMIN).status_code == 400
    assert requests.get(v3 + "/roles/get", params={"role_id": role["id"]}, auth=BOB).status_code == 403
    assert requests.get(v3 + "/roles/get", params={"role_id": role["id"]}, auth=ALICE).status_code == 200
    assert requests.patch(v3 + "/roles/update", json={"role_id": role["id"]}, auth=ADMIN).status_code == 400
    assert requests.get(v3 + "/users/roles/list", params={"username": "alice"}, auth=BOB).status_code == 403
    assert requests.get(v3 + "/users/roles/list", params={"username": "alice"}, auth=ALICE).status_code == 200
    assert requests.get(v3 + "/roles/list", auth=ALICE).status_code == 403
    assert requests.get(v3 + "/roles/list", params={"workspace": "default"}, auth=BOB).status_code == 403
    update = requests.patch(v3 + "/roles/permissions/update", auth=ADMIN,
                            json={"role_permission_id": added.json()["role_permission"]["id"], "permission": "NOPE"})
    assert update.status_code == 400
    removed = requests.delete(v3 + "/roles/delete", json={"role_id": role["id"]}, auth=ADMIN)
    assert removed.status_code == 200 and removed.json() == {}
    assert requests.get(v3 + "/users/roles/list", params={"username": "alice"}, auth=ADMIN).json() == {"roles": []}
    # Without the auth app the routes do not exist.
    plain = fresh_server()
    assert requests.get(plain.url + "/api/3.0/mlflow/roles/list").status_code == 404


def _sign_in(url: str, user: str, password: str, headers: dict | None = None) -> requests.Response:
    """Signs in through the web UI's form (its CSRF token from the page and its cookie)."""
    browser = requests.Session()
    page = browser.get(url + "/login", headers=headers, timeout=30)
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    form = {"username": user, "password": password, "csrf": token, "next": "/experiments"}
    return browser.post(url + "/login", data=form, headers=headers, allow_redirects=False, timeout=30)


def _signed_in(url: str, cookie: str) -> bool:
    page = requests.get(url + "/experiments", cookies={"ferroflow_session": cookie}, allow_redirects=False, timeout=30)
    assert page.status_code in (200, 401), page.status_code
    return page.status_code == 200


def test_ui_sessions_survive_a_restart_and_work_on_every_server(fresh_server, monkeypatch):
    _ferroflow_only()
    from conftest import _LIVE_SERVERS, Server  # a second server on the first one's store

    srv = _auth_server(fresh_server, monkeypatch)
    v2 = srv.url + "/api/2.0/mlflow"
    assert requests.post(v2 + "/users/create", json={"username": "alice", "password": ALICE[1]}, auth=ADMIN).ok
    signed = _sign_in(srv.url, *ALICE)
    assert signed.status_code in (302, 303), signed.text
    session_cookie = next(c for c in signed.headers["Set-Cookie"].split(", ") if c.startswith("ferroflow_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie and "Secure" not in session_cookie
    cookie = signed.cookies["ferroflow_session"]
    assert _signed_in(srv.url, cookie)
    assert not _signed_in(srv.url, "ffat_" + "0" * 64)
    # Behind a TLS proxy (X-Forwarded-Proto: https) the cookies are HTTPS-only.
    proxied = _sign_in(srv.url, *ALICE, headers={"X-Forwarded-Proto": "https"})
    assert all("Secure" in c for c in proxied.headers["Set-Cookie"].split(", ") if "Path=" in c)

    # The session is in the store, not the process: a restart keeps it.
    srv.restart()
    assert _signed_in(srv.url, cookie)

    # A second server on the same store accepts it, and a sign-out form shown by one server
    # may be posted to the other (the CSRF token is the same on both).
    other = Server(srv.binary, srv.workdir, name="other", extra_args=tuple(srv.extra_args))
    other.db_path, other.postgres_uri = srv.db_path, srv.postgres_uri
    _LIVE_SERVERS.append(other)
    try:
        other.start()
        assert _signed_in(other.url, cookie)
        logout = requests.get(srv.url + "/logout", cookies={"ferroflow_session": cookie}, timeout=30)
        token = logout.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        done = requests.post(other.url + "/logout", data={"csrf": token}, cookies={"ferroflow_session": cookie},
                             allow_redirects=False, timeout=30)  # fmt: skip
        assert done.status_code in (302, 303), done.text
        assert not _signed_in(srv.url, cookie) and not _signed_in(other.url, cookie)
        # A new password ends the sessions started with the old one, on every server.
        fresh = _sign_in(other.url, *ALICE).cookies["ferroflow_session"]
        assert _signed_in(srv.url, fresh)
        change = {"username": "alice", "password": "alice-password-2"}
        assert requests.patch(v2 + "/users/update-password", json=change, auth=ADMIN).ok
        assert not _signed_in(srv.url, fresh) and not _signed_in(other.url, fresh)
    finally:
        other.stop(sig=signal.SIGKILL)
        _LIVE_SERVERS.remove(other)
