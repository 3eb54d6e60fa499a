"""The README and docs/ as a reader follows them: each cited section is a heading of its page,
each relative link a file of the repository."""

import re

from conftest import REPO


def test_every_cited_docs_section_is_a_heading_and_no_outside_document_is_cited():
    """``docs/<page>.md, "Section"`` (across line breaks and comment marks) names a heading of
    that page, and nothing cites a document outside the repository."""
    headings = {
        page.name: {" ".join(h.split()) for h in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE)}
        for page in (REPO / "docs").glob("*.md")
    }
    folders = ["src", "workflow", "benchmarks", "docs", "config", "profiles", "envs"]
    files = [REPO / "README.md", REPO / "config.yaml", *(path for f in folders for path in (REPO / f).rglob("*"))]
    references = 0
    built = ("__pycache__", "pvsflow.egg-info")
    for path in (p for p in files if p.is_file() and p.suffix != ".png" and not set(built) & set(p.parts)):
        text = path.read_text()
        assert not re.search(r"SPEC|seeds? 0[0-9]", text), f"{path}: cites a document that is not in the repository"
        assert not re.search(r'README,? "', text), f"{path}: cites a README section; the README has no stable ones"
        for page, section in re.findall(r'docs/(\w+\.md)\)?,?\s+"([^"]+)"', text):
            section = " ".join(re.sub(r"\n\s*#", " ", section).split())
            assert section in headings[page], f"{path}: no section {section!r} in docs/{page}"
            references += 1
    assert references >= 30


def test_every_relative_link_of_the_readme_and_the_docs_finds_its_file():
    pages = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    links = 0
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            assert (page.parent / target.split("#")[0]).exists(), f"{page.name}: {target} does not exist"
            links += 1
    assert links >= 10
