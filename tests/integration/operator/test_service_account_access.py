"""Kubernetes service-account tokens on the data APIs, end to end on a real kube-apiserver: the operator
renders the services' review bindings; `faro serve chunker` and `faro serve query` run as their own processes
with a token of the ServiceAccounts the operator made (the rights it rendered, and no more); client pods'
tokens are authorized by plain RBAC on ``ragpipelines/query`` and ``ragpipelines/documents``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from faro_workloads.background_server import free_port
from faro_workloads.contract.access import TENANT_KEY, pipeline_audience
from faro_workloads.contract.auth_settings import AuthConfig, ServiceAccountAuthConfig
from faro_workloads.contract.settings import CollectionConfig, FaroSettings, PostgresConfig, QdrantConfig

from support.faro_process import faro_process
from support.polling import wait_for
from support.running_operator import custom
from support.service_processes import scraped, service_environment

pytestmark = pytest.mark.integration

REVIEWERS = Path(__file__).resolve().parents[3] / "operator" / "deploy" / "base" / "access-reviewers.yaml"
RBAC = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module")
def review_roles(kube_api_client: Any) -> None:
    """The two review ClusterRoles of the operator's install manifests."""
    rbac = client.RbacAuthorizationV1Api(kube_api_client)
    for role in yaml.safe_load_all(REVIEWERS.read_text()):
        try:
            rbac.create_cluster_role(role)
        except ApiException as error:
            if error.status != 409:
                raise


def _token(core: client.CoreV1Api, namespace: str, account: str, audience: str | None = None) -> str:
    """A token of ServiceAccount ``account`` (TokenRequest), for ``audience`` (None: the API server's)."""
    spec = client.V1TokenRequestSpec(audiences=[audience] if audience else [], expiration_seconds=3600)
    answer = core.create_namespaced_service_account_token(
        account, namespace, client.AuthenticationV1TokenRequest(spec=spec)
    )
    return answer.status.token


def _readme_recipe(kube_api: Any, namespace: str) -> None:
    """The README's recipe, with kubectl: a ServiceAccount ``search-ui`` that may query the pipeline."""
    for command in (
        ["create", "serviceaccount", "search-ui"],
        [
            "create",
            "role",
            "docs-search",
            "--verb=create",
            "--resource=ragpipelines.faro.dev/query",
            "--resource-name=docs",
        ],
        [
            "create",
            "rolebinding",
            "docs-search",
            "--role=docs-search",
            f"--serviceaccount={namespace}:search-ui",
        ],
    ):
        subprocess.run(
            ["kubectl", "-n", namespace, *command], env=kube_api.env(), check=True, capture_output=True
        )


def _client_account(core: client.CoreV1Api, rbac: Any, namespace: str, name: str, verbs: dict) -> None:
    """A client's ServiceAccount; for each ``{subresource: [verbs]}`` a Role and a RoleBinding on the
    pipeline ``docs`` (what ``kubectl create role/rolebinding`` makes)."""
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata={"name": name}))
    if not verbs:
        return
    rules = [
        {
            "apiGroups": ["faro.dev"],
            "resources": [f"ragpipelines/{subresource}"],
            "resourceNames": ["docs"],
            "verbs": granted,
        }
        for subresource, granted in verbs.items()
    ]
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    rbac.create_namespaced_role_binding(namespace, binding)


TOKEN_REVIEW = ("authentication.k8s.io", "tokenreviews", "")
ACCESS_REVIEW = ("authorization.k8s.io", "localsubjectaccessreviews", "")
CLUSTER_ACCESS_REVIEW = ("authorization.k8s.io", "subjectaccessreviews", "")
SECRETS = ("", "secrets", "")


def _may(kube_api_client: Any, user: str, resource: tuple[str, str, str], namespace: str = "") -> bool:
    """Whether RBAC lets ``user`` ``create`` (``get`` for Secrets) ``resource`` (group, plural, subresource)
    in ``namespace`` (a SubjectAccessReview asked as the admin)."""
    group, plural, subresource = resource
    attributes = {"group": group, "resource": plural, "subresource": subresource, "namespace": namespace}
    attributes["verb"] = "get" if plural == "secrets" else "create"
    review = {"spec": {"user": user, "groups": ["system:serviceaccounts"], "resourceAttributes": attributes}}
    answer = client.AuthorizationV1Api(kube_api_client).create_subject_access_review(review)
    return bool(answer.status.allowed)


def _assert_services_hold_the_two_reviews_and_no_more(kube_api_client: Any, namespace: str) -> None:
    for component in ("chunker", "query"):
        user = f"system:serviceaccount:{namespace}:docs-{component}"
        assert _may(kube_api_client, user, TOKEN_REVIEW)
        assert _may(kube_api_client, user, ACCESS_REVIEW, namespace)
        assert not _may(kube_api_client, user, ACCESS_REVIEW, "kube-system")
        assert not _may(kube_api_client, user, CLUSTER_ACCESS_REVIEW)
        assert not _may(kube_api_client, user, SECRETS, namespace)
    embedder = f"system:serviceaccount:{namespace}:docs-embedder"  # serves no data API: no review
    assert not _may(kube_api_client, embedder, TOKEN_REVIEW)
    assert not _may(kube_api_client, embedder, ACCESS_REVIEW, namespace)


