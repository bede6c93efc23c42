"""API keys on a running service (`faro serve chunker`, S3 on moto), the keys file laid out as the kubelet
lays out a mounted Secret (``keys.json`` a symlink through ``..data`` to a timestamped folder, swapped
atomically on an update): a rotation while a client uploads in a loop fails no request; scopes hold; writes
and deletes leave audit lines naming the key; refusals are counted."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from faro_workloads.background_server import free_port
from faro_workloads.contract.access import key_digest, new_key
from faro_workloads.contract.settings import AuthConfig, FaroSettings

from support.faro_process import faro_process
from support.service_processes import scraped, service_environment

pytestmark = pytest.mark.integration


class MountedSecret:
    """A folder as the kubelet keeps a Secret volume: each version in a folder of its own, ``..data`` a
    symlink to the current one, swapped by rename; ``keys.json`` -> ``..data/keys.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._versions = 0
        root.mkdir()
        (root / "keys.json").symlink_to("..data/keys.json")

    @property
    def path(self) -> Path:
        return self.root / "keys.json"

    def publish(self, keys: dict[str, tuple[str, str]]) -> None:
        """Make ``{name: (key, scope)}`` the Secret's content."""
        self._versions += 1
        version = self.root / f"..2026_12_06_{self._versions:04d}"
        version.mkdir()
        entries = [{"name": n, "sha256": key_digest(k), "scope": s} for n, (k, s) in keys.items()]
        (version / "keys.json").write_text(json.dumps({"keys": entries}))
        staged = self.root / "..data_tmp"
        staged.symlink_to(version.name)
        os.replace(staged, self.root / "..data")


def _upload(client: httpx.Client, url: str, key: str, doc_id: str) -> httpx.Response:
    body = {"doc_id": doc_id, "text": f"Document {doc_id} is uploaded during a key rotation."}
    return client.post(f"{url}/v1/documents", json=body, headers={"authorization": f"Bearer {key}"})


def test_a_rotation_fails_no_request_and_scopes_and_audit_hold(aws_pipeline, tmp_path: Path) -> None:
    secret = MountedSecret(tmp_path / "secret")
    old, new, reader = new_key(), new_key(), new_key()
    secret.publish({"ci-bot": (old, "write"), "search-ui": (reader, "query")})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = FaroSettings(
        pipeline=aws_pipeline.pipeline,
        s3=aws_pipeline.s3_config,
        auth=AuthConfig(keys_file=secret.path),
    )
    env = service_environment(settings)
    log = tmp_path / "chunker.log"
    args = ("serve", "chunker", "--host", "127.0.0.1", "--port", str(port))
    statuses: list[int] = []
    with faro_process(*args, log=log, ready_url=f"{url}/readyz", env=env), httpx.Client(timeout=10) as http:
        key, sent = old, 0
        secret.publish(
            {"ci-bot": (old, "write"), "ci-bot-next": (new, "write"), "search-ui": (reader, "query")}
        )
        deadline = time.monotonic() + 30
        while key == old:  # the client moves to the new key once it opens the API (the overlap)
            assert time.monotonic() < deadline, "the new key never opened the API"
            if _upload(http, url, new, "probe").status_code == 202:
                key = new
            statuses.append(_upload(http, url, key, f"doc-{sent}").status_code)
            sent += 1
        secret.publish({"ci-bot-next": (new, "write"), "search-ui": (reader, "query")})  # the old key removed
        deadline = time.monotonic() + 30
        while _upload(http, url, old, "stale").status_code != 401:
            assert time.monotonic() < deadline, "the removed key kept working"
            statuses.append(_upload(http, url, key, f"doc-{sent}").status_code)
            sent += 1
        for _ in range(5):
            statuses.append(_upload(http, url, key, f"doc-{sent}").status_code)
            sent += 1

        forbidden = _upload(http, url, reader, "by-reader")
        assert forbidden.status_code == 403
        assert "this call needs write" in forbidden.json()["detail"]
        assert http.delete(
            f"{url}/v1/documents/doc-0", headers={"authorization": f"Bearer {new}"}
        ).status_code in (
            202,
            204,
        )
        assert scraped(url, 'faro_auth_denied_total{reason="insufficient_scope"}') == 1
        assert scraped(url, 'faro_auth_denied_total{reason="unknown_key"}') >= 1
        assert scraped(url, "faro_auth_keys") == 2

    assert statuses and set(statuses) == {202}, statuses  # not one request failed across the rotation
    audit = [
        json.loads(line.split("faro.audit: ", 1)[1])
        for line in log.read_text().splitlines()
        if "faro.audit: " in line
    ]
    writes = [line for line in audit if line["event"] == "document.write"]
    assert {line["identity"] for line in writes} == {"ci-bot", "ci-bot-next"}
    assert all(line["pipeline"] == aws_pipeline.pipeline for line in writes)
    assert {
        "event": "document.delete",
        "identity": "ci-bot-next",
        "pipeline": aws_pipeline.pipeline,
        "doc_id": "doc-0",
        "result": "deleted",
    } in audit
    assert any(line["event"] == "denied" and line["reason"] == "insufficient_scope" for line in audit)
    assert not any(key in log.read_text() for key in (old, new, reader))  # no key reaches the log
