"""Running the operator: kopf with Faro's handlers and settings (what ``faro operator`` starts)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import kopf
from kubernetes import client, config
from prometheus_client import start_http_server

from faro_operator.context import OperatorContext
from faro_operator.handlers import register_handlers
from faro_operator.metrics import expose_reconcile_series
from faro_workloads.contract.api import GROUP, qualified_key
from faro_workloads.core.stores.ports import StoreAdminOpener

log = logging.getLogger(__name__)


@dataclass
class OperatorOptions:
    namespaces: list[str] = field(default_factory=list)  # empty: every namespace
    resync_seconds: float = 30.0
    liveness_endpoint: str | None = "http://0.0.0.0:8080/healthz"
    metrics_port: int | None = 9090
    peering: bool = False  # a single replica needs no peering


def load_api_client() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def connection_info(api: client.ApiClient) -> kopf.ConnectionInfo:
    """kopf's credentials for the cluster an ApiClient talks to (certificates, or a bearer token)."""
    conf = api.configuration
    token = (conf.api_key or {}).get("authorization", "").removeprefix("Bearer ").strip() or None
    return kopf.ConnectionInfo(
        server=conf.host,
        ca_path=conf.ssl_ca_cert,
        insecure=not conf.verify_ssl,
        certificate_path=conf.cert_file,
        private_key_path=conf.key_file,
        token=token,
    )


def operator_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    # Handler progress in annotations: the status schema stays exactly what the CRD documents.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = qualified_key("finalizer")
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60
    return settings


def run_operator(
    options: OperatorOptions,
    store_connector: StoreAdminOpener,
    api: client.ApiClient | None = None,
    stop_flag: threading.Event | None = None,
    ready_flag: threading.Event | None = None,
) -> None:
    """Run until ``stop_flag`` is set (or a signal arrives, when on the main thread); ``store_connector``
    opens the stores of a Collection (the CLI hands it the workloads' adapters)."""
    registry = kopf.OperatorRegistry()
    register_handlers(registry, resync_seconds=options.resync_seconds)
    if api is None:  # kopf logs in the way the kubernetes client does (in-cluster, else kubeconfig)
        api = load_api_client()
        kopf.on.login(registry=registry)(kopf.login_via_client)
    else:  # kopf talks to exactly the cluster of the given client
        given = api

        @kopf.on.login(registry=registry)
        def login_as_given_client(**_: object) -> kopf.ConnectionInfo:
            return connection_info(given)

    context = OperatorContext(api=api, store_connector=store_connector)
    if options.metrics_port is not None:
        expose_reconcile_series()
        start_http_server(options.metrics_port)
    kopf.run(
        registry=registry,
        settings=operator_settings(),
        memo=kopf.Memo(context=context),
        namespaces=options.namespaces,
        clusterwide=not options.namespaces,
        standalone=not options.peering,
        liveness_endpoint=options.liveness_endpoint,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
