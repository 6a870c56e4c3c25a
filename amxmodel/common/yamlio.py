"""Reading input files safely: the one YAML loader, and bounded reads.

Everything the user gives (scenario, hardware and workload files, grids, traces, records,
``--set`` values) is read here, with limits that keep a hostile or mistaken file from
taking the machine:

- only regular files, at most :data:`MAX_INPUT_BYTES` (``$AMXMODEL_MAX_INPUT_MB`` raises
  it); FIFOs, devices and ``/dev/zero`` are refused before a byte is read;
- the safe loader only (libyaml's C parser when installed: 5-7x faster), no tags;
- at most :data:`MAX_DEPTH` levels of nesting and :data:`MAX_NODES` values once aliases
  are expanded (a 400-byte "billion laughs" file is refused, not expanded);
- integers of at most :data:`MAX_INT_DIGITS` digits;
- duplicate keys in a mapping are refused with both line numbers (YAML says the last wins,
  which silently drops a value the user wrote);
- an error quotes at most :data:`EXCERPT` characters of the input.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from amxmodel.common.errors import InputError

MAX_INPUT_BYTES = 64 * 2**20
MAX_DEPTH = 64
MAX_NODES = 2_000_000
MAX_INT_DIGITS = 40
EXCERPT = 60

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def excerpt(value: Any, limit: int = EXCERPT) -> str:
    """``repr(value)`` cut to ``limit`` characters (never the whole of a huge value)."""
    text = repr(value) if not isinstance(value, str) else repr(value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def max_input_bytes() -> int:
    """The size limit of one input file (``$AMXMODEL_MAX_INPUT_MB`` overrides)."""
    env = os.environ.get("AMXMODEL_MAX_INPUT_MB", "")
    try:
        return int(float(env) * 2**20) if env else MAX_INPUT_BYTES
    except ValueError:
        return MAX_INPUT_BYTES


def read_input_text(path: str | Path, what: str = "file", kind: str = "") -> str:
    """A regular UTF-8 text file of bounded size; anything else raises InputError
    (``what`` names it in messages, ``kind`` its format, e.g. ``"YAML "``)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a directory, expected a {kind}{what}")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise InputError(f"{path}: is {kind}; allowed: a regular file (save the output to a "
                         "file first)")
    limit = max_input_bytes()
    if st.st_size > limit:
        raise InputError(f"{path}: {st.st_size / 2**20:.0f} MiB; allowed: at most "
                         f"{limit / 2**20:.0f} MiB per input file (set AMXMODEL_MAX_INPUT_MB "
                         "to read a larger one)")
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:  # grew while we read it
        raise InputError(f"{path}: larger than {limit / 2**20:.0f} MiB; allowed: at most that")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read {what}: not utf-8 text ({exc.reason} at byte "
                         f"{exc.start})") from None


def load_yaml(path: str | Path, what: str = "file") -> Any:
    """Load one YAML document with the safe loader; bad files raise InputError."""
    text = read_input_text(path, what, "YAML ")
    return parse_yaml(text, str(path))


def _line(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}" if node.start_mark else "?"


def _check_tree(root: yaml.Node, where: str) -> None:
    """Depth, size after alias expansion, duplicate keys and integer sizes of a node tree."""
    stack = [(root, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise InputError(f"{where}: more than {MAX_NODES:,} values once aliases (*name) are "
                             "expanded; allowed: fewer (an alias bomb?)")
        if depth > MAX_DEPTH:
            raise InputError(f"{where}: {_line(node)}: nested more than {MAX_DEPTH} levels deep; "
                             f"allowed: at most {MAX_DEPTH}")
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:int":
                digits = sum(c.isdigit() for c in node.value)
                if digits > MAX_INT_DIGITS:
                    raise InputError(f"{where}: {_line(node)}: an integer of {digits} digits; "
                                     f"allowed: at most {MAX_INT_DIGITS} digits")
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            keys: dict[Any, yaml.Node] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    ident = (key.tag, key.value)
                    if ident in keys:
                        raise InputError(
                            f"{where}: duplicate key {excerpt(key.value)} at {_line(keys[ident])} "
                            f"and {_line(key)}; allowed: each key once per mapping")
                    keys[ident] = key
                elif not isinstance(key, yaml.ScalarNode):
                    raise InputError(f"{where}: {_line(key)}: a mapping key is a "
                                     f"{'list' if isinstance(key, yaml.SequenceNode) else 'mapping'}; "
                                     "allowed: a plain name or number")
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text with the safe loader; ``where`` names the source in errors."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_tree(node, where)
        return loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f": line {mark.line + 1}" if mark else ""
        raise InputError(
            f"{where}{line}: YAML tag not allowed ({excerpt(exc.problem, 120)}); only plain "
            "YAML data is read"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f": line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [""])[0]
        raise InputError(f"{where}{line}: malformed YAML: {problem[:200]}") from None
    except RecursionError:
        raise InputError(f"{where}: nested too deeply; allowed: at most {MAX_DEPTH} "
                         "levels") from None
    finally:
        loader.dispose()


def parse_scalar(text: str, where: str = "value") -> Any:
    """Parse the value of a ``key=value`` override as YAML (``3``, ``0.5``, ``[a, b]``, ``web``);
    text that is not YAML stays text, but the limits above hold (``where`` names it)."""
    if not text.strip():
        return ""
    try:
        return parse_yaml(text, where)
    except InputError as exc:
        if "malformed YAML" in str(exc):
            return text
        raise
