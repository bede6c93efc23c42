"""Service-account tokens on the data APIs, the decisions: which credential is reviewed at all, what each
review answer becomes (401, 403, 503 or through), how long answers are reused, and that an API server that
cannot be asked never lets a call in. The reviews themselves run against a real kube-apiserver in
``tests/integration/operator/test_service_account_access.py``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient

from faro_workloads.api.access_review import (
    AccessReviewer,
    ExpiringCache,
    ReviewedAccount,
    ReviewUnavailable,
    _account,
)
from faro_workloads.api.audit import identity_name
from faro_workloads.api.auth import AccessCheck, DataApiAuth, looks_like_token
from faro_workloads.api.key_ring import KeyRing
from faro_workloads.background_server import free_port
from faro_workloads.contract.access import CallNeeds, new_key
from faro_workloads.contract.auth_settings import ServiceAccountAuthConfig

AUDIENCE = "faro.dev/team-a/docs"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"  # the shape of a JWT
READER = ReviewedAccount("system:serviceaccount:team-a:search-ui")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeReviewer:
    """Answers as an API server would: ``accounts`` by token, ``allowed`` (account name, verb, resource)."""

    audience = AUDIENCE

    def __init__(self, accounts: dict[str, ReviewedAccount], allowed: set[tuple[str, str, str]]) -> None:
        self.accounts, self.allowed, self.asked = accounts, allowed, []
        self.unavailable = False
        self.tenants: dict[str, str] = {}

    def tenant_of(self, username: str) -> str | None:
        return self.tenants.get(username)

    async def authenticate(self, token: str) -> ReviewedAccount | None:
        self.asked.append(("token", token))
        if self.unavailable:
            raise ReviewUnavailable("connection refused")
        return self.accounts.get(token)

    async def authorize(self, account: ReviewedAccount, needs: CallNeeds) -> bool:
        self.asked.append(("access", needs.verb))
        return (account.username, needs.verb, needs.resource) in self.allowed


def _app(check: AccessCheck) -> FastAPI:
    router = APIRouter(prefix="/v1")

    @router.post("/query")
    def query(request: Request) -> dict[str, str]:
        return {"who": identity_name(request)}

    @router.post("/documents")
    def upload(request: Request) -> dict[str, str]:
        return {"who": identity_name(request)}

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(DataApiAuth, check=check)
    return app


def _call(reviewer: FakeReviewer, path: str, credential: str, ring: KeyRing | None = None):
    with TestClient(_app(AccessCheck(ring or KeyRing(), reviewer))) as http:  # type: ignore[arg-type]
        return http.post(path, headers={"authorization": f"Bearer {credential}"})


def test_a_token_rbac_allows_gets_through_and_is_named_in_the_request() -> None:
    reviewer = FakeReviewer({TOKEN: READER}, {(READER.username, "create", "ragpipelines/query")})
    answer = _call(reviewer, "/v1/query", TOKEN)
    assert answer.status_code == 200 and answer.json() == {"who": READER.username}
    refused = _call(reviewer, "/v1/documents", TOKEN)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"{READER.username} may not create ragpipelines/documents of this pipeline (Kubernetes RBAC)"
    )


def test_a_token_the_api_server_rejects_is_401_and_names_the_audience() -> None:
    answer = _call(FakeReviewer({}, set()), "/v1/query", TOKEN)
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert AUDIENCE in answer.json()["detail"]


def test_what_is_not_shaped_like_a_token_is_never_sent_for_review() -> None:
    reviewer = FakeReviewer({}, set())
    for credential in ("faro_made-up-key", "a.b", "x" * 20_000, "a.b.c.d", "a.b.c!"):
        assert _call(reviewer, "/v1/query", credential).status_code == 401
    assert reviewer.asked == []
    assert looks_like_token(TOKEN) and not looks_like_token("." * 3)


def test_an_api_key_is_checked_by_its_scope_without_a_review() -> None:
    key = new_key()
    reviewer = FakeReviewer({}, set())
    assert _call(reviewer, "/v1/query", key, KeyRing(admin_key=key)).json() == {"who": "api-key"}
    assert reviewer.asked == []


def test_an_api_server_that_does_not_answer_is_503_never_a_way_in() -> None:
    reviewer = FakeReviewer({TOKEN: READER}, {(READER.username, "create", "ragpipelines/query")})
    reviewer.unavailable = True
    answer = _call(reviewer, "/v1/query", TOKEN)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "cannot check the token now" in answer.json()["detail"]


def _config(tmp_path: Path, **overrides: object) -> ServiceAccountAuthConfig:
    token = tmp_path / "token"
    token.write_text("own-token")
    values = {
        "audience": AUDIENCE,
        "namespace": "team-a",
        "api_server": f"https://127.0.0.1:{free_port()}",  # nothing listens there
        "token_file": token,
        "ca_file": None,
        "timeout_seconds": 2,
    }
    return ServiceAccountAuthConfig.model_validate({**values, **overrides})


def test_the_reviewer_fails_as_unavailable_without_its_token_or_its_api_server(tmp_path: Path) -> None:
    reviewer = AccessReviewer(_config(tmp_path), "docs")
    with pytest.raises(ReviewUnavailable, match="token review failed"):
        asyncio.run(reviewer.authenticate(TOKEN))
    missing = AccessReviewer(_config(tmp_path, token_file=tmp_path / "absent"), "docs")
    with pytest.raises(ReviewUnavailable, match="cannot read the service's token"):
        asyncio.run(missing.authenticate(TOKEN))


def test_a_review_answer_counts_only_when_authenticated_for_the_audience() -> None:
    user = {"username": READER.username, "uid": "u1", "groups": ["system:serviceaccounts"]}
    assert _account({"authenticated": True, "user": user, "audiences": [AUDIENCE]}, AUDIENCE) == (
        ReviewedAccount(READER.username, "u1", ("system:serviceaccounts",))
    )
    assert _account({"authenticated": True, "user": user, "audiences": ["other"]}, AUDIENCE) is None
    assert _account({"authenticated": False, "user": user}, AUDIENCE) is None
    assert _account({"authenticated": True, "user": {}}, AUDIENCE) is None
    extra = {**user, "extra": {"authentication.kubernetes.io/pod-name": ["p-1"]}}
    account = _account({"authenticated": True, "user": extra}, AUDIENCE)
    assert account is not None and account.extra == (("authentication.kubernetes.io/pod-name", ("p-1",)),)


def test_answers_are_reused_for_their_time_and_the_cache_stays_bounded() -> None:
    clock = Clock()
    cache: ExpiringCache[str, bool] = ExpiringCache(10, size=2, clock=clock)
    cache.put("a", True)
    cache.put("b", False)
    assert cache.get("a") == (True, True) and cache.get("b") == (True, False)  # a denial is reused too
    cache.put("c", True)  # the least recently used ("a", read before "b") goes
    assert cache.get("a") == (False, None) and cache.get("c") == (True, True)
    clock.now = 10.0
    assert cache.get("b") == (False, None)  # expired
    never: ExpiringCache[str, bool] = ExpiringCache(0, clock=clock)
    never.put("a", True)
    assert never.get("a") == (False, None)
