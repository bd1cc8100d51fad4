"""The repository stands alone: no README line, doc, docstring or comment points at material a
reader of the repository does not have (a design document, provider notes or captured pages
kept beside it), and every pointer to a markdown file, or a section of one, can be followed.

What a contributor needs is in `docs/` (architecture, each provider's contract as
implemented); provider facts are written there in our own words, naming the provider's public
documentation by its title.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from tests.markdown import anchors, slug

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (
    "README.md",
    "Makefile",
    "pyproject.toml",
    ".ci",
    "docs",
    "gateway",
    "tests",
    "bench",
    "deploy",
    "config",
)
SKIPPED_DIRS = frozenset({"__pycache__", ".venv", "node_modules", "var"})
THIS = Path(__file__).resolve()

OUTSIDE = {
    "a path beside the repository": re.compile(r"\.\./shared\b|\bshared/(?:providers|seeds)\b"),
    "the design document": re.compile(r"\bDESIGN\b"),
    "a captured source file": re.compile(r"(?i)\bseeds?[ _-]?0\d\d\b|\bseeds/"),
    "the captured sources": re.compile(r"(?i)\bthe seeds?\b(?!\s+(?:of|for)\b)"),
    "a section of another document": re.compile(r"\b[\w-]+\.md\s*§"),
}
SECTION_SIGN = re.compile(r"§\s*\d")
"""`§N` alone names a section of a document the reader cannot see; `RFC 6749 §2.3.1` is fine."""
MD_PATH = re.compile(r"(?<![\w/.:*-])((?:\.\.?/)*[\w./*-]*[\w*]\.md)(?:#([\w-]+))?\b")
MD_ANCHOR_LINK = re.compile(r"\]\(#([\w-]+)\)")


def _files() -> Iterator[Path]:
    for name in SCANNED:
        top = ROOT / name
        if top.is_file():
            yield top
        elif top.is_dir():
            for path in sorted(top.rglob("*")):
                if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
                    yield path


def _texts() -> Iterator[tuple[Path, str]]:
    for path in _files():
        if path.resolve() == THIS:
            continue  # it spells out what it looks for
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary (images)
        try:
            yield path, data.decode()
        except UnicodeDecodeError:
            continue


def _where(path: Path, text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    shown = text.splitlines()[line - 1].strip()
    return f"{path.relative_to(ROOT)}:{line}: {shown[:120]}"


def _target(path: Path, ref: str) -> list[Path]:
    """The files `ref` may name, relative to the mentioning file or to the repository."""
    found: list[Path] = []
    for base in (path.parent, ROOT):
        candidates = sorted(base.glob(ref)) if "*" in ref else [base / ref]
        found += [c.resolve() for c in candidates if c.is_file()]
    return [f for f in found if f.is_relative_to(ROOT)]  # beside the repository does not count


def outside_references(text: str) -> Iterator[tuple[int, str]]:
    """(offset, what) of every reference in `text` to something outside the repository."""
    for what, pattern in OUTSIDE.items():
        for m in pattern.finditer(text):
            yield m.start(), what
    for m in SECTION_SIGN.finditer(text):
        if not re.search(r"RFC \d+\s*$", text[max(0, m.start() - 12) : m.start()]):
            yield m.start(), "a section of an unnamed document"


def test_nothing_points_outside_the_repository() -> None:
    found = [
        f"{_where(path, text, offset)}  ← {what}"
        for path, text in _texts()
        for offset, what in outside_references(text)
    ]
    assert not found, (
        "References a reader of the repository cannot follow (write what is needed into docs/ "
        "and point there):\n" + "\n".join(found)
    )


def test_every_markdown_pointer_can_be_followed() -> None:
    """A mentioned `*.md` file exists (beside the mentioning file or from the repository's
    root), and a `file.md#section` or `(#section)` link names a heading it has."""
    broken = []
    for path, text in _texts():
        for m in MD_PATH.finditer(text):
            ref, anchor = m.group(1), m.group(2)
            targets = _target(path, ref)
            if not targets:
                broken.append(f"{_where(path, text, m.start())}  ← no file {ref}")
            elif anchor and not any(anchor in anchors(t.read_text()) for t in targets):
                broken.append(f"{_where(path, text, m.start())}  ← no section #{anchor} in {ref}")
        if path.suffix == ".md":
            own = anchors(text)
            broken += [
                f"{_where(path, text, m.start())}  ← no section #{m.group(1)} here"
                for m in MD_ANCHOR_LINK.finditer(text)
                if m.group(1) not in own
            ]
    assert not broken, "Pointers that lead nowhere:\n" + "\n".join(broken)


def test_the_checks_see_what_they_look_for() -> None:
    """The patterns catch the forms of reference this repository used to carry, and leave
    ordinary text alone."""
    caught = [
        "DESIGN §3",
        "see ../shared/providers/flexport.md",
        "(seed 004)",
        "Seed 000: every scope",
        "seed-002 order JSON",
        "as the seed lists",
        "flexport.md §4.3",
        "retry tokens (§8)",
    ]
    for text in caught:
        assert list(outside_references(text)), text
    for text in (
        "random.Random(seed)",
        "a fixed seed, derandomized",
        "seed=11",
        "SEED = 16",
        "the seed of the generator",
        "RFC 6749 §2.3.1",
        "docs/providers/flexport.md#returns",
    ):
        assert not list(outside_references(text)), text
    assert slug("Standing alone: `gateway sandbox`") == "standing-alone-gateway-sandbox"
    assert slug("Products: SKU → `logisticsSku`") == "products-sku--logisticssku"
    assert anchors("# A\n## B\n```\n# not a heading\n```\n## B\n") == {"a", "b", "b-1"}
