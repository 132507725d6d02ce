"""The JobOutputStore port on a Blob container (``job-outputs``).

A reference is ``{container}/{name}``: what job outputs have always shown (``"blob":
"job-outputs/exports/..."``), and what ``get`` takes back. Names are built by the job
system from the owner and job ids (``exports/``, ``reports/``, ``results/``), never from
user input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.domain.errors import NotFound

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

CONTAINER = "job-outputs"


class BlobJobOutputs:
    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    @property
    def prefix(self) -> str:
        return f"{self._container.container_name}/"

    def put(self, name: str, data: bytes, content_type: str) -> str:
        from azure.storage.blob import ContentSettings

        self._container.upload_blob(
            name, data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
        )
        return self.prefix + name

    def get(self, reference: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        if not reference.startswith(self.prefix):
            raise NotFound("No such output")
        try:
            return self._container.download_blob(reference[len(self.prefix) :]).readall()
        except ResourceNotFoundError as exc:
            raise NotFound("No such output") from exc
