"""README.md stays a page a newcomer reads in five minutes, and docs/results.md a page of tables and short summaries.

- README.md is at most 12 KB, docs/results.md at most 20 KB (the long accounts live in docs/results_log.md);
- README's Quick start has exactly two fenced commands: one pip-install line that runs `main.py train`, and the test
  command `bash scripts/test.sh`, which is what `.ci/run` runs;
- README's Results section has one table, of at most six columns;
- every relative link of README.md names a file that exists (and, into a markdown file, a heading of it).
The commands themselves are run by tests/test_docs_commands.py.
"""
import os
import re

import pytest

from tests.helpers import ROOT

README = os.path.join(ROOT, "README.md")
RESULTS = os.path.join(ROOT, "docs", "results.md")
CI = os.path.join(ROOT, ".ci", "run")
README_MAX = 12 * 1024
RESULTS_MAX = 20 * 1024
MAX_COLUMNS = 6
TEST_COMMAND = "bash scripts/test.sh"
INSTALL_AND_TRAIN = re.compile(r"^pip install -r requirements\.txt && python main\.py train( |$)")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def sections(text):
    """{'## heading' title: body} of a markdown text's level-2 sections (headings inside code fences ignored)."""
    out, title, body, fenced = {}, None, [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            if title is not None:
                out[title] = "\n".join(body)
            title, body = line[3:].strip(), []
        elif title is not None:
            body.append(line)
    if title is not None:
        out[title] = "\n".join(body)
    return out


def fenced_commands(text):
    """The command lines of every fenced block of a markdown text: blank lines and `#` comments left out,
    backslash continuations joined."""
    commands, fenced, pending = [], False, ""
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        stripped = line.strip()
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        stripped, pending = (pending + stripped).strip(), ""
        if stripped and not stripped.startswith("#"):
            commands.append(stripped)
    return commands


def tables(text):
    """The markdown tables of a text (outside code fences), each as a list of rows of cells."""
    found, current, fenced = [], [], False
    for line in text.splitlines() + [""]:
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.strip().startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            current.append([cell.strip() for cell in cells])
        elif current:
            found.append(current)
            current = []
    return found


def anchors(path):
    """GitHub's anchors of a markdown file's headings."""
    headings = [line.lstrip("#").strip() for line in read(path).splitlines() if re.match(r"^#{1,6} ", line)]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def broken_links(path):
    """The relative links of a markdown file whose file is missing, or whose #anchor names no heading of it."""
    text = re.sub(r"```.*?```", "", read(path), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(resolved):
            broken.append(target)
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            broken.append(target)
    return broken


def test_readme_is_short():
    size = os.path.getsize(README)
    assert size <= README_MAX, f"README.md is {size} bytes, over {README_MAX}: move detail into docs/"


def test_results_page_is_short():
    size = os.path.getsize(RESULTS)
    assert size <= RESULTS_MAX, (f"docs/results.md is {size} bytes, over {RESULTS_MAX}: move the long accounts into "
                                 "docs/results_log.md")


def test_quick_start_is_two_commands():
    quick = sections(read(README))["Quick start"]
    commands = fenced_commands(quick)
    assert len(commands) == 2, commands
    install, test = commands
    assert INSTALL_AND_TRAIN.match(install), install
    assert test == TEST_COMMAND, test


def test_ci_runs_the_readme_test_command():
    quick_test = fenced_commands(sections(read(README))["Quick start"])[-1]
    ci = [line.strip() for line in read(CI).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert quick_test in ci, (quick_test, ci)


def test_results_table_has_at_most_six_columns():
    found = tables(sections(read(README))["Results"])
    assert len(found) == 1, f"README's Results section should hold one table, not {len(found)}"
    rows = found[0]
    assert len(rows) >= 3, "a header, its separator and at least one row"
    assert len(rows[0]) <= MAX_COLUMNS, rows[0]
    assert all(len(row) == len(rows[0]) for row in rows), [len(row) for row in rows]
    assert all(set(cell) <= set("-: ") for cell in rows[1]), rows[1]


def test_readme_links_resolve():
    assert not broken_links(README)


# The checks themselves, on texts that must fail them.

def test_helpers_catch_a_third_command_and_a_wide_table():
    text = ("# T\n\n## Quick start\n\n```bash\n# a comment\npip install -r requirements.txt && python main.py train\n"
            "python main.py tasks\nbash scripts/test.sh\n```\n\n## Results\n\n| a | b | c | d | e | f | g |\n"
            "|---|---|---|---|---|---|---|\n| 1 | 2 | 3 | 4 | 5 | 6 | 7 |\n\n| x |\n|---|\n| `a\\|b` |\n")
    parts = sections(text)
    assert list(parts) == ["Quick start", "Results"]
    assert len(fenced_commands(parts["Quick start"])) == 3
    found = tables(parts["Results"])
    assert len(found) == 2 and len(found[0][0]) == 7 > MAX_COLUMNS and found[1][2] == ["`a\\|b`"]
    assert fenced_commands("```bash\npython main.py train \\\n  --task X\n```\n") == ["python main.py train --task X"]
    assert INSTALL_AND_TRAIN.match("pip install -r requirements.txt && python main.py train --task SimpleDoorKey")
    assert not INSTALL_AND_TRAIN.match("pip install -r requirements.txt && python main.py eval")


def test_helpers_catch_a_broken_link(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Some heading: here\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md) [ok](docs/a.md#some-heading-here) [web](https://x.org/none.md)\n"
                    "[no file](docs/b.md) [no heading](docs/a.md#nowhere)\n```\n[in code](missing.md)\n```\n",
                    encoding="utf-8")
    assert broken_links(str(page)) == ["docs/b.md", "docs/a.md#nowhere"]


@pytest.mark.parametrize("path", [README, RESULTS])
def test_pages_exist(path):
    assert os.path.isfile(path)
