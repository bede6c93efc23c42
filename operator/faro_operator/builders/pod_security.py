"""The hardened pod and container settings shared by every Faro workload (image user 10001:10001)."""

from __future__ import annotations

from typing import Any

from faro_operator.specs import ImageSpec, Resources

UID = 10001
GID = 10001
TMP_VOLUME = "tmp"


def pod_security_context() -> dict[str, Any]:
    """Non-root as the image's user, files group-owned by it, the runtime's default seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": GID,
        "fsGroup": GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Read-only root filesystem, no privilege escalation, no Linux capabilities."""
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": GID,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def tmp_volume() -> dict[str, Any]:
    """The writable ``/tmp`` (an emptyDir) that the read-only root filesystem leaves the process."""
    return {"name": TMP_VOLUME, "emptyDir": {}}


def tmp_volume_mount() -> dict[str, Any]:
    """Mounts :func:`tmp_volume` at ``/tmp``."""
    return {"name": TMP_VOLUME, "mountPath": "/tmp"}


def container_resources(resources: Resources) -> dict[str, Any]:
    """``resources`` of a container: the requests and limits that are set."""
    rendered: dict[str, Any] = {}
    for section, values in (("requests", resources.requests), ("limits", resources.limits)):
        quantities = {
            name: value for name, value in (("cpu", values.cpu), ("memory", values.memory)) if value
        }
        if quantities:
            rendered[section] = quantities
    return rendered


def image_fields(image: ImageSpec) -> dict[str, str]:
    """``image`` and ``imagePullPolicy`` of a container."""
    return {"image": image.reference, "imagePullPolicy": image.pull_policy}
