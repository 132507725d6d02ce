"""Every raw weather provider response, archived in Blob Storage.

Blob names are date-partitioned, ``{provider}/{yyyy}/{mm}/{dd}/{HHMMSSffffff}-{id}.json``,
so a day's responses list with one prefix; metadata names the provider, the cities, the
HTTP status and the request URL (secrets already removed by the provider adapter).
Archiving never fails a user's request: errors are logged and dropped.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import quote

from shared.logging import get_logger

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from shared.domain.weather import RawResponse

log = get_logger("app.archive")
CONTAINER = "weather-raw"


class RawResponseArchive:
    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    def name_for(self, raw: RawResponse) -> str:
        stamp = raw.requested_at
        return f"{raw.provider}/{stamp:%Y/%m/%d}/{stamp:%H%M%S%f}-{uuid.uuid4().hex[:12]}.json"

    def put(self, raw: RawResponse) -> str | None:
        from azure.core.exceptions import AzureError
        from azure.storage.blob import ContentSettings

        name = self.name_for(raw)
        metadata = {
            "provider": raw.provider,
            "status": str(raw.status),
            "url": quote(raw.url, safe=":/?&=,.-_~%")[:2000],
            "city_ids": quote(",".join(raw.city_ids), safe=",:.-_")[:2000],
            "requested_at": raw.requested_at.isoformat(),
        }
        try:
            self._container.upload_blob(
                name,
                raw.body,
                overwrite=True,
                metadata=metadata,
                content_settings=ContentSettings(
                    content_type=raw.content_type or "application/json"
                ),
            )
        except AzureError as exc:
            log.warning("raw response not archived: %s", type(exc).__name__,
                        extra={"provider": raw.provider})  # fmt: skip
            return None
        return name
