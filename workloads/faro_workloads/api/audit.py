"""The audit trail: one JSON line per write, delete and refused request, on the ``faro.audit`` logger.

Each line says what happened (``event``), who asked (``identity``: the key's name or the service account's
user name; ``anonymous`` on an open API; ``tenant`` when the caller is held to one), on which pipeline and
document, and the result, e.g.::

    {"event": "document.write", "identity": "ci-bot", "pipeline": "docs", "doc_id": "guide",
     "result": "accepted"}

Route the logger where your log pipeline keeps audit records (it logs at INFO, to the service's log by
default).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request

AUDIT_LOGGER = "faro.audit"
ANONYMOUS = "anonymous"

_log = logging.getLogger(AUDIT_LOGGER)


def audit(event: str, **fields: Any) -> None:
    """Log one audit line (fields that are None are left out)."""
    record = {"event": event, **{name: value for name, value in fields.items() if value is not None}}
    _log.info(json.dumps(record, sort_keys=False, default=str))


def identity_name(request: Request) -> str:
    """The name of the key ``request`` came with (set by the key check), or ``anonymous``."""
    identity = getattr(request.state, "identity", None)
    return identity.name if identity is not None else ANONYMOUS
