"""Kubernetes service-account tokens on the data APIs: who a token is (a TokenReview bound to the pipeline's
audience) and what that identity may do (a LocalSubjectAccessReview in the pipeline's namespace).

So who may query or write a pipeline is plain RBAC, e.g. ``create`` on ``ragpipelines/query`` for the
pipeline's name (:func:`faro_workloads.contract.access.call_needs` says which verb and subresource each call
needs). The service asks the API server with its own service account's token, re-read from its file on each
call (the kubelet rotates it); the operator grants that account exactly these two reviews.

Answers are reused for ``cache_seconds`` (a token's identity, keyed by the token's SHA-256, and each
identity's decisions), at most ``MAX_CACHED`` of each, the least recently used dropped first: a burst of
calls costs one review, and an RBAC change or a revoked token takes effect within that time. An API server
that does not answer, or refuses the service's own reviews, is a :class:`ReviewUnavailable` (503 to the
caller: not the caller's fault), never a way in.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from faro_workloads.contract.access import CallNeeds
from faro_workloads.contract.api import GROUP, RAGPIPELINE
from faro_workloads.contract.auth_settings import ServiceAccountAuthConfig
from faro_workloads.core.loop_bound import LoopBound
from faro_workloads.core.metrics import AUTH_REVIEWS, expose_label_values
from faro_workloads.errors import DependencyUnavailable, one_line

log = logging.getLogger(__name__)

MAX_CACHED = 10_000
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
REVIEW_KINDS = ("token", "access")
REVIEW_RESULTS = ("allowed", "denied", "failed")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReviewUnavailable(DependencyUnavailable):
    """The Kubernetes API server did not answer a review, or refused the service's own request."""

    dependency = "Kubernetes API server"


@dataclass(frozen=True)
class ReviewedAccount:
    """Who a token belongs to, as the TokenReview says (``system:serviceaccount:<namespace>:<name>``)."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


class ExpiringCache(Generic[K, V]):
    """At most ``size`` answers, each for ``seconds``; the least recently used go first."""

    def __init__(self, seconds: float, size: int = MAX_CACHED, clock: Callable[[], float] = time.monotonic):
        self._seconds, self._size, self._clock = seconds, size, clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, answer) when a fresh answer is kept, else (False, None)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            self._entries.pop(key, None)
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def put(self, key: K, value: V) -> None:
        if self._seconds <= 0:
            return
        self._entries[key] = (self._clock() + self._seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


class AccessReviewer:
    """Reviews tokens and calls for pipeline ``pipeline`` with the API server of ``config``."""

    def __init__(
        self,
        config: ServiceAccountAuthConfig,
        pipeline: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._pipeline = pipeline
        self._accounts: ExpiringCache[str, ReviewedAccount | None] = ExpiringCache(
            config.cache_seconds, clock=clock
        )
        self._decisions: ExpiringCache[tuple[ReviewedAccount, str, str], bool] = ExpiringCache(
            config.cache_seconds, clock=clock
        )
        self._client = LoopBound("Kubernetes API client", self._open_client, _close_client)
        expose_label_values(AUTH_REVIEWS, [(k, r) for k in REVIEW_KINDS for r in REVIEW_RESULTS])

    @property
    def audience(self) -> str:
        return self._config.audience

    def tenant_of(self, username: str) -> str | None:
        """The tenant the account ``username`` is held to (None: any)."""
        return self._config.tenants.get(username)

    async def authenticate(self, token: str) -> ReviewedAccount | None:
        """The account ``token`` belongs to, or None when the API server does not accept it for the
        pipeline's audience (expired, revoked, issued for another audience, not a token at all)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        found, account = self._accounts.get(key)
        if found:
            return account
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": [self._config.audience]},
        }
        status = await self._review("token", TOKEN_REVIEWS, review)
        account = _account(status, self._config.audience)
        AUTH_REVIEWS.labels("token", "denied" if account is None else "allowed").inc()
        self._accounts.put(key, account)
        return account

    async def authorize(self, account: ReviewedAccount, needs: CallNeeds) -> bool:
        """Whether RBAC lets ``account`` do ``needs.verb`` on ``ragpipelines/<needs.subresource>`` of this
        pipeline, in its namespace."""
        key = (account, needs.subresource, needs.verb)
        found, allowed = self._decisions.get(key)
        if found:
            return bool(allowed)
        namespace = self._config.namespace
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "LocalSubjectAccessReview",
            "metadata": {"namespace": namespace},
            "spec": {
                "user": account.username,
                "uid": account.uid,
                "groups": list(account.groups),
                "extra": {name: list(values) for name, values in account.extra},
                "resourceAttributes": {
                    "namespace": namespace,
                    "group": GROUP,
                    "resource": RAGPIPELINE.plural,
                    "subresource": needs.subresource,
                    "verb": needs.verb,
                    "name": self._pipeline,
                },
            },
        }
        path = f"/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews"
        status = await self._review("access", path, review)
        allowed = status.get("allowed") is True and status.get("denied") is not True
        AUTH_REVIEWS.labels("access", "allowed" if allowed else "denied").inc()
        self._decisions.put(key, allowed)
        return allowed

    async def _review(self, kind: str, path: str, review: dict[str, Any]) -> dict[str, Any]:
        """POST ``review`` and return its ``status``; a failure of the API server (or of the service's own
        rights) raises :class:`ReviewUnavailable`."""
        try:
            own_token = self._config.token_file.read_text().strip()
        except OSError as exc:
            AUTH_REVIEWS.labels(kind, "failed").inc()
            raise ReviewUnavailable(
                f"cannot read the service's token {self._config.token_file}: {exc}"
            ) from exc
        try:
            client = await self._client.get()
            response = await client.post(path, json=review, headers={"Authorization": f"Bearer {own_token}"})
        except httpx.HTTPError as exc:
            AUTH_REVIEWS.labels(kind, "failed").inc()
            raise ReviewUnavailable(f"{kind} review failed: {one_line(exc)}") from exc
        if response.status_code not in (200, 201):
            AUTH_REVIEWS.labels(kind, "failed").inc()
            detail = _message(response)
            log.error("the API server refused a %s review (%d): %s", kind, response.status_code, detail)
            raise ReviewUnavailable(f"{kind} review refused ({response.status_code}): {detail}")
        status = (response.json() or {}).get("status") or {}
        if not isinstance(status, dict):
            raise ReviewUnavailable(f"{kind} review answered without a status")
        return status

    async def _open_client(self) -> httpx.AsyncClient:
        ca = self._config.ca_file
        verify: Any = str(ca) if ca is not None else True
        return httpx.AsyncClient(
            base_url=self._config.api_server, verify=verify, timeout=self._config.timeout_seconds
        )

    def close(self) -> None:
        self._client.close()


async def _close_client(client: httpx.AsyncClient) -> None:
    await client.aclose()


def _account(status: dict[str, Any], audience: str) -> ReviewedAccount | None:
    """The account of a TokenReview's ``status`` when it authenticated the token for ``audience``."""
    if status.get("authenticated") is not True:
        return None
    audiences = status.get("audiences")
    if audiences is not None and audience not in audiences:  # an API server that ignored the audience
        return None
    user = status.get("user") or {}
    username = user.get("username")
    if not isinstance(username, str) or not username:
        return None
    extra = tuple(sorted((name, tuple(values)) for name, values in (user.get("extra") or {}).items()))
    return ReviewedAccount(username, str(user.get("uid") or ""), tuple(user.get("groups") or ()), extra)


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text[:200])
    except ValueError:
        return response.text[:200]
