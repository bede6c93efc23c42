"""Per-caller rate limits on the data APIs: a token bucket per key (or client address on an open API), 429
with Retry-After beyond it, counted and audited; the operator's spec reaching the settings."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from faro_operator.builders.settings_configmap import settings_data
from faro_workloads.api.audit import AUDIT_LOGGER
from faro_workloads.api.auth import AccessCheck, DataApiAuth
from faro_workloads.api.key_ring import KeyRing
from faro_workloads.api.rate_limit import MAX_CALLERS, RateLimit, TokenBuckets
from faro_workloads.contract.auth_settings import RateLimitConfig
from faro_workloads.contract.settings import FaroSettings

from support.operator_builders import PIPELINE, pipeline_spec, resolved


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_then_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)

    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == pytest.approx(0.5)  # the 4th waits for half a second at 2/s
    assert buckets.take("b") == 0  # another caller has a bucket of its own
    clock.now += 0.5
    assert buckets.take("a") == 0
    clock.now += 60
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, not beyond


def test_callers_beyond_the_limit_are_forgotten_oldest_first() -> None:
    buckets = TokenBuckets(rate=1, burst=1, clock=Clock())
    buckets.take("first")
    for n in range(MAX_CALLERS):
        buckets.take(f"caller-{n}")

    assert buckets.take("first") == 0  # forgotten: a fresh bucket


def _app(keys: KeyRing | None, clock: Clock) -> FastAPI:
    router = APIRouter(prefix="/v1")

    @router.post("/query")
    def query() -> dict[str, bool]:
        return {"ok": True}

    app = FastAPI()
    app.include_router(router)

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(RateLimit, config=RateLimitConfig(requests_per_second=0.5, burst=2), clock=clock)
    if keys is not None:
        app.add_middleware(DataApiAuth, check=AccessCheck(keys))
    return app


def test_each_key_has_its_own_limit_and_a_refusal_says_when_to_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    limited = REGISTRY.get_sample_value("faro_auth_denied_total", {"reason": "rate_limited"}) or 0.0
    clock = Clock()
    keys = KeyRing(admin_key="sesame")
    with TestClient(_app(keys, clock)) as http:
        auth = {"authorization": "Bearer sesame"}
        assert [http.post("/v1/query", headers=auth).status_code for _ in range(2)] == [200, 200]
        refused = http.post("/v1/query", headers=auth)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"  # one token at 0.5/s
        assert "retry in 2 s" in refused.json()["detail"]
        assert all(http.get("/healthz").status_code == 200 for _ in range(5))  # health is never limited
        clock.now += 2
        assert http.post("/v1/query", headers=auth).status_code == 200

    assert REGISTRY.get_sample_value("faro_auth_denied_total", {"reason": "rate_limited"}) == limited + 1
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]
    assert line["identity"] == "api-key" and line["reason"] == "rate_limited"


def test_on_an_open_api_a_caller_is_its_address() -> None:
    with TestClient(_app(None, Clock())) as http:
        statuses = [http.post("/v1/query").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_the_spec_reaches_the_settings_and_none_means_no_limit() -> None:
    spec = pipeline_spec(access={"rateLimit": {"requestsPerSecond": 5, "burst": 10}})
    data = settings_data(PIPELINE, spec, resolved())
    assert {k: v for k, v in data.items() if k.startswith("FARO_AUTH__")} == {
        "FARO_AUTH__ANONYMOUS": "false",
        "FARO_AUTH__RATE_LIMIT__BURST": "10",
        "FARO_AUTH__RATE_LIMIT__REQUESTS_PER_SECOND": "5.0",
        "FARO_AUTH__SERVICE_ACCOUNTS__AUDIENCE": "faro.dev/team-a/docs-pipeline",
        "FARO_AUTH__SERVICE_ACCOUNTS__NAMESPACE": "team-a",
    }
    settings = FaroSettings.model_validate(
        {"auth": {"rate_limit": {"requests_per_second": 5.0, "burst": 10}}}
    )
    assert settings.auth.rate_limit == RateLimitConfig(requests_per_second=5, burst=10)
    assert not any(
        k.startswith("FARO_AUTH__RATE") for k in settings_data(PIPELINE, pipeline_spec(), resolved())
    )
