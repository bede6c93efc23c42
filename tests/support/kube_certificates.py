"""The certificates a test kube-apiserver and etcd pair needs (made with openssl in a folder of their own),
and an admin kubeconfig for them (``tests/support/kube_apiserver.py``)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL_TIMEOUT_SECONDS = 30.0


class KubeApiServerError(RuntimeError):
    """The binaries are missing, or etcd / kube-apiserver did not start (the message tells why)."""


@dataclass(frozen=True)
class Certificates:
    """PEM files made for one server pair: a CA, the API server's serving certificate (127.0.0.1), an
    admin client certificate (group ``system:masters``) and the service-account signing key pair."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public_key: Path


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise KubeApiServerError("openssl is not on PATH: run `make system-deps` (Debian package openssl)")
    result = subprocess.run(
        [openssl, *args], capture_output=True, text=True, timeout=OPENSSL_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        raise KubeApiServerError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()[-1000:]}")


def _ec_key(path: Path) -> Path:
    """A new P-256 private key (PKCS#8 PEM): quick to make, accepted by every part involved."""
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)
    return path


def _signed_cert(folder: Path, name: str, subject: str, extensions: list[str], ca: tuple[Path, Path]) -> Path:
    """A certificate for ``folder/<name>.key``, signed by ``ca`` (cert, key), valid for two days."""
    key, csr, cert, ext = (folder / f"{name}.{suffix}" for suffix in ("key", "csr", "crt", "ext"))
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    ext.write_text("\n".join(extensions) + "\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-set_serial", f"0x{secrets.token_hex(16)}", "-days", "2", "-sha256",
        "-extfile", str(ext), "-out", str(cert),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    return cert


def make_certificates(folder: Path) -> Certificates:
    """Create the CA, serving, admin and service-account keys and certificates in ``folder`` (openssl)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _ec_key(folder / "ca.key")
    ca_cert = folder / "ca.crt"
    _openssl(
        "req", "-x509", "-new", "-key", str(ca_key), "-subj", "/CN=faro-test-ca", "-days", "2", "-sha256",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-addext", "subjectKeyIdentifier=hash",
        "-out", str(ca_cert),
    )  # fmt: skip
    ca = (ca_cert, ca_key)
    common = [
        "basicConstraints=critical,CA:FALSE",
        "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid",
    ]
    serving_key = _ec_key(folder / "serving.key")
    serving_cert = _signed_cert(
        folder,
        "serving",
        "/CN=kube-apiserver",
        [
            *common,
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth",
            "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
            "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
        ],
        ca,
    )
    admin_key = _ec_key(folder / "admin.key")
    admin_cert = _signed_cert(
        folder,
        "admin",
        "/O=system:masters/CN=faro-test-admin",
        [*common, "keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=clientAuth"],
        ca,
    )
    service_account_key = _ec_key(folder / "service-account.key")
    service_account_public_key = folder / "service-account.pub"
    _openssl("pkey", "-in", str(service_account_key), "-pubout", "-out", str(service_account_public_key))
    return Certificates(
        ca_cert=ca_cert,
        ca_key=ca_key,
        serving_cert=serving_cert,
        serving_key=serving_key,
        admin_cert=admin_cert,
        admin_key=admin_key,
        service_account_key=service_account_key,
        service_account_public_key=service_account_public_key,
    )


def write_kubeconfig(path: Path, url: str, certificates: Certificates) -> Path:
    """An admin kubeconfig (client certificate of group system:masters) for ``url``; context ``faro-test``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "faro-test",
                "cluster": {"server": url, "certificate-authority": str(certificates.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "faro-test-admin",
                "user": {
                    "client-certificate": str(certificates.admin_cert),
                    "client-key": str(certificates.admin_key),
                },
            }
        ],
        "contexts": [
            {
                "name": "faro-test",
                "context": {"cluster": "faro-test", "user": "faro-test-admin", "namespace": "default"},
            }
        ],
        "current-context": "faro-test",
    }
    # JSON is YAML: every kubeconfig reader accepts it.
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path
