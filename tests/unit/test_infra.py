"""Static checks of the deployment files (no Azure here: the templates are not compiled)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BICEP = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "infra").rglob("*.bicep")))

# Settings of local.settings.example.json that Azure does not take as app settings, and why.
LOCAL_ONLY = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption sets the runtime in functionAppConfig",
    "AzureWebJobsFeatureFlags": "worker indexing is the default on Functions 4",
    "AzureWebJobsStorage": "identity-based AzureWebJobsStorage__* settings instead",
    "EMAIL_OUTBOX_DIR": "the outbox mailer is for local development",
    "OPENWEATHER_API_KEY": "Key Vault reference (checked below)",
    "SMTP_PASSWORD": "Key Vault reference (checked below)",
    "AUTH_SIGNING_KEY": "Key Vault reference (checked below)",
    "ACS_CONNECTION_STRING": "managed identity with ACS_ENDPOINT instead of a key",
    "TEXT_ANALYTICS_KEY": "managed identity (the Language resource has local auth off)",
    "WEBPUBSUB_CONNECTION_STRING": "Web PubSub is not deployed yet",
    "WEBPUBSUB_ENDPOINT": "Web PubSub is not deployed yet",
}

ROLES = {
    "storageBlobDataOwner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storageQueueDataContributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "storageTableDataContributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "keyVaultSecretsUser": "4633458b-17de-408a-b874-0445c86b69e6",
    "monitoringMetricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "cognitiveServicesUser": "a97b65f3-24c7-4388-baec-2e87135dc908",
}


def app_settings() -> set[str]:
    return set(re.findall(r"\{ name: '([^']+)', value:", BICEP))


def test_every_setting_the_app_reads_is_deployed() -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    missing = set(example["Values"]) - app_settings() - set(LOCAL_ONLY)
    assert not missing, f"not set in infra/*.bicep: {sorted(missing)}"


def test_secrets_are_key_vault_references_and_storage_uses_the_identity() -> None:
    settings = app_settings()
    for name in ("AUTH_SIGNING_KEY", "OPENWEATHER_API_KEY", "SMTP_PASSWORD"):
        assert name in settings
        line = next(line for line in BICEP.splitlines() if f"name: '{name}'" in line)
        assert "secretRef" in line, name
    assert {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential",
            "AzureWebJobsStorage__clientId"} <= settings  # fmt: skip
    assert "allowSharedKeyAccess: false" in BICEP
    assert "AzureWebJobsStorage'" not in BICEP  # no connection string setting


def test_role_definitions_are_the_built_in_ones() -> None:
    for name, guid in ROLES.items():
        assert re.search(rf"{name}: '{guid}'", BICEP), name


def test_no_secret_is_written_into_the_deployment_files() -> None:
    texts = [BICEP, (ROOT / "infra" / "main.parameters.json").read_text(encoding="utf-8"),
             (ROOT / "azure.yaml").read_text(encoding="utf-8")]  # fmt: skip
    for text in texts:
        assert "AccountKey=" not in text
        for run in re.findall(r"[A-Za-z0-9+/=]{40,}", text):  # a key-like run of base64
            assert "/" in run.strip("/") and not re.search(r"\d", run), run
    parameters = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    assert all(str(p["value"]).startswith("${") for p in parameters.values())


def test_azd_service_and_container_image() -> None:
    azure_yaml = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert re.search(r"services:\n  api:\n(    .+\n)*    host: function", azure_yaml)
    assert "'azd-service-name': 'api'" in BICEP
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM mcr.microsoft.com/azure-functions/python:4-python3.11" in dockerfile
    copied = " ".join(line for line in dockerfile.splitlines() if line.startswith("COPY"))
    for excluded in ("tests", "devtools", "bench", "infra", "local.settings"):
        assert excluded not in copied