@contextmanager
def _service(kind: str, settings: FaroSettings, log: Path, rendered: dict[str, str]) -> Iterator[str]:
    """``faro serve <kind>`` with ``settings`` and the settings the operator ``rendered`` for the reviews."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("serve", kind, "--host", "127.0.0.1", "--port", str(port))
    env = {**service_environment(settings), **rendered}
    with faro_process(*args, log=log, ready_url=f"{url}/healthz", env=env):
        yield url


def _rendered_review_settings(core: client.CoreV1Api, namespace: str) -> dict[str, str]:
    """The ``FARO_AUTH__SERVICE_ACCOUNTS__*`` settings of the operator's ConfigMap for pipeline ``docs``."""
    configmap = core.read_namespaced_config_map("docs-settings", namespace).data
    rendered = {k: v for k, v in configmap.items() if k.startswith("FARO_AUTH__SERVICE_ACCOUNTS__")}
    assert rendered["FARO_AUTH__SERVICE_ACCOUNTS__AUDIENCE"] == f"faro.dev/{namespace}/docs"
    assert json.loads(rendered["FARO_AUTH__SERVICE_ACCOUNTS__TENANTS"]) == {
        f"system:serviceaccount:{namespace}:ingest-bot": "tenant-a"
    }
    return rendered


def _audit_lines(log: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line.split("faro.audit: ", 1)[1])
        for line in log.read_text().splitlines()
        if "faro.audit: " in line
    ]


def _gone(read: Any) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


@pytest.fixture
def pipeline_with_tokens(operator, review_roles, resources, kube_api_client, namespace: str) -> Any:
    """The example pipeline applied, its review bindings in place (the ``custom`` resource of pipelines)."""
    rbac = client.RbacAuthorizationV1Api(kube_api_client)
    pipelines = custom(kube_api_client, namespace, "ragpipelines")
    custom(kube_api_client, namespace, "collections").create(resources["collection"])
    pipeline = resources["pipeline"]
    pipeline["spec"].setdefault("access", {})["serviceAccountTenants"] = {"ingest-bot": "tenant-a"}
    pipelines.create(pipeline)
    wait_for(lambda: rbac.read_cluster_role_binding(f"faro:token-review:{namespace}:docs"), what="a binding")
    wait_for(lambda: rbac.read_namespaced_role_binding("docs-access-review", namespace), what="a RoleBinding")
    pipeline = wait_for(
        lambda: (p := pipelines.get("docs")).get("status", {}).get("access") and p, what="status.access"
    )
    assert pipeline["status"]["access"]["documents"] == "apiKeys+serviceAccounts"
    assert "faro.dev/finalizer" in pipeline["metadata"]["finalizers"]  # the binding goes with the pipeline
    return pipelines


