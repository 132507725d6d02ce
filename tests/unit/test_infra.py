"""Static checks of the deployment files: infra/*.bicep, main.parameters.json, azure.yaml,
Dockerfile and .dockerignore.

No Azure and no Bicep compiler are needed (none exist where the tests run): these checks
read the files as text. They catch what a review misses: a setting the app reads but Azure
never gets, a secret written into a template, a mistyped role id, a module parameter that
does not exist, an image that ships the tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


def strip_comments(text: str) -> str:
    return re.sub(r"(?m)^\s*//.*$|\s+//\s.*$", "", text)


# The templates without comments: a comment saying "allowSharedKeyAccess: false" proves nothing.
BICEP = strip_comments("\n".join(p.read_text(encoding="utf-8") for p in BICEP_FILES))
MAIN = INFRA / "main.bicep"
PARAMETERS = INFRA / "main.parameters.json"
AZURE_YAML = ROOT / "azure.yaml"
DOCKERFILE = ROOT / "Dockerfile"

# Settings of local.settings.example.json that are not app settings in Azure, and why.
NOT_APP_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption takes the runtime from functionAppConfig",
    "AzureWebJobsFeatureFlags": "worker indexing is on by default for the Python v2 model",
    "AzureWebJobsStorage": "replaced by the identity-based AzureWebJobsStorage__* settings",
    "EMAIL_OUTBOX_DIR": "the file outbox is local-only (the deployed package is read-only)",
    "ACS_CONNECTION_STRING": "ACS is reached with the managed identity and ACS_ENDPOINT",
    "TEXT_ANALYTICS_KEY": "Azure AI Language has local auth disabled: managed identity",
    "WEBPUBSUB_CONNECTION_STRING": "Web PubSub is not part of the deployment yet",
    "WEBPUBSUB_ENDPOINT": "Web PubSub is not part of the deployment yet",
}

# Secrets: app settings whose value must be a Key Vault reference, never a value.
KEY_VAULT_SETTINGS = ("AUTH_SIGNING_KEY", "OPENWEATHER_API_KEY", "SMTP_PASSWORD")

# Settings Flex Consumption retired or never supports; setting them breaks the app.
FLEX_FORBIDDEN_SETTINGS = (
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "AzureWebJobsStorage",  # the connection-string form: a key
)

# Built-in role definitions (the same id in every tenant), as Microsoft documents them.
BUILT_IN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "a97b65f3-24c7-4388-baec-2e87135dc908": "Cognitive Services User",
    "09976791-48a7-449e-bb21-39d1a415f350": "Communication and Email Service Owner",
}
REQUIRED_ROLES = set(BUILT_IN_ROLES.values())

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# An app setting in Bicep is an object key in UPPER_CASE or AzureWebJobsStorage__*.
SETTING_KEY = re.compile(
    r"(?:^|[{,])\s*(AzureWebJobsStorage__\w+|[A-Z][A-Z0-9_]*[A-Z0-9]):\s", re.M
)


def app_setting_names() -> set[str]:
    return set(SETTING_KEY.findall(BICEP))


def setting_values(name: str) -> list[str]:
    """Every value expression written for app setting ``name`` in the templates."""
    values = []
    for value in re.findall(rf"(?:^|[{{,])\s*{re.escape(name)}:\s*(.+)$", BICEP, re.M):
        while value.count("}") > value.count("{"):  # the end of a one-line object
            value = value[: value.rindex("}")].rstrip()
        values.append(value)
    return values


# -- a small Bicep reader: declarations, decorators, module calls ---------------------------


def declarations(path: Path) -> dict[str, dict[str, object]]:
    """``param`` declarations of a Bicep file: name -> {decorators, type, has_default}."""
    found: dict[str, dict[str, object]] = {}
    decorators: list[str] = []
    pending = ""
    for raw in strip_comments(path.read_text(encoding="utf-8")).splitlines():
        line = raw.strip()
        if pending or line.startswith("@"):
            pending += line
            code = re.sub(r"'(?:\\.|[^'\\])*'", "''", pending)  # parentheses outside strings
            if code.count("(") == code.count(")"):
                decorators.append(pending)
                pending = ""
            continue
        match = re.match(r"param (\w+) (\w+)( =)?", line)
        if match:
            found[match.group(1)] = {
                "decorators": decorators,
                "type": match.group(2),
                "has_default": bool(match.group(3)),
            }
        if line:
            decorators = []
    return found


def outputs(path: Path) -> set[str]:
    return set(re.findall(r"(?m)^output (\w+) ", path.read_text(encoding="utf-8")))


def module_calls(path: Path) -> list[tuple[str, Path, set[str]]]:
    """(symbol, module file, parameter names passed) for each ``module`` of a Bicep file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    calls = []
    for index, line in enumerate(lines):
        match = re.match(r"module (\w+) '([^']+)' = ", line)
        if not match:
            continue
        passed: set[str] = set()
        for inner_index in range(index + 1, len(lines)):
            inner = lines[inner_index]
            if inner == "}":
                break
            if inner == "  params: {":
                for param_line in lines[inner_index + 1 :]:
                    if param_line == "  }":
                        break
                    key = re.match(r" {4}(\w+):", param_line)
                    if key:
                        passed.add(key.group(1))
        calls.append((match.group(1), (path.parent / match.group(2)).resolve(), passed))
    return calls


