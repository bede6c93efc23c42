"""The API keys of a pipeline's data APIs: the Secret holding its keys file (``spec.access.apiKeysSecretRef``)
mounted into the chunking service and the query service, and the setting that names the file.

No ``subPath`` and no ``optional``: a rotated Secret reaches the running pods (the services re-read the file
when it changes), and a Secret that is missing keeps the pods from starting rather than opening the API.
"""

from __future__ import annotations

from typing import Any

from faro_operator.builders.components import Component
from faro_operator.specs import RagPipelineSpec
from faro_workloads.contract.settings_env import settings_environment

API_KEYS_VOLUME = "api-keys"
API_KEYS_DIR = "/etc/faro/access"
API_KEYS_FILE = "keys.json"
SERVING = (Component.CHUNKER, Component.QUERY)


def api_keys_mount(
    spec: RagPipelineSpec, component: Component
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, str]]] | None:
    """The (volume, volumeMount, env) that give ``component`` the pipeline's keys file; None when the spec
    names no keys Secret or the component serves no data API."""
    ref = spec.access.api_keys_secret_ref
    if ref is None or component not in SERVING:
        return None
    volume = {
        "name": API_KEYS_VOLUME,
        "secret": {
            "secretName": ref.name,
            "items": [{"key": ref.key, "path": API_KEYS_FILE}],
            "defaultMode": 0o440,
        },
    }
    mount = {"name": API_KEYS_VOLUME, "mountPath": API_KEYS_DIR, "readOnly": True}
    env = settings_environment({"auth": {"keys_file": f"{API_KEYS_DIR}/{API_KEYS_FILE}"}})
    return volume, mount, [{"name": name, "value": value} for name, value in env.items()]
