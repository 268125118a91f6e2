"""COR's addresses and requests: the default URLs, and which request each change becomes.

Part of the COR edge, free of HTTP (plain values): the exact request sequence of a plan is
testable here without a server. The one home of the default URLs (the CLI's defaults too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from reconciler.core.resources import ResourceKey

INTEGRATIONS_PREFIX = "/v2/integrations"
DEFAULT_API_URL = "https://integrations.projectcor.com"  # the Integrations API: writes
DEFAULT_AUTH_URL = "https://api.projectcor.com/v1"  # where keys are exchanged for tokens
DEFAULT_READ_API_URL = "https://api.projectcor.com/v1"  # the main API: reads by COR id


@dataclass(frozen=True)
class ApiCall:
    """One request to the Integrations API; `path` is relative to the API base URL.

    `subject` names the record it is for (`product SAP/P-1`, `str(ResourceKey)`), for the
    client's retry lines; it is not part of the request, and not compared."""

    method: str  # POST, PUT or DELETE
    path: str
    body: Mapping[str, Any] = field(default_factory=dict)
    subject: str = field(default="", compare=False)


def collection_path(key: ResourceKey) -> str:
    return f"{INTEGRATIONS_PREFIX}/{key.kind.plural}"


def entity_path(key: ResourceKey) -> str:
    return f"{collection_path(key)}/{quote(key.id, safe='')}"


def create_call(key: ResourceKey, attributes: Mapping[str, str]) -> ApiCall:
    """POST with every declared field; references are external ids of the same source."""
    body: dict[str, Any] = {"metadata": {"source": key.source}, "id": key.id}
    body.update(attributes)
    return ApiCall("POST", collection_path(key), body, str(key))


def update_call(key: ResourceKey, changed: Mapping[str, str | None]) -> ApiCall:
    """PUT with only the changed fields (updates are partial); None clears a field."""
    body: dict[str, Any] = {"metadata": {"source": key.source}}
    body.update(changed)
    return ApiCall("PUT", entity_path(key), body, str(key))


def delete_call(key: ResourceKey) -> ApiCall:
    """DELETE carries the source in its body, like every request."""
    return ApiCall("DELETE", entity_path(key), {"metadata": {"source": key.source}}, str(key))
