"""docs/architecture.md's module list is the tree, and the packages import one way (main -> algos -> teacher ->
planner -> env; utils imports none of them)."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("algos", "teacher", "planner", "env", "utils")
ORDER = {"algos": 0, "teacher": 1, "planner": 2, "env": 3}


def modules_block():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return text.split("## Modules", 1)[1].split("```")[1]


def module_files():
    return {f"{p}/{f.name}" for p in PACKAGES for f in (ROOT / p).glob("*.py") if f.name != "__init__.py"}


def test_every_module_in_the_list_exists_and_every_module_is_listed():
    block = modules_block()
    named, folder = set(), None
    for line in block.splitlines():
        if line[:1].strip():                       # an entry (a continuation line is indented)
            folder = line.split("/")[0] if re.match(r"\w+/", line) else None
        for name in re.findall(r"[\w/]+\.py", line):
            if "/" in name:
                named.add(name)
            elif folder and name != "main.py":
                named.add(f"{folder}/{name}")
    missing = sorted(n for n in named if not (ROOT / n).is_file())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
    unlisted = sorted(module_files() - named)
    assert not unlisted, f"modules missing from docs/architecture.md: {unlisted}"


def imported_packages(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        for name in names:
            top = name.split(".")[0]
            if top in PACKAGES or top == "main":
                yield top


def test_imports_point_one_way():
    wrong = []
    for module in sorted(module_files()):
        package = module.split("/")[0]
        for top in imported_packages(ROOT / module):
            if top == package:
                continue
            if package == "utils":
                ok = module == "utils/chatglm_api.py"     # the official entry point, a shim over the planner
            else:
                ok = top == "utils" or (top in ORDER and ORDER[top] > ORDER[package])
            if not ok:
                wrong.append(f"{module} imports {top}")
    assert not wrong, wrong
