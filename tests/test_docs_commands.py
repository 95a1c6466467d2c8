"""Every command in the fenced shell blocks of README.md and docs/*.md runs as written.

- `python main.py ...`, `python -m planner.* / utils.*` and `python bench/*.py`, `python docs/*.py`: their arguments
  parse with the program's own parser (and, for main.py, become a valid Config), without running anything;
- README's quick-start and everyday `main.py` commands (train, eval, plot, tasks, --resume) run for real with tiny
  budgets appended (argparse keeps the last value of a flag), in a scratch folder;
- `bash FILE` and `pip install -r FILE`: the file exists (and the script passes `bash -n`);
- other programs (tensorboard, vllm, ollama, ...) are named in EXTERNAL; any other command fails the test, so a new
  kind of command in the docs gets a check here.
Also: docs/flags.md is what `python docs/make_flags.py` makes from the parser now.
"""
import argparse
import glob
import os
import re
import runpy
import shlex
import subprocess
import sys

import pytest

from tests.helpers import ROOT, read_metrics

DOCS = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
SHELL_FENCE = re.compile(r"^```(bash|sh|shell|console)\s*$")
EXTERNAL = {"tensorboard", "vllm", "ollama", "llama-server", "python3", "export", "ray", "curl"}
SEPARATORS = {"&&", "||", ";", "|", "&"}
TINY = ["--n_itr", "1", "--num_envs", "2", "--workers", "0", "--traj_per_itr", "2", "--batch_size", "32",
        "--eval_interval", "0", "--video", "0", "--no_progress"]  # a training of one small iteration


def shell_blocks(path):
    """[(line number, command text)] of the fenced shell blocks of a markdown file; continuation lines joined."""
    out, block, start, pending = [], False, 0, ""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not block:
                block = bool(SHELL_FENCE.match(line))
                continue
            if line.startswith("```"):
                block = False
                continue
            if not pending:
                start = number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            text, pending = pending + line, ""
            if text.strip() and not text.strip().startswith("#"):
                out.append((start, text))
    return out


def simple_commands(text):
    """The argv of each simple command of a shell line: comments dropped, split at && || ; | &, leading VAR=value
    assignments dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, argv = [], []
    for token in lexer:
        if token in SEPARATORS:
            commands.append(argv)
            argv = []
        else:
            argv.append(token)
    commands.append(argv)
    out = []
    for argv in commands:
        while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
            argv = argv[1:]
        if argv:
            out.append(argv)
    return out


def documented_commands():
    found = []
    for path in DOCS:
        for number, text in shell_blocks(path):
            for argv in simple_commands(text):
                found.append(pytest.param(argv, id=f"{os.path.relpath(path, ROOT)}:{number}:{' '.join(argv)[:60]}"))
    return found


class _Parsed(Exception):
    pass


def _stop_after_parsing(monkeypatch):
    """argparse's parse_args parses, then raises _Parsed instead of letting the program run on."""
    original = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed()
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)


def parse_main(argv):
    """main.py's parser and Config on argv: a bad flag or value fails (UserError or the parser's exit 2)."""
    from main import build_parser
    from utils.options import from_namespace
    ns = build_parser().parse_args(argv)
    if ns.command in ("train", "eval", "sweep"):
        from algos.config import Config
        from_namespace(ns, Config, ns.command)
    if ns.command == "sweep":
        from algos.experiments.sweep import SweepOptions
        from_namespace(ns, SweepOptions, "sweep")


def parse_program(argv, monkeypatch, capsys):
    """`python -m MODULE ARGS` or `python FILE.py ARGS`: run as __main__ up to its argument parsing."""
    _stop_after_parsing(monkeypatch)
    if argv[1] == "-m":
        target, args = argv[2], argv[3:]
        assert target.split(".")[0] in ("planner", "utils", "algos", "bench"), f"not one of ours: {target}"
        monkeypatch.delitem(sys.modules, target, raising=False)  # run_module runs a fresh copy as __main__
        run = lambda: runpy.run_module(target, run_name="__main__", alter_sys=True)  # noqa: E731
    else:
        target, args = os.path.join(ROOT, argv[1]), argv[2:]
        assert os.path.isfile(target), f"no such script: {argv[1]}"
        monkeypatch.syspath_prepend(os.path.dirname(target))
        run = lambda: runpy.run_path(target, run_name="__main__")  # noqa: E731
    monkeypatch.setattr(sys, "argv", [target, *args])
    try:
        run()
    except _Parsed:
        return
    except SystemExit as e:
        raise AssertionError(f"{' '.join(argv)}: its parser refused it (exit {e.code}): "
                             f"{capsys.readouterr().err.strip()}") from None
    raise AssertionError(f"{' '.join(argv)}: ended without parsing arguments")


