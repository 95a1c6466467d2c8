"""Settings declared once: each flag is a dataclass field made with `option(...)` (name, type, default, help, the
values it accepts, the commands that take it). From those fields come the command line (`add_arguments`,
`parse`), the checks of a config read back from config.json or a checkpoint (`from_dict`), and the resume rules.

    @dataclass
    class Config:
        lr: float = option(1e-3, "Adam learning rate", check=numbers(0))

Types: int, float, str, bool (a switch), list[int], and Optional[...] of those.
"""
import argparse
import dataclasses
import math
import types
import typing
from dataclasses import dataclass

from utils.errors import UserError

TRAIN = ("train", "sweep")
ALL = ("train", "eval", "sweep")


@dataclass(frozen=True)
class Domain:
    """The values a number option accepts, e.g. Domain("an integer >= 0", lambda v: v >= 0)."""
    text: str
    ok: typing.Callable

    def __call__(self, value):
        return None if self.ok(value) else f"expected {self.text}, got {value!r}"


def integers(lo=None, hi=None):
    if hi is None:
        text = "a positive integer" if lo == 1 else f"an integer >= {lo}"
    else:
        text = f"an integer in [{lo}, {hi}]"
    return Domain(text, lambda v: (lo is None or v >= lo) and (hi is None or v <= hi))


def numbers(lo=None, hi=None, above=None):
    """Finite numbers in [lo, hi] (or > above)."""
    if above is not None:
        text = f"a finite number > {above:g}"
    elif hi is None:
        text = f"a finite number >= {lo:g}"
    else:
        text = f"a number in [{lo:g}, {hi:g}]"
    return Domain(text, lambda v: math.isfinite(v) and (lo is None or v >= lo) and (hi is None or v <= hi)
                  and (above is None or v > above))


SEED = integers(0, 2**32 - 1)


def option(default, help, *, commands=TRAIN, check=None, choices=None, metavar=None, resumable=False,
           command_defaults=None, cli=True):
    """A setting. check(value) -> an error text or None (a Domain, or any function); resumable: a resumed run may
    change it (budgets, paths, things that do not change what is computed); command_defaults: {command: default}
    where a command needs another default; cli=False: set by the program, not a flag."""
    meta = {"help": help, "commands": tuple(commands), "check": check, "choices": choices, "metavar": metavar,
            "resumable": resumable, "command_defaults": dict(command_defaults or {}), "cli": cli}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _kind(tp):
    """(scalar type, is a list, may be None) of an annotation."""
    origin = typing.get_origin(tp)
    if origin is list:
        return typing.get_args(tp)[0], True, False
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        scalar, is_list, _ = _kind(args[0])
        return scalar, is_list, True
    return tp, False, False


def settings(cls, command=None):
    """[(field, scalar type, is list, optional)] of a config class (only those `command` takes, when given)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if command is not None and (not f.metadata.get("cli", True) or command not in f.metadata["commands"]):
            continue
        out.append((f, *_kind(hints[f.name])))
    return out


def _problem(f, value):
    if f.metadata.get("choices") is not None and value not in f.metadata["choices"]:
        return f"expected one of {', '.join(map(str, f.metadata['choices']))}, got {value!r}"
    check = f.metadata.get("check")
    return check(value) if check is not None else None


def _converter(f, scalar):
    """argparse `type` for one value: parse, then check (argparse turns the ArgumentTypeError into one line)."""
    names = {int: "an integer", float: "a number"}

    def convert(text):
        try:
            value = scalar(text)
        except ValueError:
            check = f.metadata.get("check")
            what = check.text if isinstance(check, Domain) else names.get(scalar, scalar.__name__)
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        problem = _problem(f, value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    convert.__name__ = names.get(scalar, "value")
    return convert


def command_default(f, command):
    if command in f.metadata.get("command_defaults", {}):
        return f.metadata["command_defaults"][command]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def defaults(cls, command):
    """The config with every default of `command`."""
    return cls(**{f.name: command_default(f, command) for f, *_ in settings(cls, command)})


def add_arguments(parser, cls, command):
    """One option per field `command` takes, grouped by the config class that declares it. Defaults are left out
    of the namespace (argparse.SUPPRESS), so `parse` can tell the options given from the defaults."""
    groups = {}
    owners = {f.name: next(c for c in reversed(cls.__mro__) if f.name in getattr(c, "__annotations__", {}))
              for f, *_ in settings(cls, command)}
    depth = {c: i for i, c in enumerate(cls.__mro__)}  # the class's own settings first, then its parents'
    for f, scalar, is_list, _ in sorted(settings(cls, command), key=lambda s: depth[owners[s[0].name]]):
        owner = owners[f.name]
        group = groups.get(owner)
        if group is None:
            group = groups[owner] = parser.add_argument_group(getattr(owner, "section", None))
        default = command_default(f, command)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        help_text = f.metadata["help"] + ("" if scalar is bool or default is None else f" (default: {shown})")
        kwargs = {"default": argparse.SUPPRESS, "help": help_text.replace("%", "%%")}
        if scalar is bool:
            group.add_argument(f"--{f.name}", action="store_true", **kwargs)
            continue
        choices = f.metadata.get("choices")
        metavar = f.metadata.get("metavar") or ("{" + ",".join(map(str, choices)) + "}" if choices else
                                                {int: "N", float: "X"}.get(scalar, "TEXT"))
        kwargs.update(type=_converter(f, scalar), metavar=metavar)
        if is_list:
            kwargs["nargs"] = "+"
        group.add_argument(f"--{f.name}", **kwargs)
    return parser


def from_namespace(ns, cls, command):
    """(config, given): the config of a parsed command line (options added by add_arguments), and {name: value}
    of the options written on it."""
    names = {f.name for f, *_ in settings(cls, command)}
    given = {k: v for k, v in vars(ns).items() if k in names}
    return dataclasses.replace(defaults(cls, command), **given), given


def _type_problem(value, scalar, is_list, optional):
    if value is None:
        return None if optional else "must not be null"
    if is_list:
        if not isinstance(value, list) or not value:
            return "expected a non-empty list"
        return next((p for p in (_type_problem(v, scalar, False, False) for v in value) if p), None)
    if scalar is bool:
        ok = isinstance(value, bool)
    elif scalar is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif scalar is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, scalar)
    return None if ok else f"expected {scalar.__name__}, got {type(value).__name__}"


def check_value(f, scalar, is_list, optional, value):
    """The problem with one value of a field (type, then the field's own check), or None."""
    problem = _type_problem(value, scalar, is_list, optional)
    if problem or value is None:
        return problem
    for v in (value if is_list else [value]):
        problem = _problem(f, float(v) if scalar is float else v)
        if problem:
            return problem
    return None


def from_dict(cls, data, where):
    """A config from plain data (config.json, a checkpoint's config): known fields are type- and range-checked
    (UserError naming `where` and the field), unknown keys are ignored, missing ones take their defaults."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected an object of settings")
    values = {}
    for f, scalar, is_list, optional in settings(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        problem = check_value(f, scalar, is_list, optional, value)
        if problem:
            raise UserError(f"{where}: {f.name} = {str(value)[:60]!r}: {problem}")
        values[f.name] = list(value) if is_list else (float(value) if scalar is float and value is not None else value)
    return cls(**values)


def resumable(cls):
    """Names of the settings a resumed run may change."""
    return {f.name for f, *_ in settings(cls) if f.metadata.get("resumable")}
