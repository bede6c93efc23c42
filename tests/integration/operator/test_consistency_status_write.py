"""The consistency job writes its result into the RagPipeline's status on a real kube-apiserver, with a token
of the ServiceAccount the operator renders for it and nothing but the Role the operator renders."""

from __future__ import annotations

import copy
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from faro_operator import GROUP, VERSION
from faro_operator.apply import ChildApplier
from faro_operator.builders.components import Component
from faro_operator.builders.owner import Owner
from faro_operator.builders.rbac import build_consistency_role, build_consistency_role_binding
from faro_operator.builders.service_accounts import build_service_account
from faro_operator.specs import RagPipelineSpec
from faro_workloads.consistency_job import run_consistency, status_patch, write_status
from faro_workloads.contract import conditions
from faro_workloads.contract.settings import ConsistencyConfig
from faro_workloads.core.census import CensusCounts, CensusReport, CensusScope

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "kubernetes" / "ragpipeline.yaml"


def _pipeline(objects: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    body = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    return objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "ragpipelines", copy.deepcopy(body)
    )


def _token_client(
    kube_api: Any, core: client.CoreV1Api, namespace: str, service_account: str
) -> client.ApiClient:
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    token = core.create_namespaced_service_account_token(service_account, namespace, request).status.token
    configuration = client.Configuration()
    configuration.host = kube_api.url
    configuration.ssl_ca_cert = str(kube_api.certificates.ca_cert)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def test_the_job_writes_status_consistency_with_exactly_its_role(
    crds_installed,
    kube_api,
    kube_api_client,
    namespace: str,
    pg_store_factory,
    qdrant_store_factory,
    make_chunks,
    make_record,
) -> None:
    objects, core = client.CustomObjectsApi(kube_api_client), client.CoreV1Api(kube_api_client)
    created = _pipeline(objects, namespace, "docs")
    _pipeline(objects, namespace, "other")
    owner = Owner.pipeline("docs", namespace, created["metadata"]["uid"])
    spec = RagPipelineSpec.model_validate(created["spec"])
    applier = ChildApplier(kube_api_client)
    account = build_service_account(owner, spec, Component.CONSISTENCY)
    for manifest in (account, build_consistency_role(owner), build_consistency_role_binding(owner)):
        applier.apply(manifest)
    as_job = _token_client(kube_api, core, namespace, account["metadata"]["name"])

    # a real run over real stores: half of Qdrant's points removed, then repaired
    pg = pg_store_factory()
    qdrant = qdrant_store_factory(pg.collection)
    for doc in range(4):
        chunks = make_chunks(f"doc-{doc}", 5, seed=doc)
        pg.write_document(make_record(chunks), chunks)
    result = run_consistency(pg, qdrant, ConsistencyConfig(sample_size=10, k=5, repair=True))
    assert status_patch(result)["status"]["consistency"]["result"] == "Repaired"
    # the censuses' figures too (the census itself runs on moto in test_census / test_bucket_source): the CRD
    # schema must keep every field, and what the operator's Complete condition reads from them
    chunk_census = CensusReport(CensusCounts(30, 10, 20, 0, 0, 0, 0), requeued_missing=20)
    source_sync = CensusReport(CensusCounts(5, 6, 0, 0, 1, 0, 1), scope=CensusScope("source", "s3://b/raw/"))
    result = replace(result, censuses=(chunk_census, source_sync))
    patch = status_patch(result)
    assert patch["status"]["consistency"]["result"] == "Drift"  # the bucket source's gaps

    write_status(patch, namespace=namespace, name="docs", api_client=as_job)
    stored = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "ragpipelines", "docs")["status"]
    assert stored["consistency"] == patch["status"]["consistency"]  # nothing pruned by the CRD schema
    assert (
        stored["consistency"]["census"]["requeued"] == 20
        and stored["consistency"]["sourceSync"]["orphans"] == 1
    )
    complete = conditions.completeness(stored["consistency"])
    assert (complete.status, complete.reason) == ("False", "DocumentsFailed")
    assert complete.message == "1 failed; 1 orphans; 20 sent to the embedding engine again"
    table = subprocess.run(
        ["kubectl", "--kubeconfig", str(kube_api.kubeconfig), "-n", namespace, "get", "ragpipelines", "docs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    start = table[0].index("OVERLAP")  # cells may be empty: read by the header's position
    end = table[0].index("AGE")
    assert table[1][start:end].strip() == "1"

    # least privilege: not another pipeline's status, not the spec
    with pytest.raises(ApiException) as other:
        write_status(patch, namespace=namespace, name="other", api_client=as_job)
    assert other.value.status == 403
    jobs_objects = client.CustomObjectsApi(as_job)
    with pytest.raises(ApiException) as spec_change:
        jobs_objects.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "ragpipelines", "docs", {"spec": {"chunking": {"size": 64}}}
        )
    assert spec_change.value.status == 403