@pytest.mark.parametrize("argv", documented_commands())
def test_documented_command_parses(argv, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    program = argv[0]
    assert not {"<", ">", ">>", "<<"} & set(argv), "a shell redirection (a bare <placeholder>?)"
    if program == "python" and len(argv) > 1 and argv[1] == "main.py":
        try:
            parse_main(argv[2:])
        except SystemExit as e:
            raise AssertionError(f"refused (exit {e.code}): {capsys.readouterr().err.strip()}") from None
    elif program == "python":
        parse_program(argv, monkeypatch, capsys)
    elif program == "bash":
        script = os.path.join(ROOT, argv[1])
        assert os.path.isfile(script), f"no such script: {argv[1]}"
        check = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    elif program == "pip":
        assert argv[1] == "install", argv
        for i, arg in enumerate(argv):
            if arg == "-r":
                assert os.path.isfile(os.path.join(ROOT, argv[i + 1])), f"no such file: {argv[i + 1]}"
    else:
        assert program in EXTERNAL, f"a command of an unknown kind (check it here, or name it in EXTERNAL): {argv}"


def test_commands_were_found():
    """The extraction itself: README's two quick-start commands and its everyday ones are among those checked."""
    readme = [argv for _, text in shell_blocks(DOCS[0]) for argv in simple_commands(text)]
    assert ["pip", "install", "-r", "requirements.txt"] in readme
    assert ["bash", "scripts/test.sh"] in readme
    assert ["python", "main.py", "tasks"] in readme
    assert any(argv[:3] == ["python", "main.py", "train"] for argv in readme)
    assert any(argv[:3] == ["python", "-m", "planner.local_llm"] for argv in readme)
    assert simple_commands("A=1 B=2 python x.py --y 'a b' && bash s.sh # c") == [["python", "x.py", "--y", "a b"],
                                                                                  ["bash", "s.sh"]]


def test_the_test_command_is_what_ci_runs():
    """README's test command is the one .ci/run runs."""
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    readme = [text.strip() for _, text in shell_blocks(DOCS[0])]
    assert "bash scripts/test.sh" in ci and "bash scripts/test.sh" in readme


def _readme_main_commands():
    return [argv[2:] for _, text in shell_blocks(DOCS[0]) for argv in simple_commands(text)
            if argv[:2] == ["python", "main.py"] and argv[2] in ("train", "eval", "plot", "tasks")
            and "--llm_url" not in argv]  # a live LLM's server is tests/test_local_llm.py's job


def test_readme_quick_start_runs(tmp_path, monkeypatch, capsys):
    """README's train, eval, plot and tasks commands, run in order with tiny budgets in a scratch folder that holds
    the published models (the quick start's run named `quick`)."""
    import main
    os.symlink(os.path.join(ROOT, "models"), tmp_path / "models")
    monkeypatch.chdir(tmp_path)
    commands = _readme_main_commands()
    assert commands[0][0] == "train", "the first main.py command of the README trains"
    ran = []
    for args in commands:
        if args[0] == "train" and "--resume" in args:
            args = args + ["--n_itr", "2"]
        elif args[0] == "train":
            args = args + TINY + ([] if "--savedir" in args else ["--savedir", "quick"])
        elif args[0] == "eval":
            args = args + ["--num_eval", "2"] + (["--video", "1"] if "--video" in args else [])
        status = main.main(args)
        out = capsys.readouterr()
        assert status == 0, (args, out.err)
        ran.append(args[0])
        if args[0] == "train":
            if "--resume" in args:
                run, iterations = args[args.index("--resume") + 1], 2
            else:
                task = args[args.index("--task") + 1] if "--task" in args else "SimpleDoorKey"
                run, iterations = os.path.join("log", "ppo", task, args[args.index("--savedir") + 1] + "-0"), 1
            assert "done" in out.out and len(read_metrics(tmp_path / run)) == iterations, out
        elif args[0] == "eval":
            assert "success rate" in out.out and "over 2 episodes" in out.out, out.out
        elif args[0] == "plot":
            assert os.path.isfile(tmp_path / args[args.index("--out") + 1])
        else:
            assert "SimpleDoorKey" in out.out and "TwoDoor" in out.out
    assert {"train", "eval", "plot", "tasks"} <= set(ran)


def test_flags_reference_is_current():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "make_flags.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def _anchors(path):
    """GitHub's anchors of a markdown file's headings."""
    with open(path, encoding="utf-8") as f:
        headings = [line.lstrip("#").strip() for line in f if re.match(r"^#{1,6} ", line)]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_links_resolve():
    """Every relative link of README.md and docs/*.md names a file that exists, and a heading of it after '#'."""
    broken = []
    for path in DOCS:
        with open(path, encoding="utf-8") as f:
            text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            if not os.path.exists(resolved) or (anchor and resolved.endswith(".md")
                                                and anchor not in _anchors(resolved)):
                broken.append(f"{os.path.relpath(path, ROOT)}: {target}")
    assert not broken, broken