# -- settings ---------------------------------------------------------------------------


def test_every_setting_the_app_reads_is_deployed() -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    wanted = set(example["Values"]) - set(NOT_APP_SETTINGS)
    missing = wanted - app_setting_names()
    assert not missing, f"settings of local.settings.example.json missing in infra: {missing}"


def test_the_allow_list_names_only_real_settings() -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    stale = set(NOT_APP_SETTINGS) - set(example["Values"])
    assert not stale, f"allow-list entries the app no longer reads: {stale}"


def test_binding_expressions_resolve_to_app_settings() -> None:
    """`%NAME%` in a trigger (timer schedules) fails the host at start if NAME is unset."""
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "functions").glob("*.py"))
    referenced = set(re.findall(r"%(\w+)%", sources))
    assert "JOBS_SWEEP_SCHEDULE" in referenced
    assert referenced <= app_setting_names()


def test_triggers_connect_to_storage_by_identity() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "functions").glob("*.py"))
    connections = set(re.findall(r'connection="(\w+)"', sources)) or {"AzureWebJobsStorage"}
    names = app_setting_names()
    for connection in connections:
        for suffix in ("accountName", "credential", "clientId"):
            assert f"{connection}__{suffix}" in names
        for service in ("blob", "queue", "table"):
            assert f"{connection}__{service}ServiceUri" in names
    assert setting_values("AzureWebJobsStorage__credential") == ["'managedidentity'"]


@pytest.mark.parametrize("name", KEY_VAULT_SETTINGS)
def test_secrets_are_key_vault_references(name: str) -> None:
    values = setting_values(name)
    assert values, f"{name} is not set in infra"
    for value in values:
        assert value.startswith("'@Microsoft.KeyVault(SecretUri=${"), value


@pytest.mark.parametrize("name", FLEX_FORBIDDEN_SETTINGS)
def test_no_setting_that_flex_consumption_rejects(name: str) -> None:
    assert not re.search(rf"(?:^|[{{,])\s*{name}:\s", BICEP, re.M), name


def test_telemetry_uses_the_identity() -> None:
    [value] = setting_values("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")
    assert "ClientId=${identityClientId}" in value
    assert "Authorization=AAD" in value
    assert "DisableLocalAuth: true" in BICEP


# -- security invariants of the resources -----------------------------------------------


@pytest.mark.parametrize(
    "fragment",
    [
        "allowSharedKeyAccess: false",
        "allowBlobPublicAccess: false",
        "minimumTlsVersion: 'TLS1_2'",
        "supportsHttpsTrafficOnly: true",
        "enableRbacAuthorization: true",
        "enableSoftDelete: true",
        "enablePurgeProtection: enablePurgeProtection ? true : null",
        "disableLocalAuth: true",
        "httpsOnly: true",
        "ftpsState: 'Disabled'",
        "keyVaultReferenceIdentity: identityResourceId",
        "type: 'UserAssignedIdentity'",
        "tier: 'FlexConsumption'",
        "name: 'FC1'",
        "kind: 'functionapp,linux'",
        "name: 'python'",
        "param pythonVersion string = '3.11'",
        "param instanceMemoryMB int = 2048",
        "maximumInstanceCount: maximumInstanceCount",
        "'azd-service-name': serviceName",
        "serviceName: 'api'",
        "'azd-env-name': environmentName",
        "targetScope = 'subscription'",
        "resourceGroup: 'rg-${environmentName}'",
        "uniqueString(subscription().id, environmentName, location)",
    ],
)
def test_template_keeps_its_invariants(fragment: str) -> None:
    assert fragment in BICEP


