"""The docs check: README.md and docs/**/*.md hold what they promise.

- every relative link resolves to a file, and every ``#anchor`` to a heading of its page,
  slugged as GitHub slugs headings (lower case; characters other than letters, digits,
  spaces, ``-`` and ``_`` dropped; spaces become ``-``; a repeated slug gets ``-1``, ``-2``;
  github/cmark-gfm and the github-slugger package implement the same rule);
- every ``make <target>`` written in code (a code span or block) is a target of the
  Makefile, and every ``python -m <module>`` a module Python can find;
- the README stays at most 12,000 characters, opens with ``## Approach`` and names
  ``make run`` and ``make test``; every page of docs/ at most 25,000 characters and opens by
  saying who it is for;
- docs/pending/ (notes waiting to be folded into the pages) is skipped.

The checker is tested on bad snippets too, so that a broken link cannot pass unnoticed.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_LIMIT = 12_000
PAGE_LIMIT = 25_000

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_MAKE = re.compile(r"(?:^|[\s;&|(`$])make\s+((?:[A-Za-z][\w-]*)(?:\|[A-Za-z][\w-]*)*)")
_PYTHON_M = re.compile(r"python3?\s+-m\s+([A-Za-z_][\w.]*)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto: ...


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading (its rendered text, not the Markdown source)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = text.replace("`", "").replace("*", "")  # code and emphasis markers vanish
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)  # _emphasis_, not snake_case
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters and digits of any script, and _
    return text.replace(" ", "-")


@dataclass(frozen=True)
class Page:
    path: Path
    text: str

    def prose_and_code(self) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        """Lines outside fenced code (with code spans) and the code: fenced lines, code
        spans and indented blocks."""
        prose: list[tuple[int, str]] = []
        code: list[tuple[int, str]] = []
        fenced = False
        for number, line in enumerate(self.text.splitlines(), 1):
            if _FENCE.match(line):
                fenced = not fenced
                continue
            if fenced or line.startswith("    "):
                code.append((number, line))
                continue
            prose.append((number, line))
            code.extend((number, m.group(2)) for m in _CODE_SPAN.finditer(line))
        return prose, code

    def anchors(self) -> set[str]:
        seen: dict[str, int] = {}
        found: set[str] = set()
        prose, _ = self.prose_and_code()
        for _, line in prose:
            match = _HEADING.match(line)
            if not match:
                continue
            slug = github_slug(match.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
        for match in re.finditer(r"<a\s+(?:name|id)=\"([^\"]+)\"", self.text):
            found.add(match.group(1))
        return found


def read(path: Path) -> Page:
    return Page(path, path.read_text(encoding="utf-8"))


def broken_links(page: Page, root: Path = ROOT) -> list[str]:
    problems: list[str] = []
    prose, _ = page.prose_and_code()
    for number, line in prose:
        for match in _LINK.finditer(_CODE_SPAN.sub("", line)):
            target = match.group(1)
            if _EXTERNAL.match(target) or target.startswith("//"):
                continue
            where = f"{page.path.name}:{number}: {target}"
            path_part, _, anchor = target.partition("#")
            if path_part.startswith("/"):
                problems.append(f"{where}: absolute path (GitHub resolves it to the site)")
                continue
            destination = (page.path.parent / path_part).resolve() if path_part else page.path
            if not destination.exists():
                problems.append(f"{where}: no such file")
                continue
            if root.resolve() not in (destination, *destination.parents):
                problems.append(f"{where}: outside the repository")
                continue
            markdown = destination.suffix == ".md"
            if anchor and markdown and anchor not in read(destination).anchors():
                problems.append(f"{where}: no heading with that anchor")
    return problems


def make_targets(makefile: Path = ROOT / "Makefile") -> set[str]:
    text = makefile.read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.MULTILINE)}


def unknown_commands(page: Page, targets: set[str]) -> list[str]:
    problems: list[str] = []
    _, code = page.prose_and_code()
    for number, snippet in code:
        for match in _MAKE.finditer(snippet):
            for target in match.group(1).split("|"):
                if target not in targets:
                    problems.append(f"{page.path.name}:{number}: make {target}: no such target")
        for match in _PYTHON_M.finditer(snippet):
            module = match.group(1).rstrip(".")
            try:
                spec = importlib.util.find_spec(module)
            except ModuleNotFoundError:
                spec = None
            if spec is None:
                problems.append(f"{page.path.name}:{number}: python -m {module}: no such module")
    return problems


def doc_pages() -> list[Path]:
    pending = ROOT / "docs" / "pending"
    pages = [p for p in sorted((ROOT / "docs").rglob("*.md")) if pending not in p.parents]
    return [ROOT / "README.md", *pages]


PAGES = doc_pages()


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert broken_links(read(path)) == []


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_make_target_and_python_module_named_exists(path: Path) -> None:
    assert unknown_commands(read(path), make_targets()) == []


@pytest.mark.parametrize("path", PAGES[1:], ids=lambda p: str(p.relative_to(ROOT)))
def test_each_page_is_short_and_says_who_it_is_for(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text) <= PAGE_LIMIT, f"{path.name}: {len(text)} characters"
    first_paragraph = text.split("\n\n")[1]
    assert first_paragraph.startswith("**For**"), first_paragraph[:80]


def test_the_readme_is_a_front_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text) <= README_LIMIT, f"README.md: {len(text)} characters"
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[0] == "Approach"
    assert "make run" in text and "make test" in text
    assert "docs/screenshots/" in text
    for page in PAGES[1:]:  # the map names every page
        assert f"({page.relative_to(ROOT).as_posix()})" in text, page.name


def test_the_pages_are_in_the_docs_directory() -> None:
    assert (ROOT / "docs" / "architecture.md").is_file()
    assert len(PAGES) >= 9


# -- the checker itself -------------------------------------------------------------------


def test_slugs_follow_github() -> None:
    assert github_slug("Deploy with `azd up`") == "deploy-with-azd-up"
    assert github_slug("Input the API refuses (never a 500)") == "input-the-api-refuses-never-a-500"
    assert github_slug("Differences from API.md, on purpose") == "differences-from-apimd-on-purpose"
    assert (
        github_slug("The local Functions host (`devtools/`)") == "the-local-functions-host-devtools"
    )
    assert github_slug("Real time: Web PubSub") == "real-time-web-pubsub"
    assert github_slug("job_index and **bold**") == "job_index-and-bold"
    assert github_slug("Ünïcode ok") == "ünïcode-ok"


def _page(tmp_path: Path, name: str, text: str) -> Page:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read(path)


def test_the_check_fails_on_a_broken_link(tmp_path: Path) -> None:
    _page(tmp_path, "other.md", "# Other\n\n## A section\n\n## A section\n")
    page = _page(
        tmp_path, "page.md",
        "# Page\n\n## Here\n\n"
        "[fine](other.md#a-section) [second](other.md#a-section-1) [self](#here)\n"
        "[gone](missing.md) [bad anchor](other.md#no-such) [bad self](#nowhere)\n"
        "[web](https://example.com/x.md) ![img](missing.png)\n"
        "`[in code](nowhere.md)`\n\n```\n[in a block](nowhere.md)\n```\n",
    )  # fmt: skip
    problems = broken_links(page, root=tmp_path)
    assert problems == [
        "page.md:6: missing.md: no such file",
        "page.md:6: other.md#no-such: no heading with that anchor",
        "page.md:6: #nowhere: no heading with that anchor",
        "page.md:7: missing.png: no such file",
    ]


def test_the_check_fails_on_an_unknown_make_target_or_module(tmp_path: Path) -> None:
    page = _page(
        tmp_path, "page.md",
        "Run `make run` or `make test-unit|test-nowhere`; make sure of it (prose).\n\n"
        "```bash\nmake bnech\n.venv/bin/python -m devtools.job_index backfill\n"
        "python -m devtools.no_such_tool\n```\n",
    )  # fmt: skip
    assert unknown_commands(page, make_targets()) == [
        "page.md:1: make test-nowhere: no such target",
        "page.md:4: make bnech: no such target",
        "page.md:6: python -m devtools.no_such_tool: no such module",
    ]
