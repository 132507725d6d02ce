"""Static checks of the deployment files: infra/*.bicep, main.parameters.json, azure.yaml,
Dockerfile, .dockerignore, docker-compose.yml, .github/workflows and env/environment.yml.

No Azure, no Bicep compiler and no Docker engine are needed (none exist where the tests
run): every Bicep file is parsed with the tree-sitter Bicep grammar, the rest is read as
text or YAML; the GitHub CI workflow compiles the templates for real (`az bicep build`).
They catch what a review misses: a setting the app reads but Azure never gets, a secret
written into a template, a mistyped role id, a module parameter that does not exist, an
image that ships the tests, a workflow holding a credential.
"""

from __future__ import annotations

import json
import re
import subprocess
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
    "WEBPUBSUB_CONNECTION_STRING": "Web PubSub is reached with the identity and WEBPUBSUB_ENDPOINT"
    " (local auth disabled); the connection string is for the local emulator",
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
    "12cf5a90-567b-43ae-8102-96cf46c7d9b4": "Web PubSub Service Owner",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
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
    # storage (app, a loop of 3), storage (user, a loop of 3), insights, vault (app), vault
    # (user), language, ACS created here, an existing ACS, Web PubSub
    assert len(blocks) == 9
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
    service = dict(document["services"]["api"])
    # The one service hook builds the city index before packaging (tests/unit/test_packaging.py).
    assert set(service.pop("hooks")) == {"prepackage"}
    assert service == {"project": ".", "language": "python", "host": "function"}
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


# -- every Bicep file parses with a full Bicep grammar ----------------------------------


def bicep_syntax_errors(source: bytes) -> list[str]:
    """Syntax errors of a Bicep source by tree-sitter-bicep, as 'line:column: text'."""
    try:
        import tree_sitter
        import tree_sitter_bicep
    except ImportError:  # an old venv
        pytest.fail("tree-sitter-bicep is missing: `make install` (requirements-dev.txt)")

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    errors: list[str] = []
    stack = [parser.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            text = (node.text or b"").decode("utf-8", "replace")[:60]
            errors.append(f"{node.start_point.row + 1}:{node.start_point.column + 1}: {text!r}")
        stack.extend(node.children)
    return errors


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.name)
def test_every_bicep_file_parses(path: Path) -> None:
    assert not bicep_syntax_errors(path.read_bytes()), path.name


def test_the_bicep_parser_reports_broken_files() -> None:
    """The check above can fail: a missing brace or a dangling `=` is reported."""
    assert bicep_syntax_errors(b"resource x 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'a'\n")
    assert bicep_syntax_errors(b"param a string =\n")
    assert not bicep_syntax_errors(b"param a string = 'x'\noutput b string = a\n")


# -- new resources: Web PubSub, ACS e-mail, alerts --------------------------------------


MODULES = INFRA / "modules"


def module_text(name: str) -> str:
    return strip_comments((MODULES / name).read_text(encoding="utf-8"))


def test_web_pubsub_is_keyless_with_the_hub_and_the_owner_role() -> None:
    text = module_text("webpubsub.bicep")
    assert "'Microsoft.SignalRService/webPubSub@" in text
    assert "disableLocalAuth: true" in text
    assert "'Microsoft.SignalRService/webPubSub/hubs@" in text
    assert "name: hubName" in text
    assert "anonymousConnectPolicy: 'deny'" in text
    assert "webPubSubServiceOwnerRoleId = '12cf5a90-567b-43ae-8102-96cf46c7d9b4'" in text
    assert "scope: webPubSub" in text
    assert "output endpoint string = 'https://${webPubSub.properties.hostName}'" in text
    main = MAIN.read_text(encoding="utf-8")
    assert "param webPubSubHub string = 'weather'" in main
    assert setting_values("WEBPUBSUB_ENDPOINT") == ["webPubSub.outputs.endpoint"]
    assert setting_values("WEBPUBSUB_HUB") == ["webPubSub.outputs.hubName"]
    parameters = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    assert parameters["webPubSubHub"]["value"] == "${WEBPUBSUB_HUB=weather}"