def test_role_ids_are_the_built_in_ones() -> None:
    used: set[str] = set()
    for line in BICEP.splitlines():
        for guid in GUID.findall(line):
            role = BUILT_IN_ROLES.get(guid.lower())
            assert role, f"unknown role definition id {guid}: {line.strip()}"
            # The symbol next to the id names the same role (catches swapped ids).
            assert role.replace(" ", "").lower() in line.replace(" ", "").lower(), line
            used.add(role)
    assert used == REQUIRED_ROLES


def resource_blocks(resource_type: str) -> list[str]:
    """The text of each top-level ``resource`` of that type, up to the next declaration."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in BICEP.splitlines():
        if re.match(r"[a-z@/]", line):  # a declaration, decorator or comment at column 0
            if current is not None:
                blocks.append("\n".join(current))
            starts = line.startswith("resource ") and f" '{resource_type}@" in line
            current = [line] if starts else None
        elif current is not None:
            current.append(line)
    if current is not None:
        blocks.append("\n".join(current))
    return blocks


def test_role_assignments_are_deterministic_and_name_their_principal_type() -> None:
    blocks = resource_blocks("Microsoft.Authorization/roleAssignments")
    # storage (app, a loop of 3), storage (user, a loop of 3), insights, vault, language, ACS
    assert len(blocks) == 6
    for block in blocks:
        assert re.search(r"name: guid\(\w+\.id, \w+PrincipalId, ", block), block
        assert re.search(r"principalType: ('ServicePrincipal'|userPrincipalType)\n", block), block
        assert "subscriptionResourceId('Microsoft.Authorization/roleDefinitions'" in block


# -- Bicep structure (what the compiler would reject) -----------------------------------


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.name)
def test_every_parameter_is_described(path: Path) -> None:
    params = declarations(path)
    assert params
    for name, spec in params.items():
        decorators = " ".join(spec["decorators"])  # type: ignore[arg-type]
        assert "@description(" in decorators, f"{path.name}: {name}"
        if re.search(r"(?i)password|secret|(api|signing)key", name) and spec["type"] == "string":
            assert "@secure()" in decorators, f"{path.name}: {name} must be @secure()"


def test_module_calls_match_the_modules() -> None:
    calls = module_calls(MAIN)
    assert {call[1].name for call in calls} == {p.name for p in (INFRA / "modules").glob("*.bicep")}
    main_text = MAIN.read_text(encoding="utf-8")
    for symbol, module, passed in calls:
        declared = declarations(module)
        assert passed, symbol
        assert passed <= set(declared), f"{symbol}: unknown {passed - set(declared)}"
        required = {name for name, spec in declared.items() if not spec["has_default"]}
        assert required <= passed, f"{symbol}: missing {required - passed}"
        for output in re.findall(rf"\b{symbol}\.outputs\.(\w+)", main_text):
            assert output in outputs(module), f"{symbol}.outputs.{output}"


def test_azd_outputs() -> None:
    assert {
        "AZURE_FUNCTION_APP_NAME",
        "AZURE_FUNCTION_URI",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "AZURE_KEY_VAULT_NAME",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "AZURE_RESOURCE_GROUP",
    } <= outputs(MAIN)


# -- parameters file --------------------------------------------------------------------


def test_parameters_file_feeds_declared_parameters_from_the_azd_environment() -> None:
    parameters = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    declared = declarations(MAIN)
    assert set(parameters) <= set(declared), set(parameters) - set(declared)
    required = {name for name, spec in declared.items() if not spec["has_default"]}
    assert required <= set(parameters)
    for name, entry in parameters.items():
        value = entry["value"]
        assert isinstance(value, str) and re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", value), name
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert parameters["principalId"]["value"].startswith("${AZURE_PRINCIPAL_ID")


def test_secure_parameters_come_from_the_environment_with_no_default() -> None:
    parameters = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    for name, spec in declarations(MAIN).items():
        if "@secure()" in " ".join(spec["decorators"]) and name in parameters:  # type: ignore[arg-type]
            assert re.fullmatch(r"\$\{[A-Z_]+=?\}", parameters[name]["value"]), name


# -- no secret in any deployment file ---------------------------------------------------


SECRET_FILES = [*BICEP_FILES, PARAMETERS, AZURE_YAML, DOCKERFILE, ROOT / ".dockerignore"]


@pytest.mark.parametrize("path", SECRET_FILES, ids=lambda p: p.name)
def test_no_secret_is_written_into_the_deployment_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for marker in ("AccountKey=", "SharedAccessSignature=", "sig=", "-----BEGIN"):
        assert marker not in text, f"{path.name}: {marker}"
    for run in re.findall(r"[A-Za-z0-9+/]{40,}={0,2}", text):
        # A key-like run mixes cases and digits; paths and words do not.
        looks_random = (
            re.search(r"[a-z]", run) and re.search(r"[A-Z]", run) and re.search(r"\d", run)
        )
        assert not looks_random, f"{path.name}: {run[:12]}..."
    literal = re.compile(
        r"""(?i)(password|passwd|secret|api_?key|signing_?key|access_?key)['"]?\s*[:=]\s*['"]([^'"]+)['"]"""
    )
    for _, value in literal.findall(text):
        placeholder = value.startswith("<") and value.endswith(">")
        reference = value.startswith(("${", "@Microsoft.KeyVault("))
        assert placeholder or reference, f"{path.name}: {value[:8]}..."


