"""Issue 18 item 11: what `bicep build` would refuse, caught by `make test`.

main.bicep declared RATE_LIMITS_ENABLED twice in one object (BCP025): `azd up` and the CI's
`az bicep build` would both fail before anything deployed, and no check of ours said so. No
Bicep compiler runs here, so tests/support/bicep_rules.py checks the compiler's errors on the
tree-sitter-bicep syntax tree (its docstring lists them, with the diagnostic codes), on every
.bicep file; each rule is shown to fire on a mutated copy of the real templates below.
The same copy error sat in local.settings.example.json: every tracked JSON file is read with
an object_pairs_hook that refuses a repeated key.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.bicep_rules import check, check_file

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
MAIN = (INFRA / "main.bicep").read_text(encoding="utf-8")


def load_from_infra(relative: str) -> bytes | None:
    path = INFRA / relative
    return path.read_bytes() if path.is_file() else None


def problems_of_main(source: str) -> list[str]:
    return check(source.encode(), "main.bicep", load_from_infra)


def mutate(old: str, new: str, source: str = MAIN) -> str:
    assert source.count(old) == 1, f"the mutation's anchor must be unique: {old!r}"
    return source.replace(old, new)


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.name)
def test_item11_every_bicep_file_passes_the_compiler_rules(path: Path) -> None:
    assert check_file(path) == []


def test_item11_the_unmutated_main_template_is_clean() -> None:
    """The baseline of every mutation below: without it, a failing rule proves nothing."""
    assert problems_of_main(MAIN) == []


# One mutation per rule: (what the compiler says, the change to main.bicep, a fragment of
# the expected problem).
MUTATIONS = [
    (
        "BCP025 duplicate key, compared case-insensitively (the item's defect)",
        ("  OTP_MAX_ATTEMPTS: '5'\n", "  OTP_MAX_ATTEMPTS: '5'\n  rate_limits_enabled: 'true'\n"),
        "key 'rate_limits_enabled' declared twice in one object",
    ),
    (
        "BCP025 in a quoted key",
        (
            "  application: 'weather-jobs'\n",
            "  application: 'weather-jobs'\n  'Application': 'x'\n",
        ),
        "key 'Application' declared twice",
    ),
    (
        "BCP057 undeclared parameter",
        ("string(jobTimeoutSeconds)", "string(jobTimeoutSecond)"),
        "'jobTimeoutSecond' is not declared",
    ),
    (
        "BCP057 undeclared variable",
        ("planName: names.plan", "planName: name.plan"),
        "'name' is not declared",
    ),
    (
        "BCP057 undeclared resource",
        ("  scope: resourceGroup(acsIdParts[2]", "  scope: resourceGroup(acsIdPart[2]"),
        "'acsIdPart' is not declared",
    ),
    (
        "BCP057 undeclared module",
        (
            "storageAccountName: storage.outputs.name\n    app",
            "storageAccountName: storag.outputs.name\n    app",
        ),
        "'storag' is not declared",
    ),
    (
        "BCP053 a module output that does not exist",
        (
            "output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name",
            "output AZURE_KEY_VAULT_NAME string = keyVault.outputs.vaultName",
        ),
        "module 'keyVault' has no output 'vaultName'",
    ),
    (
        "BCP057 a lambda parameter out of scope",
        ("provider => provider.name", "provider => provide.name"),
        "'provide' is not declared",
    ),
    (
        "BCP082 a function that does not exist",
        ("toLower(uniqueString(", "toLowr(uniqueString("),
        "function 'toLowr' does not exist",
    ),
    (
        "BCP037 a module parameter the module does not declare",
        ("    name: names.identity\n", "    name: names.identity\n    displayName: 'x'\n"),
        "module 'identity' does not declare parameter 'displayName'",
    ),
    (
        "BCP035 a required module parameter missing",
        ("    applicationInsightsName: names.applicationInsights\n", ""),
        "module 'monitoring' misses required parameter 'applicationInsightsName'",
    ),
    (
        "BCP091 a module file that does not exist",
        ("'modules/alerts.bicep'", "'modules/alert.bicep'"),
        "module file 'modules/alert.bicep' not found",
    ),
    (
        "BCP028 a symbol declared twice",
        ("var createsAcs =", "var tags = {}\nvar createsAcs ="),
        "'tags' declared twice",
    ),
    (
        "BCP035 a resource without a name",
        ("  name: names.resourceGroup\n", ""),
        "resource 'rg' has no name",
    ),
    (
        "a parse error: a missing closing brace",
        ("  PLAN_PREMIUM_CITY_LIMIT: '15'\n}\n", "  PLAN_PREMIUM_CITY_LIMIT: '15'\n\n"),
        "syntax error",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(m[1], m[2]) for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_item11_each_rule_fails_on_a_mutated_main_template(
    change: tuple[str, str], expected: str
) -> None:
    problems = problems_of_main(mutate(*change))
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        # loop variables: in scope in the body, not outside it
        (b"var a = [for x in range(0, 2): x]\nvar b = [for y in range(0, 2): x]\n", "'x'"),
        (b"var a = [for (x, i) in range(0, 2): i]\noutput o int = i\n", "'i'"),
        # lambda parameters, several at once
        (b"var a = reduce([1], 0, (cur, next) => cur + nxt)\n", "'nxt'"),
        # user-defined functions see only their own parameters (user-defined-functions docs)
        (b"param p int\nfunc f(x int) int => x + p\n", "'p'"),
        # a variable called like a function
        (b"var a = 1\nvar b = a()\n", "'a' is not a function"),
        # an undeclared user type
        (b"param p myType\n", "type 'myType' is not declared"),
        # keys of nested resources and objects in arrays
        (b"var a = [\n  {\n    k: 1\n    K: 2\n  }\n]\n", "key 'K' declared twice"),
    ],
)
def test_item11_each_rule_fails_on_a_bad_snippet(snippet: bytes, expected: str) -> None:
    problems = check(snippet, "snippet.bicep")
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "snippet",
    [
        b"var a = [for (x, i) in range(0, 2): { v: x, n: i }]\n",
        b"var a = map([1], p => p + 1)\nvar b = filter(a, q => q > 1)\n",
        b"func f(x int) int => x + 1\nvar a = f(1)\nvar b = sys.concat('a', 'b')\n",
        b"resource s 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {\n"
        b"  name: 'x'\n  resource b 'blobServices' existing = {\n    name: 'default'\n  }\n}\n"
        b"output o string = s::b.id\noutput k string = s.listKeys().keys[0].value\n",
        b"type t = { a: string }\nparam p t\nparam q string?\n",
    ],
)
def test_item11_valid_bicep_passes(snippet: bytes) -> None:
    """The rules do not refuse what the compiler accepts (scopes, lambdas, nested resources,
    list* functions, namespaces, user types)."""
    assert check(snippet, "snippet.bicep") == []


# -- JSON: a key written twice (json.loads keeps the last one silently) --------------------


class DuplicateKey(ValueError):
    pass


def refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """object_pairs_hook: keys that differ only in case count as the same too (app settings
    and ARM parameter names are case-insensitive)."""
    seen: dict[str, str] = {}
    for key, _ in pairs:
        if key.lower() in seen:
            raise DuplicateKey(f"{key!r} repeats {seen[key.lower()]!r}")
        seen[key.lower()] = key
    return dict(pairs)


def tracked_json() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.json"],
            cwd=ROOT, capture_output=True, check=True, text=True,
        ).stdout  # fmt: skip
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # no git (an exported tree)
        paths = [
            p for p in ROOT.rglob("*.json")
            if not {"node_modules", ".venv", ".git"} & set(p.relative_to(ROOT).parts)
        ]  # fmt: skip
    return sorted(p for p in paths if p.is_file())


def test_item11_no_tracked_json_file_declares_a_key_twice() -> None:
    files = tracked_json()
    assert ROOT / "local.settings.example.json" in files
    for path in files:
        try:
            json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=refuse_duplicates)
        except DuplicateKey as error:
            pytest.fail(f"{path.relative_to(ROOT)}: {error}")


def test_item11_the_json_check_fails_on_the_original_copy_error() -> None:
    before = '{"Values": {"RATE_LIMITS_ENABLED": "true", "X": "1", "RATE_LIMITS_ENABLED": "true"}}'
    with pytest.raises(DuplicateKey, match="RATE_LIMITS_ENABLED"):
        json.loads(before, object_pairs_hook=refuse_duplicates)
    with pytest.raises(DuplicateKey):
        json.loads('{"a": 1, "A": 2}', object_pairs_hook=refuse_duplicates)
