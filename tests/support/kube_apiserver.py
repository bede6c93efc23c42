"""A real Kubernetes API server for the operator's integration tests: etcd + kube-apiserver on 127.0.0.1.

Only the API server runs: no controller-manager, scheduler or kubelet. Objects are stored, validated,
defaulted, admitted, watched and served exactly as in a cluster, but nothing acts on them: Deployments get
no ReplicaSets or Pods, deleted namespaces stay ``Terminating``, owner references are not garbage-collected.

- :func:`find_binaries`: ``kube-apiserver`` and ``etcd`` from ``$KUBEBUILDER_ASSETS`` (the envtest
  convention, any version), else the build cached by ``scripts/build-kube-apiserver.sh`` (Kubernetes 1.20.2)
  and ``etcd`` on PATH (Debian's ``etcd-server``, from ``scripts/install-system-deps.sh``).
- :class:`KubeApiServer`: starts both with fresh certificates (openssl: ``kube_certificates.py``) in a
  temporary folder, waits until the API server is ready, writes an admin kubeconfig, and stops both again.
- :func:`install_crds`: Faro's CRDs applied and Established.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from faro_workloads.background_server import free_port

from support.kube_certificates import Certificates, KubeApiServerError, make_certificates, write_kubeconfig
from support.server_processes import log_tail, stop_process

KUBE_APISERVER_VERSION = "1.20.2"
"""The Kubernetes version that ``scripts/build-kube-apiserver.sh`` builds and caches."""
BUILD_SCRIPT = "scripts/build-kube-apiserver.sh"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.1
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# Admission plugins that are on by default but need a controller-manager to let requests through (or to let
# a deletion finish); see KubeApiServer.
DISABLED_ADMISSION_PLUGINS = ("ServiceAccount", "StorageObjectInUseProtection")
# Client and server settings read from the environment that must not change where these servers talk.
DROPPED_ENV_PREFIXES = ("ETCD_", "KUBECONFIG")


def faro_cache_dir() -> Path:
    """The cache folder of the project's scripts: ``$FARO_CACHE_DIR``, else ``~/.cache/faro``."""
    configured = os.environ.get("FARO_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "faro"


def cached_kube_apiserver() -> Path:
    """Where ``scripts/build-kube-apiserver.sh`` puts the kube-apiserver it builds."""
    return faro_cache_dir() / f"kube-apiserver-{KUBE_APISERVER_VERSION}" / "kube-apiserver"


@dataclass(frozen=True)
class KubeBinaries:
    """The two server binaries, and the Kubernetes version the kube-apiserver reports (``(1, 20)``)."""

    kube_apiserver: Path
    etcd: Path
    version: tuple[int, int]


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def binary_version(kube_apiserver: Path) -> tuple[int, int]:
    """``(major, minor)`` from ``kube-apiserver --version`` ("Kubernetes v1.20.2")."""
    output = subprocess.run(
        [str(kube_apiserver), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r"v(\d+)\.(\d+)", output.stdout + output.stderr)
    if output.returncode != 0 or match is None:
        raise KubeApiServerError(
            f"{kube_apiserver} --version failed (status {output.returncode}): {output.stderr.strip()[-500:]}"
        )
    return int(match.group(1)), int(match.group(2))


def find_binaries() -> KubeBinaries:
    """The kube-apiserver and etcd to run; raises :class:`KubeApiServerError` saying how to get them.

    Each binary is taken from ``$KUBEBUILDER_ASSETS`` when that folder has it, else kube-apiserver from the
    script's cache and etcd from PATH.
    """
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    apiserver_candidates = [Path(assets) / "kube-apiserver"] if assets else []
    apiserver_candidates.append(cached_kube_apiserver())
    etcd_candidates = [Path(assets) / "etcd"] if assets else []
    on_path = shutil.which("etcd")
    if on_path:
        etcd_candidates.append(Path(on_path))

    apiserver = next((path for path in apiserver_candidates if _executable(path)), None)
    etcd = next((path for path in etcd_candidates if _executable(path)), None)
    problems = []
    if apiserver is None:
        looked = ", ".join(str(path) for path in apiserver_candidates)
        problems.append(
            f"no kube-apiserver (looked at {looked}): run `make test`, or `bash {BUILD_SCRIPT}` once as root "
            f"(builds Kubernetes {KUBE_APISERVER_VERSION} from Debian's source package in about 5 minutes), "
            "or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd"
        )
    if etcd is None:
        looked = f"{assets}/etcd and PATH" if assets else "PATH"
        problems.append(
            f"no etcd (looked at {looked}): run `make system-deps` (Debian package etcd-server) "
            "or set KUBEBUILDER_ASSETS"
        )
    if apiserver is None or etcd is None:
        raise KubeApiServerError("; ".join(problems))
    return KubeBinaries(kube_apiserver=apiserver, etcd=etcd, version=binary_version(apiserver))


@dataclass(frozen=True)
class ServerVersion:
    """What the running API server reports at ``/version``."""

    major: int
    minor: int
    git_version: str

    def at_least(self, major: int, minor: int) -> bool:
        """Whether the server is Kubernetes ``major.minor`` or newer."""
        return (self.major, self.minor) >= (major, minor)

    def __str__(self) -> str:
        return self.git_version


def _server_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not any(key.startswith(prefix) for prefix in DROPPED_ENV_PREFIXES)
    }


class KubeApiServer:
    """etcd and kube-apiserver for one test session, every port on 127.0.0.1.

    After :meth:`start`: ``url`` (``https://127.0.0.1:<port>``), ``kubeconfig`` (admin, context
    ``faro-test``), ``version`` (:class:`ServerVersion` from ``/version``), ``etcd_url``, ``certificates``
    and the two logs ``apiserver_log`` / ``etcd_log`` (in ``log_dir``, which outlives :meth:`stop`; the data
    and certificate folder does not).

    Besides certificates, service-account keys and ports: ``--endpoint-reconciler-type=none`` (the API
    server would otherwise try every 10 s to publish 127.0.0.1 as the ``kubernetes`` Service's endpoint,
    which is invalid: loopback), ``--insecure-port=0`` on servers older than 1.24, which have the flag (1.20
    defaults to 0 already; envtest assets before 1.20 would serve plain HTTP on 127.0.0.1:8080), and these
    admission plugins, on by default, switched off:

    - ``ServiceAccount``: rejects every Pod whose namespace lacks the ``default`` ServiceAccount (and, on
      servers as old as 1.20, its token Secret); both are made by controller-manager controllers that do not
      run here.
    - ``StorageObjectInUseProtection``: puts finalizers on PVCs and PVs that only a controller removes, so
      their deletion would never finish.
    """

    def __init__(self, binaries: KubeBinaries, log_dir: Path) -> None:
        self.binaries = binaries
        self.log_dir = log_dir
        self.apiserver_log = log_dir / "kube-apiserver.log"
        self.etcd_log = log_dir / "etcd.log"
        self.workdir: Path | None = None
        self.url = ""
        self.etcd_url = ""
        self.kubeconfig = Path()
        self.certificates: Certificates | None = None
        self.version = ServerVersion(0, 0, "")
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []

    # ------------------------------------------------------------------------------------------ life cycle

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start etcd and kube-apiserver and wait until ``/readyz`` answers ``ok``; stops both on failure."""
        deadline = time.monotonic() + timeout
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="faro-kube-api-"))
        try:
            self.certificates = make_certificates(self.workdir / "pki")
            self._start_etcd(deadline)
            self._start_apiserver(deadline)
            self.kubeconfig = write_kubeconfig(self.workdir / "kubeconfig", self.url, self.certificates)
            self.version = self._read_version()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd (SIGTERM, SIGKILL after a timeout); remove the temporary folder."""
        stop_process(self._apiserver)
        stop_process(self._etcd)
        self._apiserver = self._etcd = None
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def failure(self) -> str | None:
        """Why the servers stopped running (exit status and log), or None while both run (or before start)."""
        for name, process, log in (
            ("kube-apiserver", self._apiserver, self.apiserver_log),
            ("etcd", self._etcd, self.etcd_log),
        ):
            if process is not None and process.poll() is not None:
                return f"{name} exited with status {process.returncode}; log {log}:\n{log_tail(log)}"
        return None

    def _spawn(self, command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        log = log_path.open("wb")
        self._logs.append(log)
        return subprocess.Popen(
            command,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _start_etcd(self, deadline: float) -> None:
        assert self.workdir is not None
        client_url = f"http://127.0.0.1:{free_port()}"
        peer_url = f"http://127.0.0.1:{free_port()}"
        self._etcd = self._spawn(
            [
                str(self.binaries.etcd),
                "--name=faro-test",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=faro-test={peer_url}",
                "--initial-cluster-state=new",
                "--logger=zap",
                "--log-outputs=stderr",
            ],
            self.etcd_log,
        )
        self.etcd_url = client_url
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            self._wait_until(
                "etcd", self._etcd, self.etcd_log, deadline, lambda: _etcd_healthy(client, client_url)
            )

    def _apiserver_command(self, port: int) -> list[str]:
        assert self.workdir is not None and self.certificates is not None
        certificates = self.certificates
        command = [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={certificates.serving_cert}",
            f"--tls-private-key-file={certificates.serving_key}",
            f"--client-ca-file={certificates.ca_cert}",
            f"--service-account-key-file={certificates.service_account_public_key}",
            f"--service-account-signing-key-file={certificates.service_account_key}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--disable-admission-plugins={','.join(DISABLED_ADMISSION_PLUGINS)}",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ]
        if self.binaries.version < (1, 24):
            command.append("--insecure-port=0")
        return command

    def _start_apiserver(self, deadline: float) -> None:
        assert self.certificates is not None
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        self._apiserver = self._spawn(self._apiserver_command(port), self.apiserver_log)
        with self.http_client(timeout=2.0) as client:
            self._wait_until(
                "kube-apiserver",
                self._apiserver,
                self.apiserver_log,
                deadline,
                lambda: _answers_ok(client, "/readyz"),
            )

    def _wait_until(
        self,
        name: str,
        process: subprocess.Popen[bytes],
        log: Path,
        deadline: float,
        ready: Callable[[], bool],
    ) -> None:
        """Poll ``ready()`` until true; raise with the log's tail if ``process`` exits or time runs out."""
        while True:
            if process.poll() is not None:
                raise KubeApiServerError(
                    f"{name} exited with status {process.returncode} while starting; log {log}:\n"
                    f"{log_tail(log)}"
                )
            if ready():
                return
            if time.monotonic() > deadline:
                raise KubeApiServerError(f"{name} was not ready in time; log {log}:\n{log_tail(log)}")
            time.sleep(POLL_SECONDS)

    def _read_version(self) -> ServerVersion:
        with self.http_client() as client:
            info = client.get("/version").raise_for_status().json()
        return ServerVersion(
            major=int(re.sub(r"\D", "", info["major"])),
            minor=int(re.sub(r"\D", "", info["minor"])),
            git_version=info["gitVersion"],
        )

    # ------------------------------------------------------------------------------------------- clients

    def ssl_context(self) -> ssl.SSLContext:
        """TLS settings of an admin client: trusts the test CA, presents the admin certificate."""
        assert self.certificates is not None, "the server is not started"
        context = ssl.create_default_context(cafile=str(self.certificates.ca_cert))
        context.load_cert_chain(str(self.certificates.admin_cert), str(self.certificates.admin_key))
        return context

    def http_client(self, timeout: float = 10.0) -> httpx.Client:
        """An httpx client for raw API requests as the admin (base URL ``url``); close it after use."""
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=timeout, trust_env=False)

    def api_client(self) -> Any:
        """A new ``kubernetes.client.ApiClient`` for the admin kubeconfig; close it after use."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def env(self) -> dict[str, str]:
        """This process's environment with ``KUBECONFIG`` set to the admin kubeconfig (for kubectl, kopf)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def served_group_versions(self) -> list[str]:
        """Every API group version the server serves (``v1``, ``apps/v1``, ``batch/v1beta1``...)."""
        with self.http_client() as client:
            core = client.get("/api").raise_for_status().json()["versions"]
            groups = client.get("/apis").raise_for_status().json()["groups"]
        return [*core, *(version["groupVersion"] for group in groups for version in group["versions"])]

    def served_kinds(self, group_version: str) -> set[str]:
        """The kinds of the top-level resources served in ``group_version`` (empty if it is not served)."""
        path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        with self.http_client() as client:
            response = client.get(path)
        if response.status_code == httpx.codes.NOT_FOUND:
            return set()
        resources = response.raise_for_status().json()["resources"]
        return {resource["kind"] for resource in resources if "/" not in resource["name"]}


def install_crds(api_client: Any, timeout: float = START_TIMEOUT_SECONDS) -> None:
    """Apply Faro's CRDs (generated from the operator's models; already present is fine) and wait until each
    is Established."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from faro_operator.crds import CRD_FILES

    extensions = client.ApiextensionsV1Api(api_client)
    deadline = time.monotonic() + timeout
    for build in CRD_FILES.values():
        crd = build()
        try:
            extensions.create_custom_resource_definition(crd)
        except ApiException as exc:
            if exc.status != 409:
                raise
        name = crd["metadata"]["name"]
        while not any(
            condition.type == "Established" and condition.status == "True"
            for condition in (extensions.read_custom_resource_definition(name).status.conditions or [])
        ):
            if time.monotonic() > deadline:
                raise KubeApiServerError(f"CRD {name} was not Established within {timeout:g} s")
            time.sleep(POLL_SECONDS)


def _answers_ok(client: httpx.Client, path: str) -> bool:
    try:
        response = client.get(path)
    except httpx.TransportError:
        return False
    return response.status_code == httpx.codes.OK and response.text.strip() == "ok"


def _etcd_healthy(client: httpx.Client, url: str) -> bool:
    try:
        response = client.get(f"{url}/health")
    except httpx.TransportError:
        return False
    return response.status_code == httpx.codes.OK and response.json().get("health") == "true"