def test_rbac_decides_who_may_query_and_write_with_the_rights_the_operator_rendered(
    pipeline_with_tokens,
    kube_api,
    kube_api_client,
    namespace: str,
    aws_pipeline,
    postgres_dsn: str,
    tmp_path: Path,
) -> None:
    core, rbac = client.CoreV1Api(kube_api_client), client.RbacAuthorizationV1Api(kube_api_client)
    _assert_services_hold_the_two_reviews_and_no_more(kube_api_client, namespace)
    _readme_recipe(kube_api, namespace)  # search-ui may query, as the README's kubectl lines make it
    _client_account(core, rbac, namespace, "ingest-bot", {"documents": ["create", "get", "list", "delete"]})
    _client_account(core, rbac, namespace, "stranger", {})
    audience = pipeline_audience(namespace, "docs")
    reader = _token(core, namespace, "search-ui", audience)
    writer = _token(core, namespace, "ingest-bot", audience)
    stranger = _token(core, namespace, "stranger", audience)
    wrong_audience = _token(core, namespace, "search-ui")  # a token for the API server itself
    other_pipeline = _token(core, namespace, "search-ui", pipeline_audience(namespace, "other"))

    def settings(component: str, **extra: Any) -> FaroSettings:
        own = tmp_path / f"{component}.token"
        own.write_text(_token(core, namespace, f"docs-{component}"))  # as the kubelet mounts it
        accounts = ServiceAccountAuthConfig(
            audience=audience,
            namespace=namespace,
            api_server=kube_api.url,
            token_file=own,
            ca_file=kube_api.certificates.ca_cert,
        )
        auth = AuthConfig(anonymous=False, service_accounts=accounts)
        return FaroSettings(pipeline="docs", auth=auth, **extra)

    stores = {
        "collection": CollectionConfig(name=f"c_{namespace[-10:]}", dimension=384),
        "postgres": PostgresConfig(dsn=postgres_dsn, schema_name=f"s_{namespace[-10:]}"),
        "qdrant": QdrantConfig(path=_made_folder(tmp_path / "qdrant")),
    }
    # the review settings as the operator rendered them (audience, namespace, tenants of service accounts)
    rendered = _rendered_review_settings(core, namespace)
    chunker_log = tmp_path / "chunker.log"
    with ExitStack() as stack, httpx.Client(timeout=20) as http:
        chunker = stack.enter_context(
            _service("chunker", settings("chunker", s3=aws_pipeline.s3_config), chunker_log, rendered)
        )
        query = stack.enter_context(
            _service("query", settings("query", **stores), tmp_path / "query.log", rendered)
        )

        def call(method: str, url: str, token: str | None, **kwargs: Any) -> httpx.Response:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            return http.request(method, url, headers=headers, **kwargs)

        document = {"doc_id": "guide", "text": "Service-account tokens are reviewed by the API server."}
        question = {"query": "who reviews tokens?", "top_k": 3}
        # the reader may query, not upload
        assert call("POST", f"{query}/v1/query", reader, json=question).status_code == 200
        refused = call("POST", f"{chunker}/v1/documents", reader, json=document)
        assert refused.status_code == 403, refused.text
        assert "may not create ragpipelines/documents" in refused.json()["detail"]
        # the writer may upload, list, read and delete, not query
        assert call("POST", f"{chunker}/v1/documents", writer, json=document).status_code in (201, 202)
        assert call("GET", f"{chunker}/v1/documents", writer).status_code == 200
        stored = call("GET", f"{chunker}/v1/documents/guide", writer).json()
        assert stored["metadata"] == {TENANT_KEY: "tenant-a"}  # ingest-bot is held to tenant-a
        assert call("DELETE", f"{chunker}/v1/documents/guide", writer).status_code in (202, 204)
        assert call("POST", f"{query}/v1/query", writer, json=question).status_code == 403
        # no binding: 403; a token for another audience or another pipeline, or none: 401
        assert call("POST", f"{query}/v1/query", stranger, json=question).status_code == 403
        for token in (wrong_audience, other_pipeline, None, "not-a-token"):
            answer = call("POST", f"{query}/v1/query", token, json=question)
            assert answer.status_code == 401, (token, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"

        # RBAC changes apply once the cached decision expires (cache_seconds, 10 s by default)
        rbac.delete_namespaced_role_binding("docs-search", namespace)
        wait_for(
            lambda: call("POST", f"{query}/v1/query", reader, json=question).status_code == 403,
            timeout=30,
            what="the removed binding to take effect",
        )
        assert scraped(query, 'faro_auth_reviews_total{kind="access",result="allowed"}') >= 1
        assert scraped(query, 'faro_auth_reviews_total{kind="token",result="denied"}') >= 2
        assert scraped(query, 'faro_auth_denied_total{reason="forbidden"}') >= 2
        assert scraped(query, 'faro_auth_reviews_total{kind="access",result="failed"}') == 0

    audit = _audit_lines(chunker_log)
    writer_name = f"system:serviceaccount:{namespace}:ingest-bot"
    assert {(line["event"], line["identity"]) for line in audit if line["event"] != "denied"} >= {
        ("document.write", writer_name),
        ("document.delete", writer_name),
    }
    assert any(line["event"] == "denied" and line["reason"] == "forbidden" for line in audit)


def test_the_review_bindings_go_when_tokens_are_turned_off_and_with_the_pipeline(
    pipeline_with_tokens, kube_api_client, namespace: str
) -> None:
    rbac, pipelines = client.RbacAuthorizationV1Api(kube_api_client), pipeline_with_tokens
    binding = f"faro:token-review:{namespace}:docs"

    def gone(what: str, read: Any) -> None:
        wait_for(lambda: _gone(read), what=what)

    pipelines.patch("docs", {"spec": {"access": {"serviceAccounts": False}}})
    gone("the binding deleted", lambda: rbac.read_cluster_role_binding(binding))
    gone(
        "the RoleBinding deleted", lambda: rbac.read_namespaced_role_binding("docs-access-review", namespace)
    )
    core = client.CoreV1Api(kube_api_client)
    wait_for(
        lambda: any(
            e.reason == "AccessReviewRemoved" and e.involved_object.name == "docs"
            for e in core.list_namespaced_event(namespace).items
        ),
        what="the AccessReviewRemoved event",
    )
    pipelines.patch("docs", {"spec": {"access": {"serviceAccounts": True}}})
    wait_for(lambda: rbac.read_cluster_role_binding(binding), what="the binding back")
    pipelines.delete("docs")
    gone("the binding deleted with the pipeline", lambda: rbac.read_cluster_role_binding(binding))
    gone("the pipeline gone (its finalizer released)", lambda: pipelines.get("docs"))


def _made_folder(folder: Path) -> str:
    """``folder``, made (a query service reads a Qdrant folder, it does not make one)."""
    folder.mkdir()
    return str(folder)
