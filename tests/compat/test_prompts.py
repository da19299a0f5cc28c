"""The prompt registry as the real `mlflow` client drives it: prompts are registered models
tagged `mlflow.prompt.is_prompt`, versions carry the template in tags, aliases move, `@latest`
is resolved by the server.

The client caches prompts (aliases for 60 s, versions forever), so loads that must see the
server's current answer run in a fresh Python process (`load_in_fresh_process`) or bypass the
cache with `cache_ttl_seconds=0`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException
from pydantic import BaseModel

PROMPT_TAG = "mlflow.prompt.is_prompt"

LOAD_SCRIPT = """
import json, sys
import mlflow
try:
    prompt = mlflow.genai.load_prompt(sys.argv[1])
    print(json.dumps({"version": prompt.version, "template": prompt.template, "aliases": list(prompt.aliases)}))
except Exception as e:
    print(json.dumps({"error_code": getattr(e, "error_code", None), "message": str(e)}))
"""


def api(server, path: str) -> str:
    return f"{server.url}/api/2.0/mlflow/{path}"


def unique(prefix: str = "prompt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def load_in_fresh_process(uri: str) -> dict:
    """Loads a prompt in a new interpreter, so no client-side cache can answer."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, uri], capture_output=True, text=True, timeout=120, env=env, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


class Answer(BaseModel):
    answer: str
    confidence: float


def test_text_prompt_versions_load_and_format(client, server):
    name = unique()
    v1 = mlflow.genai.register_prompt(
        name,
        "Answer the question {{question}} in the style of {{style}}.",
        commit_message="first version",
        tags={"team": "spec", "lang": "en"},
    )
    assert (v1.name, v1.version) == (name, 1)
    v2 = mlflow.genai.register_prompt(name, "Q: {{question}}\nStyle: {{ style }}\nA:", commit_message="second")
    assert v2.version == 2

    first = mlflow.genai.load_prompt(f"prompts:/{name}/1")
    assert first.template == "Answer the question {{question}} in the style of {{style}}."
    assert first.commit_message == "first version"
    assert first.tags == {"team": "spec", "lang": "en"}
    assert first.variables == {"question", "style"}
    assert first.format(question="why?", style="haiku") == "Answer the question why? in the style of haiku."
    second = mlflow.genai.load_prompt(name, version=2)
    assert second.template == "Q: {{question}}\nStyle: {{ style }}\nA:"
    assert second.commit_message == "second"
    assert second.format(question="x", style="y") == "Q: x\nStyle: y\nA:"

    # Stored as a registered model with tagged versions (../shared/spec/mlflow-rest.md §10.1); read raw, since the
    # client hides prompts from its model API.
    model = requests.get(api(server, "registered-models/get"), params={"name": name}).json()["registered_model"]
    assert {"key": PROMPT_TAG, "value": "true"} in model["tags"]
    assert model["description"] == "first version"
    assert [v["version"] for v in model["latest_versions"]] == ["2"]
    version = requests.get(api(server, "model-versions/get"), params={"name": name, "version": "1"}).json()
    version_tags = {t["key"]: t["value"] for t in version["model_version"]["tags"]}
    assert version_tags["mlflow.prompt.text"] == first.template
    assert version_tags["_mlflow_prompt_type"] == "text"
    assert version["model_version"]["source"] == "dummy-source"
    assert version["model_version"]["status"] == "READY"
    assert [v.version for v in client.search_prompt_versions(name)] == [2, 1]


def test_chat_prompt_with_response_format_and_model_config():
    name = unique("chat")
    messages = [
        {"role": "system", "content": "You are a {{persona}}."},
        {"role": "user", "content": "{{question}}"},
    ]
    mlflow.genai.register_prompt(
        name,
        messages,
        commit_message="chat v1",
        response_format=Answer,
        model_config={"model_name": "gpt-x", "temperature": 0.2},
    )
    loaded = mlflow.genai.load_prompt(f"prompts:/{name}/1")
    assert loaded.template == messages
    assert not loaded.is_text_prompt
    assert loaded.response_format["properties"]["answer"]["type"] == "string"
    assert loaded.response_format["required"] == ["answer", "confidence"]
    assert loaded.model_config["model_name"] == "gpt-x"
    assert loaded.model_config["temperature"] == 0.2
    assert loaded.format(persona="pirate", question="where?") == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "where?"},
    ]

    dict_format = unique("fmt")
    mlflow.genai.register_prompt(dict_format, "Say {{x}}", response_format={"type": "object", "properties": {"a": {"type": "string"}}})
    assert mlflow.genai.load_prompt(f"prompts:/{dict_format}/1").response_format == {
        "type": "object",
        "properties": {"a": {"type": "string"}},
    }