def test_acs_email_with_an_azure_managed_domain_linked_and_the_sender_role() -> None:
    text = module_text("communication.bicep")
    assert "'Microsoft.Communication/emailServices@" in text
    assert "'Microsoft.Communication/emailServices/domains@" in text
    assert "name: 'AzureManagedDomain'" in text
    assert "domainManagement: 'AzureManaged'" in text
    assert re.search(r"linkedDomains: \[\s+managedDomain\.id\s+\]", text)
    assert "'DoNotReply@${managedDomain.properties.mailFromSenderDomain}'" in text
    assert "communicationAndEmailServiceOwnerRoleId = '09976791-48a7-449e-bb21-" in text
    assert "scope: communicationService" in text
    main = strip_comments(MAIN.read_text(encoding="utf-8"))
    assert "param emailProvider string = 'acs'" in main
    assert "var createsAcs = emailProvider == 'acs' && empty(acsResourceId)" in main
    assert "module communication 'modules/communication.bicep' = if (createsAcs)" in main
    assert setting_values("EMAIL_SENDER") == ["emailSenderChecked"]
    assert setting_values("ACS_ENDPOINT") == ["acsEndpointChecked"]
    assert "createsAcs ? communication.outputs.sender" in main
    assert "createsAcs ? communication.outputs.endpoint" in main
    parameters = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    assert parameters["emailProvider"]["value"] == "${EMAIL_PROVIDER=acs}"


def test_smtp_without_a_host_is_refused_by_the_deployment() -> None:
    main = strip_comments(MAIN.read_text(encoding="utf-8"))
    assert re.search(
        r"@allowed\(\[\s+'acs'\s+'smtp'\s+\]\)\n@description\([^\n]+\)\n"
        r"param emailProvider string",
        main,
    )
    [guard] = re.findall(r"(?m)^var smtpHostChecked = (.+)$", main)
    assert guard.startswith("emailProvider != 'smtp' || !empty(smtpHost) ? smtpHost : fail(")
    assert "SMTP_HOST" in guard
    assert setting_values("SMTP_HOST") == ["smtpHostChecked"]


