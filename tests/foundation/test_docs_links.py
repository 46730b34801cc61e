"""The README and docs/ hold together: every relative link reaches a file (and, with a #fragment, a heading of it),
the README's set-up command is the one `.ci/run` runs verbatim, and no README line is one a reader must scroll."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Written on another branch of issue #32 (the add-a-stage walkthrough); drop once both are merged.
PENDING = {REPO / "docs" / "add-a-stage.md"}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation other than - and _ dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_reaches_a_file_and_heading():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path, _, fragment = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if file in PENDING:
                continue
            if not file.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
            elif fragment and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", file.read_text(), re.M)
                if fragment not in {_anchor(h) for h in headings}:
                    broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert broken == []


def test_readme_set_up_command_is_what_ci_runs():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)\n```", readme, re.S).group(1)
    ci = (REPO / ".ci" / "run").read_text()
    assert f'bash -c "{first_block}"' in ci
    assert "bash tests/run.sh" in re.findall(r"```bash\n(.*?)\n```", readme, re.S)


def test_readme_lines_fit_a_screen():
    long = [n for n, line in enumerate((REPO / "README.md").read_text().splitlines(), 1) if len(line) > 160]
    assert long == []
