"""What a deployment ships: the city index database is inside the package, and opens.

The database (data/cities.sqlite3) is a build output, git-ignored. azd builds the zip it
deploys to Flex Consumption from the project folder minus what ``.funcignore`` excludes
(gitignore syntax; azd honours ``.funcignore`` since Azure/azure-dev#5383, which also always
leaves out ``local.settings.json``, as Core Tools' ``func pack`` does), after the service's
``prepackage`` hook (azure.yaml) has run. These tests run that hook in a copy without the
database, build the zip with the same rules, and open the index from the zip's copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pathspec
import pytest
import yaml

from shared.adapters.city_index import DEFAULT_CITY_INDEX_PATH, CityIndex
from shared.adapters.city_index_build import SOURCE_PATH

ROOT = Path(__file__).resolve().parents[2]
INDEX = DEFAULT_CITY_INDEX_PATH.relative_to(ROOT).as_posix()  # data/cities.sqlite3
ALWAYS_EXCLUDED = ("local.settings.json",)  # azd and func leave it out whatever the rules


def package_files(root: Path) -> list[str]:
    """The files azd/func would zip from ``root``: everything .funcignore lets through."""
    rules = (root / ".funcignore").read_text(encoding="utf-8").splitlines()
    spec = pathspec.GitIgnoreSpec.from_lines([*rules, *ALWAYS_EXCLUDED])
    files: list[str] = []
    for directory, dirs, names in os.walk(root):
        relative = Path(directory).relative_to(root)
        dirs[:] = [d for d in dirs if not spec.match_file(f"{(relative / d).as_posix()}/")]
        dirs[:] = [d for d in dirs if d != ".git" and not (Path(directory) / d).is_symlink()]
        for name in names:
            path = (relative / name).as_posix()
            if not spec.match_file(path):
                files.append(path)
    return sorted(files)


def build_zip(root: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in package_files(root):
            archive.write(root / path, path)
    return target


def prepackage_hook() -> str:
    document = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    hook = document["services"]["api"]["hooks"]["prepackage"]
    assert "city_index_build" in hook["windows"]["run"]
    return str(hook["posix"]["run"])


def test_azd_prepackage_hook_builds_the_index_where_it_is_missing(tmp_path: Path) -> None:
    """The hook's own command, run as azd would (sh, in the project folder), builds the
    database from the tracked rows with nothing but the standard library."""
    shutil.copytree(
        ROOT / "shared", tmp_path / "shared", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "data").mkdir()
    shutil.copy2(SOURCE_PATH, tmp_path / "data" / SOURCE_PATH.name)
    assert not (tmp_path / INDEX).exists()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(["sh", "-c", prepackage_hook()], cwd=tmp_path, env=env, check=True, timeout=120)
    index = CityIndex(tmp_path / INDEX)
    assert index.search("paris")[0].id == "2988507"
    # Run again: current, so nothing is rebuilt (the file is the same one).
    before = (tmp_path / INDEX).stat().st_mtime_ns
    subprocess.run(["sh", "-c", prepackage_hook()], cwd=tmp_path, env=env, check=True, timeout=120)
    assert (tmp_path / INDEX).stat().st_mtime_ns == before


def test_deployment_package_contains_the_index_and_it_opens(tmp_path: Path) -> None:
    assert DEFAULT_CITY_INDEX_PATH.is_file(), "conftest builds it (pytest_sessionstart)"
    archive = build_zip(ROOT, tmp_path / "package.zip")
    with zipfile.ZipFile(archive) as opened:
        names = set(opened.namelist())
        assert INDEX in names
        assert {"function_app.py", "host.json", "requirements.txt"} <= names
        assert "shared/adapters/city_index.py" in names
        assert not any(
            name.startswith(("tests/", "devtools/", "bench/", ".venv/")) for name in names
        )
        opened.extract(INDEX, tmp_path / "site")
    index = CityIndex(tmp_path / "site" / INDEX)
    assert index.search("München")[0].name == "Munich"
    assert index.suggest("Londn")[0] == "London"
    assert (tmp_path / "site" / INDEX).stat().st_size <= 15_000_000  # the bound


def test_the_image_builds_the_index_after_copying_the_data() -> None:
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    copy = lines.index("COPY data ./data")
    build = next(i for i, line in enumerate(lines) if "shared.adapters.city_index_build" in line)
    assert build > copy and lines[build].startswith("RUN python -m")


def test_the_database_is_not_tracked_and_no_tracked_file_is_over_5_mb() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", INDEX], cwd=ROOT, check=False, timeout=30
    )
    assert ignored.returncode == 0, f"{INDEX} must be git-ignored (a build output)"
    tracked = (
        subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, timeout=30
        )
        .stdout.decode()
        .split("\0")
    )
    large = [name for name in tracked if name and (ROOT / name).is_file()
             and (ROOT / name).stat().st_size > 5_000_000]  # fmt: skip
    assert large == []