def run_preprovision_hook(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    yaml = pytest.importorskip("yaml")
    hook = yaml.safe_load(AZURE_YAML.read_text(encoding="utf-8"))["hooks"]["preprovision"]
    # A stub azd records what the hook would store instead of touching an azd environment.
    stub = tmp_path / "azd"
    stub.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/azd.calls"\n', encoding="utf-8")
    stub.chmod(0o755)
    environment = {"PATH": f"{tmp_path}:/usr/bin:/bin", **env}
    return subprocess.run(
        [hook["posix"]["shell"], "-c", hook["posix"]["run"]],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_preprovision_hook_refuses_smtp_without_a_host(tmp_path: Path) -> None:
    refused = run_preprovision_hook(tmp_path, EMAIL_PROVIDER="smtp", AUTH_SIGNING_KEY="x" * 48)
    assert refused.returncode != 0
    assert "SMTP_HOST" in refused.stderr
    assert not (tmp_path / "azd.calls").exists()


def test_the_preprovision_hook_passes_smtp_with_a_host_and_acs(tmp_path: Path) -> None:
    key = {"AUTH_SIGNING_KEY": "x" * 48}
    assert run_preprovision_hook(tmp_path, EMAIL_PROVIDER="smtp", SMTP_HOST="relay", **key)
    for env in ({"EMAIL_PROVIDER": "smtp", "SMTP_HOST": "relay"}, {"EMAIL_PROVIDER": "acs"}, {}):
        assert run_preprovision_hook(tmp_path, **env, **key).returncode == 0, env
    assert not (tmp_path / "azd.calls").exists()  # a key exists: nothing generated
    generated = run_preprovision_hook(tmp_path)
    assert generated.returncode == 0, generated.stderr
    calls = (tmp_path / "azd.calls").read_text(encoding="utf-8").split()
    assert calls[:3] == ["env", "set", "AUTH_SIGNING_KEY"]
    assert len(calls[3]) >= 60  # 48 random bytes, base64


def test_alerts_on_poison_queues_and_5xx_rate() -> None:
    text = module_text("alerts.bicep")
    assert text.count("'Microsoft.Insights/scheduledQueryRules@") == 2
    assert "MaxDequeueCount" in text and "-poison" in text
    assert "countif(toint(resultCode) >= 500)" in text
    assert "'Microsoft.Insights/actionGroups@" in text
    main = strip_comments(MAIN.read_text(encoding="utf-8"))
    assert "module alerts 'modules/alerts.bicep' = if (enableAlerts)" in main


def test_cors_origins_and_the_flex_instance_bounds() -> None:
    function_app = module_text("function-app.bicep")
    assert "allowedOrigins: allowedOrigins" in function_app
    assert "param allowedOrigins array = []" in function_app
    assert "zoneRedundant: zoneRedundant" in function_app
    main = strip_comments(MAIN.read_text(encoding="utf-8"))
    assert "allowedOrigins: allowedOrigins" in main
    # Flex Consumption accepts a maximum instance count of 40 to 1000.
    for path in (MAIN, MODULES / "function-app.bicep"):
        spec = declarations(path)["maximumInstanceCount"]
        assert "@minValue(40)" in spec["decorators"], path.name  # type: ignore[operator]
        assert "@maxValue(1000)" in spec["decorators"], path.name  # type: ignore[operator]


def test_language_documents_the_responsible_ai_terms() -> None:
    main = MAIN.read_text(encoding="utf-8")
    assert "Responsible AI" in main.split("param enableAzureLanguage bool")[0].rsplit("\n\n", 1)[1]
    assert "Responsible AI" in (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")


# -- secrets: every secret setting is a Key Vault reference -----------------------------


def settings_fields() -> dict[str, object]:
    from shared.settings import Settings

    return dict(Settings.model_fields)


def field_names(field: object) -> list[str]:
    alias = getattr(field, "alias", None)
    choices = getattr(getattr(field, "validation_alias", None), "choices", None)
    return [alias] if alias else [str(choice) for choice in choices or []]


def secret_setting_names() -> set[str]:
    from pydantic import SecretStr

    names: set[str] = set()
    for field in settings_fields().values():
        if "SecretStr" in str(field.annotation) or field.annotation is SecretStr:  # type: ignore[attr-defined]
            names.update(field_names(field))
    return names


def test_every_secret_the_app_reads_is_a_key_vault_reference_or_not_deployed() -> None:
    secrets = secret_setting_names()
    assert {"AUTH_SIGNING_KEY", "SMTP_PASSWORD", "OPENWEATHER_API_KEY"} <= secrets
    for name in secrets:
        assert name in KEY_VAULT_SETTINGS or name in NOT_APP_SETTINGS, (
            f"{name} is a secret setting: deploy it as a Key Vault reference (keyvault.bicep) "
            "or list it in NOT_APP_SETTINGS with the reason Azure does without it"
        )


def test_oauth_client_secrets_are_key_vault_references() -> None:
    text = module_text("keyvault.bicep")
    mapping = re.search(r"var oauthClientSecretReferences = toObject\((.+?)\n\)", text, re.S)
    assert mapping, "no OAUTH_<NAME>_CLIENT_SECRET references"
    key, value = re.findall(r"providerName => ('[^\n]+')", mapping.group(1))
    assert key == "'OAUTH_${toUpper(replace(providerName, '-', '_'))}_CLIENT_SECRET'"
    assert value.startswith("'@Microsoft.KeyVault(SecretUri=https://${name}")
    assert "/secrets/oauth-${toLower(replace(providerName, '_', '-'))}-client-secret/)'" in value
    assert "oauthClientSecretReferences)" in text  # part of appSettingReferences
    main = strip_comments(MAIN.read_text(encoding="utf-8"))
    assert "oauthProviderNames: map(oauthProviders, provider => provider.name)" in main
    assert setting_values("OAUTH_PROVIDERS") == [
        "empty(oauthProviders) ? '' : string(oauthProviders)"
    ]
    assert "@secure()" in declarations(MAIN)["oauthClientSecrets"]["decorators"]  # type: ignore[operator]


# -- settings parity: Settings <-> local.settings.example.json <-> Bicep ----------------

# Settings the app reads that are neither in local.settings.example.json nor needed there.
AZURE_ONLY_SETTINGS = {
    "AzureWebJobsStorage__accountName": "identity-based storage in Azure; locally the "
    "AzureWebJobsStorage connection string",
    "AzureWebJobsStorage__tableServiceUri": "identity-based storage in Azure",
    "AzureWebJobsStorage__queueServiceUri": "identity-based storage in Azure",
    "AzureWebJobsStorage__blobServiceUri": "identity-based storage in Azure",
    "AzureWebJobsStorage__clientId": "identity-based storage in Azure",
}
# Set by the platform, never by us.
PLATFORM_SETTINGS = {"WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"}
# Settings of the Functions host or the platform wiring, not read by shared/settings.py.
HOST_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "AzureWebJobsFeatureFlags",
    "AzureWebJobsStorage__credential",
    "AZURE_CLIENT_ID",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
# In API.md "Settings" and deployed now, read by code another branch adds (social sign-in,
# abuse limits). Once shared/settings.py reads them, these entries are simply unused.
CONTRACT_SETTINGS_NOT_YET_READ = {"OAUTH_PROVIDERS", "RATE_LIMITS_ENABLED"}


def settings_read_by_the_app() -> set[str]:
    names = {name for field in settings_fields().values() for name in field_names(field)}
    return names - PLATFORM_SETTINGS


def example_values() -> dict[str, str]:
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    return dict(example["Values"])


def test_every_setting_the_app_reads_is_in_local_settings_example() -> None:
    missing = sorted(settings_read_by_the_app() - set(example_values()) - set(AZURE_ONLY_SETTINGS))
    assert not missing, f"add to local.settings.example.json: {', '.join(missing)}"


def test_every_setting_the_app_reads_is_deployed_or_local_only() -> None:
    deployed = app_setting_names() | set(NOT_APP_SETTINGS)
    missing = sorted(settings_read_by_the_app() - deployed)
    assert not missing, (
        f"add to the app settings of infra/main.bicep, or to NOT_APP_SETTINGS with the reason "
        f"Azure does without it: {', '.join(missing)}"
    )


def test_local_settings_example_names_only_settings_the_app_or_host_reads() -> None:
    known = settings_read_by_the_app() | HOST_SETTINGS | CONTRACT_SETTINGS_NOT_YET_READ
    unknown = sorted(set(example_values()) - known)
    assert not unknown, f"local.settings.example.json names settings nothing reads: {unknown}"


def test_deployed_settings_are_settings_the_app_or_host_reads() -> None:
    known = settings_read_by_the_app() | HOST_SETTINGS | CONTRACT_SETTINGS_NOT_YET_READ
    unknown = sorted(app_setting_names() - known)
    assert not unknown, f"infra/main.bicep deploys settings nothing reads: {unknown}"


def test_the_settings_of_api_md_added_by_this_release_are_in_place() -> None:
    values = example_values()
    for name in (
        "WEBPUBSUB_ENDPOINT",
        "WEBPUBSUB_HUB",
        "OAUTH_PROVIDERS",
        "RATE_LIMITS_ENABLED",
        "ACS_ENDPOINT",
        "EMAIL_SENDER",
        "WEBPUBSUB_CONNECTION_STRING",
    ):
        assert name in values, name
    for name in (
        "WEBPUBSUB_ENDPOINT",
        "WEBPUBSUB_HUB",
        "OAUTH_PROVIDERS",
        "RATE_LIMITS_ENABLED",
        "ACS_ENDPOINT",
        "EMAIL_SENDER",
    ):
        assert name in app_setting_names(), name


# -- two environments -------------------------------------------------------------------

# Knob -> (dev default, prod default), as docs/deployment.md "Environments" documents them.
ENVIRONMENT_DEFAULTS = {
    "maximumInstanceCount": ("40", "100"),
    "alwaysReadyHttpInstances": ("0", "2"),
    "logRetentionInDays": ("30", "90"),
    "logDailyQuotaGb": ("1", "-1"),
    "keyVaultSoftDeleteRetentionInDays": ("7", "90"),
    "webPubSubSkuName": ("'Free_F1'", "'Standard_S1'"),
}
# Bool knobs that are true exactly in prod. (zoneRedundant is off in both: a zone-redundant
# Flex Consumption plan bills 16 always-ready instances; tests/unit/test_flex_always_ready.py.)
PROD_ONLY = ("enableAlerts", "keyVaultEnablePurgeProtection")


def parameter_default(name: str) -> str:
    main = strip_comments(MAIN.read_text(encoding="utf-8"))
    [default] = re.findall(rf"(?m)^param {name} \w+ = (.+)$", main)
    return default


@pytest.mark.parametrize("name", sorted(ENVIRONMENT_DEFAULTS))
def test_dev_and_prod_defaults_differ_as_documented(name: str) -> None:
    dev, prod = ENVIRONMENT_DEFAULTS[name]
    assert parameter_default(name) == f"environmentType == 'prod' ? {prod} : {dev}"


@pytest.mark.parametrize("name", PROD_ONLY)
def test_prod_only_features(name: str) -> None:
    assert parameter_default(name) == "environmentType == 'prod'"


def test_environment_type_and_storage_redundancy() -> None:
    spec = declarations(MAIN)["environmentType"]
    assert re.search(r"@allowed\(\[\s*'dev'\s*'prod'\s*\]\)", " ".join(spec["decorators"]))  # type: ignore[arg-type]
    assert parameter_default("environmentType") == "'dev'"
    assert parameter_default("storageSkuName") == (
        "environmentType == 'prod' || zoneRedundant ? 'Standard_ZRS' : 'Standard_LRS'"
    )
    parameters = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    assert parameters["environmentType"]["value"] == "${AZURE_ENV_TYPE=dev}"


def test_environment_knobs_fall_back_to_the_environment_default() -> None:
    """azd leaves out a parameter whose `${NAME}` is unset; a `=default` would pin dev values."""
    parameters = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    for name in [*ENVIRONMENT_DEFAULTS, *PROD_ONLY, "storageSkuName", "zoneRedundant"]:
        assert re.fullmatch(r"\$\{[A-Z_]+\}", parameters[name]["value"]), name
    # A parameter azd may leave out needs a template default (azd would prompt); azd always
    # sets AZURE_ENV_NAME and AZURE_LOCATION.
    declared = declarations(MAIN)
    always_set = {"environmentName", "location"}
    for name, entry in parameters.items():
        if re.fullmatch(r"\$\{[A-Z_]+\}", entry["value"]) and name not in always_set:
            assert declared[name]["has_default"], name


def test_ops_doc_describes_both_environments() -> None:
    ops = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert "## Environments" in ops or "### Environments" in ops
    parameters = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    for name in [*ENVIRONMENT_DEFAULTS, *PROD_ONLY]:
        variable = parameters[name]["value"][2:-1]
        assert f"`{variable}`" in ops, f"docs/deployment.md does not name {variable}"


# -- GitHub workflows -------------------------------------------------------------------

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, object]:
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on` as true
    return dict(document)


def steps_run(job: dict[str, object]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]  # type: ignore[attr-defined]


def test_ci_runs_the_tests_lint_types_and_a_real_bicep_build() -> None:
    ci = workflow("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}  # type: ignore[arg-type]
    runs = [run for job in ci["jobs"].values() for run in steps_run(job)]  # type: ignore[attr-defined]
    for command in ("bash .ci/run", "make lint", "make typecheck"):
        assert command in runs, command
    assert any("az bicep build --file infra/main.bicep" in run for run in runs)


def test_deploy_uses_oidc_and_no_stored_credentials() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}
    trigger = deploy["on"]["push"]  # type: ignore[index]
    assert trigger == {"branches": ["main"], "tags": ["v*"]}
    text = "\n".join(p.read_text(encoding="utf-8") for p in WORKFLOWS.glob("*.yml"))
    assert "secrets." not in text
    assert "client-secret" not in text and "creds:" not in text
    for job in deploy["jobs"].values():  # type: ignore[attr-defined]
        [login] = [s for s in job["steps"] if str(s.get("uses", "")).startswith("azure/login@")]
        assert login["with"] == {
            "client-id": "${{ vars.AZURE_CLIENT_ID }}",
            "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
            "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
        }
        runs = steps_run(job)
        assert "azd provision --no-prompt" in runs
        assert "azd deploy --no-prompt" in runs


def test_dev_on_main_and_prod_on_a_tag_behind_the_prod_environment() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    dev, prod = jobs["dev"], jobs["prod"]  # type: ignore[index]
    assert dev["if"] == "github.ref == 'refs/heads/main'"
    assert "environment" not in dev  # the OIDC subject stays ref:refs/heads/main
    assert dev["env"]["AZURE_ENV_TYPE"] == "dev"
    assert prod["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert prod["environment"] == "prod"  # subject environment:prod, approval gate
    assert prod["env"]["AZURE_ENV_TYPE"] == "prod"


def test_the_azd_env_script_keeps_the_signing_key_and_is_valid_bash() -> None:
    script = ROOT / ".github" / "scripts" / "azd-env.sh"
    text = script.read_text(encoding="utf-8")
    assert "az keyvault secret show" in text and "--name auth-signing-key" in text
    assert 'echo "::add-mask::$key"' in text
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_the_ops_doc_explains_the_federated_credentials() -> None:
    ops = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for fragment in (
        "az ad app create",
        "az ad app federated-credential create",
        "repo:<owner>/<repo>:ref:refs/heads/main",
        "repo:<owner>/<repo>:environment:prod",
        "az role assignment create",
    ):
        assert fragment in ops, fragment


# -- docker compose ---------------------------------------------------------------------

COMPOSE = ROOT / "docker-compose.yml"
# Settings whose compose value differs from local.settings.example.json, and why.
COMPOSE_DIFFERENT = {
    "AUTH_SIGNING_KEY": "required from the environment (the example leaves it to settings_init)",
    "WEBPUBSUB_CONNECTION_STRING": "points at the emulator service",
}


def compose() -> dict[str, object]:
    yaml = pytest.importorskip("yaml")
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


def test_compose_runs_azurite_the_emulator_and_the_app() -> None:
    services = compose()["services"]
    assert set(services) == {"azurite", "webpubsub", "app"}  # type: ignore[arg-type]
    azurite = services["azurite"]  # type: ignore[index]
    version = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["devDependencies"]
    assert azurite["image"] == f"mcr.microsoft.com/azure-storage/azurite:{version['azurite']}"
    for service in ("webpubsub", "app"):
        assert services[service]["network_mode"] == "service:azurite"  # type: ignore[index]
    assert services["app"]["build"] == "."  # type: ignore[index]
    assert "7071:80" in azurite["ports"]
    command = " ".join(services["webpubsub"]["command"])  # type: ignore[index]
    assert "python -m devtools.webpubsub --host 0.0.0.0 --port 8081 --hub weather" in command
    assert '--access-key "${WEBPUBSUB_ACCESS_KEY:-local-emulator-key}"' in command


def test_compose_sets_the_same_settings_as_local_settings_example() -> None:
    environment = compose()["services"]["app"]["environment"]  # type: ignore[index]
    example = example_values()
    assert set(environment) == set(example), set(environment) ^ set(example)
    for name, value in example.items():
        if name not in COMPOSE_DIFFERENT:
            assert str(environment[name]) == value, name
    connection = environment["WEBPUBSUB_CONNECTION_STRING"]
    assert connection.startswith("Endpoint=http://localhost;Port=8081;")
    assert "AccessKey=${WEBPUBSUB_ACCESS_KEY:-local-emulator-key};" in connection
    assert environment["AUTH_SIGNING_KEY"].startswith("${AUTH_SIGNING_KEY:?")


def test_compose_file_stays_out_of_the_package_and_the_image() -> None:
    for ignore in (".funcignore", ".dockerignore"):
        assert "docker-compose.yml" in (ROOT / ignore).read_text(encoding="utf-8").split()


# -- conda environment ------------------------------------------------------------------


def test_conda_environment_installs_exactly_the_requirements() -> None:
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load((ROOT / "env" / "environment.yml").read_text(encoding="utf-8"))
    dependencies = document["dependencies"]
    pip_sections = [d for d in dependencies if isinstance(d, dict)]
    assert pip_sections == [{"pip": ["-r ../requirements-dev.txt"]}]
    assert "python=3.11" in dependencies  # the Dockerfile's and Flex Consumption's version
    assert "FROM mcr.microsoft.com/azure-functions/python:4-python3.11" in DOCKERFILE.read_text(
        encoding="utf-8"
    )
    node = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    assert "nodejs=20" in dependencies and node["devDependencies"]
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    assert "-r requirements.txt" in dev
    pinned = [line for line in dev if line and not line.startswith(("#", "-r"))]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line) for line in pinned), pinned
