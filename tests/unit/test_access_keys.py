"""API keys by scope on the data APIs: the keys file (reloaded when it changes, a bad file never replacing a
good one), what each scope may call, and the audit lines and counts of refusals."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from faro_workloads.api.audit import AUDIT_LOGGER, identity_name
from faro_workloads.api.auth import AccessCheck, DataApiAuth, access_check
from faro_workloads.api.key_ring import KeyRing
from faro_workloads.contract.access import KeysFile, Scope, call_needs, key_digest, new_key
from faro_workloads.contract.auth_settings import AuthConfig
from faro_workloads.errors import ConfigurationError

KEYS = {"reader": new_key(), "writer": new_key(), "admin": new_key()}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


SCOPES = {"reader": "query", "writer": "write", "writer-next": "write", "admin": "admin"}


def write_keys(path: Path, names: dict[str, str]) -> None:
    entries = [{"name": n, "sha256": key_digest(key), "scope": SCOPES[n]} for n, key in names.items()]
    path.write_text(json.dumps({"keys": entries}))


def denied(reason: str) -> float:
    return REGISTRY.get_sample_value("faro_auth_denied_total", {"reason": reason}) or 0.0


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    write_keys(path, KEYS)
    return path


def test_each_key_is_known_by_its_name_and_scope(keys_file: Path) -> None:
    ring = KeyRing(keys_file)

    assert ring.identify(KEYS["reader"]).scope is Scope.QUERY
    assert ring.identify(KEYS["writer"]).name == "writer"
    assert ring.identify("faro_not-a-key") is None
    assert ring.identify(key_digest(KEYS["admin"])) is None  # the digest in the file is no key


def test_a_rotation_has_old_and_new_key_working_then_only_the_new_one(keys_file: Path) -> None:
    clock = Clock()
    ring = KeyRing(keys_file, check_seconds=2, clock=clock)
    rotated = new_key()
    write_keys(keys_file, {**KEYS, "writer-next": rotated})  # step 1: the new key beside the old
    assert ring.identify(rotated) is None  # not looked at again before check_seconds
    clock.now = 2.5
    assert ring.identify(rotated).name == "writer-next"
    assert ring.identify(KEYS["writer"]).name == "writer"  # the overlap: clients move at their pace

    write_keys(
        keys_file, {name: key for name, key in KEYS.items() if name != "writer"} | {"writer-next": rotated}
    )
    clock.now = 5
    assert ring.identify(rotated) is not None
    assert ring.identify(KEYS["writer"]) is None  # step 2: the old key removed


def test_a_file_that_no_longer_parses_keeps_the_keys_loaded_before(
    keys_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    ring = KeyRing(keys_file, check_seconds=1, clock=clock)
    refused = REGISTRY.get_sample_value("faro_auth_key_reloads_total", {"result": "refused"}) or 0.0
    keys_file.write_text('{"keys": [{"name": "half-writ')
    clock.now = 5

    assert ring.identify(KEYS["admin"]).scope is Scope.ADMIN
    assert REGISTRY.get_sample_value("faro_auth_key_reloads_total", {"result": "refused"}) == refused + 1
    assert "keys loaded before stay in force" in caplog.text
    keys_file.unlink()  # gone (a Secret deleted): the keys stay too, and it is reported
    clock.now = 10
    assert ring.identify(KEYS["admin"]) is not None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"keys": [{"name": "a", "sha256": "00", "scope": "query"}]}', "sha256"),
        ('{"keys": [{"name": "a", "sha256": "' + "0" * 64 + '", "scope": "root"}]}', "scope"),
        (
            '{"keys": [{"name": "a", "sha256": "' + "0" * 64 + '", "scope": "query", "tenant": "T A"}]}',
            "tenant",
        ),
        ("not json", "Invalid JSON"),
    ],
)
def test_a_bad_keys_file_at_start_is_a_configuration_error(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)

    with pytest.raises(ConfigurationError, match=problem):
        KeyRing(path)


def test_names_and_keys_may_appear_once() -> None:
    digest = key_digest("k")
    with pytest.raises(ValueError, match="repeated: a"):
        KeysFile.model_validate({"keys": [{"name": "a", "sha256": digest, "scope": "query"}] * 2})
    with pytest.raises(ValueError, match="1 key"):
        KeysFile.model_validate(
            {"keys": [{"name": n, "sha256": digest, "scope": "query"} for n in ("a", "b")]}
        )


def test_without_keys_anonymous_decides_and_the_admin_key_is_an_admin(
    caplog: pytest.LogCaptureFixture,
) -> None:
    open_on_purpose = AuthConfig.model_validate({"anonymous": True})
    assert access_check(open_on_purpose, "query API", "docs") is None
    assert access_check(AuthConfig(), "query API", "docs") is None  # not said: open, with a warning
    assert "the query API is open to anyone" in caplog.text
    closed = access_check(AuthConfig.model_validate({"anonymous": False}), "query API", "docs")
    assert closed is not None and closed.ring.identify(new_key()) is None  # no key opens it
    assert closed.reviewer is None
    assert "refuses every call" in caplog.text
    check = access_check(AuthConfig.model_validate({"api_key": "sesame"}), "query API", "docs")
    assert check is not None
    identity = check.ring.identify("sesame")
    assert identity is not None and identity.scope is Scope.ADMIN
    with pytest.raises(ValueError, match="anonymous access excludes"):
        AuthConfig.model_validate({"anonymous": True, "api_key": "sesame"})
    accounts = {"audience": "faro.dev/ns/docs", "namespace": "ns"}
    with pytest.raises(ValueError, match="anonymous access excludes"):
        AuthConfig.model_validate({"anonymous": True, "service_accounts": accounts})


def test_a_closed_api_refuses_every_call() -> None:
    with TestClient(_app(KeyRing())) as http:
        assert http.post("/v1/query", headers={"authorization": "Bearer anything"}).status_code == 401
        assert http.post("/v1/query").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "scope", "resource", "verb"),
    [
        ("POST", "/v1/query", Scope.QUERY, "ragpipelines/query", "create"),
        ("POST", "/v1/documents", Scope.WRITE, "ragpipelines/documents", "create"),
        ("GET", "/v1/documents", Scope.WRITE, "ragpipelines/documents", "list"),
        ("GET", "/v1/documents/a/b", Scope.WRITE, "ragpipelines/documents", "get"),
        ("HEAD", "/v1/documents/a", Scope.WRITE, "ragpipelines/documents", "get"),
        ("DELETE", "/v1/documents/a/b", Scope.WRITE, "ragpipelines/documents", "delete"),
        ("GET", "/v1/generations", Scope.ADMIN, "ragpipelines/generations", "list"),
        ("POST", "/v1/generations/g2/approve", Scope.ADMIN, "ragpipelines/generations", "update"),
        ("POST", "/v1/queryx", Scope.ADMIN, "ragpipelines/generations", "update"),  # a prefix is not a path
    ],
)
def test_what_each_call_needs(method: str, path: str, scope: Scope, resource: str, verb: str) -> None:
    needs = call_needs(method, path)
    assert (needs.scope, needs.resource, needs.verb) == (scope, resource, verb)


def _app(ring: KeyRing) -> FastAPI:
    router = APIRouter(prefix="/v1")

    @router.post("/query")
    def query(request: Request) -> dict[str, str]:
        return {"who": identity_name(request)}

    @router.delete("/documents/{doc_id}")
    def delete(doc_id: str, request: Request) -> dict[str, str]:
        return {"who": identity_name(request)}

    @router.get("/generations")
    def generations(request: Request) -> dict[str, str]:
        return {"who": identity_name(request)}

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(DataApiAuth, check=AccessCheck(ring))
    return app


@pytest.mark.parametrize(
    ("key", "method", "path", "status"),
    [
        ("reader", "post", "/v1/query", 200),
        ("reader", "delete", "/v1/documents/guide", 403),
        ("writer", "delete", "/v1/documents/guide", 200),
        ("writer", "post", "/v1/query", 200),
        ("writer", "get", "/v1/generations", 403),
        ("admin", "get", "/v1/generations", 200),
    ],
)
def test_each_scope_opens_its_calls_and_the_ones_below(
    keys_file: Path, key: str, method: str, path: str, status: int
) -> None:
    with TestClient(_app(KeyRing(keys_file))) as http:
        answer = http.request(method, path, headers={"authorization": f"Bearer {KEYS[key]}"})

    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json() == {"who": key}
    else:
        assert f"key {key!r} has scope" in answer.json()["detail"]


def test_refusals_are_counted_by_reason_and_audited(
    keys_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = {reason: denied(reason) for reason in ("missing_key", "unknown_key", "insufficient_scope")}
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    with TestClient(_app(KeyRing(keys_file))) as http:
        assert http.post("/v1/query").status_code == 401
        assert http.post("/v1/query", headers={"authorization": "Basic abc"}).status_code == 401
        unknown = http.post("/v1/query", headers={"authorization": "Bearer faro_nope"})
        assert unknown.status_code == 401 and unknown.headers["www-authenticate"] == "Bearer"
        scope = http.get("/v1/generations", headers={"authorization": f"Bearer {KEYS['reader']}"})
        assert scope.status_code == 403

    assert denied("missing_key") == before["missing_key"] + 2
    assert denied("unknown_key") == before["unknown_key"] + 1
    assert denied("insufficient_scope") == before["insufficient_scope"] + 1
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]
    assert [line["reason"] for line in lines] == [
        "missing_key",
        "missing_key",
        "unknown_key",
        "insufficient_scope",
    ]
    assert lines[-1] == {
        "event": "denied",
        "identity": "reader",
        "reason": "insufficient_scope",
        "method": "GET",
        "path": "/v1/generations",
        "client": "testclient",
    }
    assert all(KEYS["reader"] not in json.dumps(line) for line in lines)  # a key never reaches a log


def test_new_keys_are_random_and_recognisable() -> None:
    first, second = new_key(), new_key()
    assert first != second and first.startswith("faro_") and len(first) > 40
