"""Reading a JSON file a user gave (configs, variants, answer tables) with a one-line error."""
import json
from pathlib import Path

from utils.errors import UserError


def load_json(path, what):
    """Read a JSON file or raise a one-line UserError naming the file and the problem."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{what} {path} is not valid JSON (line {e.lineno}: {e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {what} {path}: {e}") from None