def test_aliases_move_and_are_resolved_by_the_server():
    name = unique()
    mlflow.genai.register_prompt(name, "v1 {{x}}")
    mlflow.genai.register_prompt(name, "v2 {{x}}")

    mlflow.genai.set_prompt_alias(name, "production", 1)
    seen = load_in_fresh_process(f"prompts:/{name}@production")
    assert (seen.get("version"), seen.get("template")) == (1, "v1 {{x}}"), seen
    mlflow.genai.set_prompt_alias(name, "production", 2)
    seen = load_in_fresh_process(f"prompts:/{name}@production")
    assert (seen.get("version"), seen.get("template")) == (2, "v2 {{x}}"), seen
    assert "production" in seen["aliases"]

    # `latest` is no stored alias: the server resolves it to the highest version.
    seen = load_in_fresh_process(f"prompts:/{name}@latest")
    assert (seen.get("version"), seen.get("template")) == (2, "v2 {{x}}"), seen
    mlflow.genai.register_prompt(name, "v3 {{x}}")
    seen = load_in_fresh_process(f"prompts:/{name}@latest")
    assert seen.get("version") == 3, seen
    assert mlflow.genai.load_prompt(f"prompts:/{name}@latest", cache_ttl_seconds=0).version == 3

    mlflow.genai.delete_prompt_alias(name, "production")
    seen = load_in_fresh_process(f"prompts:/{name}@production")
    assert seen.get("error_code") == "INVALID_PARAMETER_VALUE", seen
    assert "alias production not found" in seen["message"]
    with pytest.raises(MlflowException) as e:
        mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_prompts_with_filter(client):
    prefix = unique("search")
    names = [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    for i, name in enumerate(names):
        mlflow.genai.register_prompt(name, f"template {i} {{{{x}}}}", tags={"group": "odd" if i % 2 else "even"})
    client.create_registered_model(f"{prefix}-model")  # a model, never a prompt result

    found = mlflow.genai.search_prompts(filter_string=f"name LIKE '{prefix}%'")
    assert sorted(p.name for p in found) == names
    even = mlflow.genai.search_prompts(filter_string=f"name LIKE '{prefix}%' AND tags.group = 'even'")
    assert sorted(p.name for p in even) == [names[0], names[2]]
    assert [p.name for p in mlflow.genai.search_prompts(filter_string=f"name = '{names[1]}'")] == [names[1]]
    # Paged: the client follows next_page_token.
    page = MlflowClient().search_prompts(filter_string=f"name LIKE '{prefix}%'", max_results=2)
    assert len(page) == 2 and page.token
    # The user tags come back; the internal prompt tag is hidden by the client.
    assert found[0].tags.get("group") in {"odd", "even"}


def test_prompt_tags_version_tags_and_model_config():
    name = unique()
    mlflow.genai.register_prompt(name, "Hello {{name}}", tags={"team": "a"})
    mlflow.genai.set_prompt_tag(name, "owner", "me")
    # The client also tags the prompt with `_mlflow_experiment_ids`, from a background thread.
    def user_tags() -> dict:
        return {k: v for k, v in mlflow.genai.get_prompt_tags(name).items() if not k.startswith("_mlflow")}

    assert user_tags() == {"team": "a", "owner": "me"}
    mlflow.genai.delete_prompt_tag(name, "owner")
    assert user_tags() == {"team": "a"}

    mlflow.genai.set_prompt_version_tag(name, 1, "reviewed", "yes")
    assert mlflow.genai.load_prompt(name, version=1, cache_ttl_seconds=0).tags["reviewed"] == "yes"
    mlflow.genai.delete_prompt_version_tag(name, 1, "reviewed")
    assert "reviewed" not in mlflow.genai.load_prompt(name, version=1, cache_ttl_seconds=0).tags

    mlflow.genai.set_prompt_model_config(name, 1, {"model_name": "m", "temperature": 0.5})
    assert mlflow.genai.load_prompt(name, version=1, cache_ttl_seconds=0).model_config["temperature"] == 0.5
    mlflow.genai.delete_prompt_model_config(name, 1)
    assert mlflow.genai.load_prompt(name, version=1, cache_ttl_seconds=0).model_config is None


def test_missing_prompt_raises_and_allow_missing_returns_none():
    name = unique("missing")
    with pytest.raises(MlflowException) as e:
        mlflow.genai.load_prompt(f"prompts:/{name}/1")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.genai.load_prompt(f"prompts:/{name}/1", allow_missing=True) is None

    existing = unique()
    mlflow.genai.register_prompt(existing, "only {{one}}")
    with pytest.raises(MlflowException) as e:
        mlflow.genai.load_prompt(f"prompts:/{existing}/7")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_prompt_version_and_prompt(client, server):
    name = unique()
    mlflow.genai.register_prompt(name, "one {{x}}")
    mlflow.genai.register_prompt(name, "two {{x}}")
    client.delete_prompt_version(name, "2")
    assert [v.version for v in client.search_prompt_versions(name)] == [1]
    seen = load_in_fresh_process(f"prompts:/{name}@latest")
    assert seen.get("version") == 1, seen
    client.delete_prompt(name)
    r = requests.get(f"{server.url}/api/2.0/mlflow/registered-models/get", params={"name": name})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.genai.load_prompt(f"prompts:/{name}/1", allow_missing=True) is None


def test_prompt_version_rejects_a_real_source(client, server):
    name = unique()
    mlflow.genai.register_prompt(name, "x {{y}}")
    r = requests.post(
        f"{server.url}/api/2.0/mlflow/model-versions/create",
        json={"name": name, "source": "s3://bucket/file", "tags": [{"key": PROMPT_TAG, "value": "true"}]},
    )
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert [v.version for v in client.search_prompt_versions(name)] == [1]


def test_duplicate_prompt_name_with_a_model_is_refused(client):
    name = unique()
    client.create_registered_model(name)
    with pytest.raises(MlflowException):
        mlflow.genai.register_prompt(name, "x {{y}}")
    # The model is untouched and no prompt version was added.
    assert PROMPT_TAG not in client.get_registered_model(name).tags
    assert client.search_model_versions(f"name = '{name}'") == []


def test_error_code_of_bad_prompt_filter():
    with pytest.raises(RestException) as e:
        mlflow.genai.search_prompts(filter_string="name = 'a' OR name = 'b'")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