def test_the_signing_key_fallback_is_random_and_long_enough() -> None:
    declared = declarations(MAIN)
    assert "@secure()" in declared["authSigningKeyFallback"]["decorators"]
    main_text = MAIN.read_text(encoding="utf-8")
    assert "param authSigningKeyFallback string = '${newGuid()}${newGuid()}'" in main_text
    assert "authSigningKey: empty(authSigningKey) ? authSigningKeyFallback : authSigningKey" in (
        main_text
    )
    keyvault = (INFRA / "modules" / "keyvault.bicep").read_text(encoding="utf-8")
    assert re.search(r"@minLength\(32\)\nparam authSigningKey string\n", keyvault)


# -- azure.yaml -------------------------------------------------------------------------


def test_azure_yaml_names_the_api_service_on_functions() -> None:
    text = AZURE_YAML.read_text(encoding="utf-8")
    block = re.search(r"(?m)^services:\n((?:  .*\n)+)", text)
    assert block, "no services block"
    service = re.search(r"(?m)^  api:\n((?:    .*\n)+)", block.group(1))
    assert service, "no service named api"
    fields = dict(re.findall(r"(?m)^    (\w+): (.+)$", service.group(1)))
    assert fields == {"project": ".", "language": "python", "host": "function"}
    assert re.search(r"(?m)^name: [a-z0-9-]+$", text)
    assert re.search(r"(?m)^metadata:\n  template: \S+$", text)
    assert "\t" not in text


def test_azure_yaml_parses_as_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load(AZURE_YAML.read_text(encoding="utf-8"))
    assert document["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    assert document["infra"]["path"] == "infra"
    hooks = document["hooks"]["preprovision"]
    assert set(hooks) == {"posix", "windows"}
    assert all("AUTH_SIGNING_KEY" in hook["run"] for hook in hooks.values())


# -- container image --------------------------------------------------------------------


def test_dockerfile_uses_the_python_311_functions_image() -> None:
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == ["FROM mcr.microsoft.com/azure-functions/python:4-python3.11"]


def test_dockerfile_ships_only_what_funcignore_deploys() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    copies = [line.split()[1:-1] for line in text.splitlines() if line.startswith(("COPY", "ADD"))]
    sources = {source.rstrip("/") for sources in copies for source in sources}
    assert sources == {
        "requirements.txt",
        "host.json",
        "function_app.py",
        "functions",
        "shared",
        "web",
        "data",
    }
    assert "AzureWebJobsScriptRoot=/home/site/wwwroot" in text
    assert "AzureFunctionsJobHost__Logging__Console__IsEnabled=true" in text
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs
    assert all("--no-cache-dir" in line and "requirements.txt" in line for line in installs)
    assert "requirements-dev" not in " ".join(installs)
    for name in ("AUTH_SIGNING_KEY", "PASSWORD", "AzureWebJobsStorage="):
        assert not re.search(rf"(?m)^(ENV|ARG) .*{name}", text), name


def test_dockerignore_mirrors_funcignore() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    deployed_never = {
        line.strip()
        for line in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert deployed_never <= ignored, deployed_never - ignored
