"""docs/architecture.md's module list is the tree (sub-packages included), the packages import one way (main ->
algos -> teacher -> planner -> env; utils imports none of them), and so do the rooms inside algos/ and planner/."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("algos", "teacher", "planner", "env", "utils")
ORDER = {"algos": 0, "teacher": 1, "planner": 2, "env": 3}


def modules_block():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return text.split("## Modules", 1)[1].split("```")[1]


# the rooms inside a package: a room imports only the rooms listed after it (and itself); "" is the package's own
# top-level modules
ROOMS = {
    "algos": ["experiments", "run", "", "learner", "vec_env"],
    "planner": ["servers", "", "live", "llm"],
}
# modules of a room that a lower room may import: the package's shared leaves (the planner interface, the task data)
SHARED = {"planner/base.py", "planner/task_spec.py", "planner/answers.py"}
# a command-line entry point that only forwards to the module it names (python -m planner.local_llm)
ENTRY_POINTS = {"planner/local_llm.py"}


def module_files():
    return {str(f.relative_to(ROOT)) for p in PACKAGES for f in (ROOT / p).rglob("*.py") if f.name != "__init__.py"}


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


def imported_modules(path):
    """The project modules a file imports, as dotted names (`from planner import export_cache` included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in PACKAGES or name == "main":
                yield name


def imported_packages(path):
    yield from {name.split(".")[0] for name in imported_modules(path)}


def as_file(name):
    """The module file a dotted name refers to (None for a package or a name inside a module)."""
    path = ROOT / (name.replace(".", "/") + ".py")
    return str(path.relative_to(ROOT)) if path.is_file() else None


def room(module):
    parts = module.split("/")
    return parts[1] if len(parts) > 2 else ""


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


def test_the_rooms_of_a_package_import_one_way():
    wrong = []
    for module in sorted(module_files()):
        package = module.split("/")[0]
        if package not in ROOMS or module in ENTRY_POINTS:
            continue
        order = ROOMS[package]
        assert room(module) in order, f"{module}: room {room(module)!r} is not in the test's list of {package} rooms"
        for name in imported_modules(ROOT / module):
            target = as_file(name)
            if target is None or target.split("/")[0] != package or target in SHARED:
                continue
            if order.index(room(target)) < order.index(room(module)):
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong
