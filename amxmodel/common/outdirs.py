"""Where results may go, and the one rule every writer follows there.

A results folder is the user's choice (``run --out``, ``sweep --out``, ``main --out``,
``export --to``, a notebook's ``out_dir``), and ``..`` in a path the user typed is theirs
to use. Two things are never done there:

- **Writing into the project itself.** ``amxmodel/``, ``data/`` and ``notebooks/`` are read
  as code, inputs and committed notebooks; the checkout root, any folder above the
  package, and any folder holding a ``.git``, ``data/`` or ``notebooks/`` are refused
  wherever the path resolves (``run --out "$PWD"`` in a checkout once deleted it).
- **Replacing files the tool did not write.** A writer uses a folder that is new, empty,
  or one amxmodel wrote before: it keeps the names it wrote in ``.amxmodel-files`` (the
  marker), and a folder holding a run record (``scenario.yaml`` with ``package_version``
  beside ``summary.parquet``), a sweep record (``sweep.yaml``) or the executed main
  notebook (``reports/``) from before the marker counts too. A folder with other files is refused unless ``force``; even then the files
  amxmodel did not write are left alone, and a name that would replace one is refused.

:func:`output_folder` implements the rule for every folder writer: it checks the path
before any computation, creates the folder, locks it (two writers never share a
folder), clears temporary files a killed writer left, and removes the folder again when
the writer fails before writing anything into it. Files go in through
:meth:`OutFolder.install`: staged in a temporary folder inside the target (same
filesystem, so a symlinked ``--out`` works and nothing appears beside it), recorded in
the marker, then renamed into place. Names the package builds from parameters (chart
file names, prefixes) must be one plain path component (:func:`check_name`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from amxmodel.common.datafiles import PACKAGE_DIR, checkout_dir, data_dir, notebooks_dir
from amxmodel.common.errors import InputError

MARKER = ".amxmodel-files"
LOCK = ".lock"  # the lock file of sweeps before the folder itself was locked
TMP_MARK = ".tmp-"
HELD_ENV = "AMXMODEL_HELD_OUT"
ALLOWED = "allowed: a new or empty folder, or one amxmodel wrote before, e.g. results/"
# Folders a record from before the marker identifies as amxmodel's, and the names it wrote.
LEGACY = {"scenario.yaml": ("summary.parquet", "hosts.parquet", "by_class.parquet",
                            "scenario.yaml"),
          "sweep.yaml": ("sweep.yaml", "points", "failed", "notebooks")}
PROJECT_CHILDREN = (".git", "data", "notebooks")
MAIN_NAMES = re.compile(r"01_[\w.-]+\.(png|svg|txt|ipynb|html)")  # what 'main' wrote there


def protected_dirs() -> dict[str, Path]:
    """The folders no result is written into, by what they hold."""
    out = {"the package source": PACKAGE_DIR, "the shipped data": data_dir().resolve(),
           "the shipped notebooks": notebooks_dir()}
    top = checkout_dir()
    if top is not None:
        out["the checkout"] = top.resolve()
    return out


def is_temp_name(name: str) -> bool:
    """A temporary name of this package's writers (``.<name>.tmp-XXXX``)."""
    return name.startswith(".") and TMP_MARK in name


def check_out_dir(path: str | Path, flag: str) -> Path:
    """``path`` resolved, or InputError if it is or lies in the project (see module doc)."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputError(f"{flag} {_show(path)}: cannot resolve: {exc}") from None
    for what, root in protected_dirs().items():
        if what == "the checkout":
            if resolved == root:
                raise InputError(f"{flag} {_show(path)}: resolves to {resolved}, the checkout "
                                 f"itself; {ALLOWED}")
            continue
        if resolved == root or root in resolved.parents:
            raise InputError(f"{flag} {_show(path)}: resolves to {resolved}, inside {what} "
                             f"({root}); allowed: a folder outside amxmodel/, data/ and "
                             "notebooks/, e.g. results/")
    if resolved in PACKAGE_DIR.parents:
        raise InputError(f"{flag} {_show(path)}: resolves to {resolved}, which contains the "
                         f"package source ({PACKAGE_DIR}); {ALLOWED}")
    return resolved


def check_name(name: str, where: str) -> str:
    """``name`` if it is one plain file name (no ``/``, no ``..``, no leading dot)."""
    text = str(name)
    if not text or text.startswith(".") or Path(text).name != text or "\\" in text:
        raise InputError(f"{where} {text!r}: expected a plain name like 'breakeven' (no '/', "
                         "no '..', no leading '.')")
    return text


def _show(path: str | Path) -> str:
    """A path for a message: printable on any terminal (undecodable bytes escaped)."""
    return os.fsdecode(os.fspath(path)).encode("utf-8", "backslashreplace").decode("utf-8")


def _not_a_folder(path: Path, resolved: Path, flag: str) -> None:
    """Refuse a path that is, or lies under, something other than a folder."""
    probe = resolved
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe == resolved and not resolved.is_dir():
        kind = "a file, not a folder" if resolved.is_file() else "not a regular folder"
        raise InputError(f"{flag} {_show(path)}: exists and is {kind}; {ALLOWED}")
    if not probe.is_dir():
        raise InputError(f"{flag} {_show(path)}: {probe} is a file, not a folder; {ALLOWED}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {_show(path)}: cannot write in {probe} (permission denied or "
                         "read-only filesystem)")


def owned_names(folder: Path) -> set[str] | None:
    """The names amxmodel wrote in ``folder`` (marker or legacy record), None if none."""
    marker = folder / MARKER
    if marker.is_file() and not marker.is_symlink():
        try:
            data = json.loads(marker.read_text(encoding="utf-8")[:1_000_000])
            names = data["files"]
            if data.get("written_by") == "amxmodel" and all(isinstance(n, str) for n in names):
                return {n for n in names if n and "/" not in n and n not in (".", "..")}
        except (OSError, ValueError, KeyError, TypeError):
            pass
    for record, names in LEGACY.items():
        path = folder / record
        if path.is_file() and not path.is_symlink():
            try:
                head = path.read_text(encoding="utf-8", errors="replace")[:100_000]
            except OSError:
                continue
            if "package_version:" in head and (record == "sweep.yaml"
                                                 or (folder / "summary.parquet").is_file()):
                return {n for n in names if (folder / n).exists()}
    executed = folder / "01_sync_overhead.ipynb"  # a reports folder of 'amxmodel main'
    if executed.is_file() and not executed.is_symlink():
        try:
            head = executed.read_text(encoding="utf-8", errors="replace")[:1_000_000]
        except OSError:
            head = ""
        if '"papermill"' in head:
            return {p.name for p in folder.iterdir() if MAIN_NAMES.fullmatch(p.name)}
    return None


def _foreign(folder: Path, owned: set[str]) -> list[str]:
    """The entries of ``folder`` amxmodel did not write."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name not in owned and p.name not in (MARKER, LOCK)
                  and not is_temp_name(p.name))


@dataclass
class OutFolder:
    """An output folder held by this process: what amxmodel wrote there, and how to add to it.

    A folder that does not exist yet is created (and locked) only when the first file goes
    in, so a writer that fails before that leaves no trace at all."""

    path: Path
    flag: str
    owned: set[str] = field(default_factory=set)
    created: bool = False
    lock: bool = True
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    _ready: bool = False

    def ensure(self) -> Path:
        """Create and lock the folder (once); clear temporary files a killed writer left."""
        if not self._ready:
            resolved = self.path.resolve()
            self.created = not resolved.exists()
            try:
                resolved.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"{self.flag} {_show(self.path)}: cannot create folder: "
                                 f"{exc.strerror or exc}") from None
            self._stack.enter_context(_held(resolved, self.flag, self.lock))
            self._ready = True
            for p in resolved.iterdir():
                if is_temp_name(p.name):
                    _remove(p)
        return self.path

    def claim(self, names: Iterable[str]) -> None:
        """Refuse before any work if one of ``names`` is a file amxmodel did not write."""
        for name in names:
            target = self.path / name
            if os.path.lexists(target) and name not in self.owned:
                raise InputError(f"{self.flag} {_show(self.path)}: would replace {name}, which "
                                 "amxmodel did not write; move it away or choose another "
                                 "folder (not even --force replaces it)")

    def own(self, names: Iterable[str]) -> None:
        """Record ``names`` in the marker (before they appear, so a kill leaves them owned)."""
        from amxmodel.common.atomicio import write_text

        self.ensure()
        self.owned |= set(names) | (owned_names(self.path) or set())  # others may have added
        write_text(self.path / MARKER, json.dumps(
            {"written_by": "amxmodel", "files": sorted(self.owned)}, indent=1) + "\n")

    def write_text(self, name: str, text: str) -> Path:
        """Write one text file ``name`` whole: claimed first (never over a file amxmodel did
        not write), owned before it appears."""
        from amxmodel.common.atomicio import write_text

        self.claim([name])
        self.own([name])
        return write_text(self.path / name, text)

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A temporary folder inside the target (removed whatever happens)."""
        self.ensure()
        tmp = Path(tempfile.mkdtemp(prefix=f".stage{TMP_MARK}", dir=self.path))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def install(self, staged: Path, names: list[str]) -> list[Path]:
        """Move ``names`` from ``staged`` into the folder, in that order; return their paths."""
        self.claim(names)
        for name in names:
            target = self.path / name
            if os.path.lexists(target) and (target.is_symlink() or not target.is_file()):
                raise InputError(f"{self.flag} {_show(self.path)}: {name} is not a regular "
                                 "file where amxmodel writes one; move it away")
        self.own(names)
        for name in names:
            os.replace(staged / name, self.path / name)
        return [self.path / n for n in names]


@contextlib.contextmanager
def output_folder(path: str | Path, flag: str, force: bool = False,
                  lock: bool = True) -> Iterator[OutFolder]:
    """Hold the output folder ``path`` under the rule of the module docstring: checked now,
    locked now if it exists, created and locked when the first file goes in otherwise."""
    given = Path(os.path.abspath(Path(path).expanduser()))
    resolved = check_out_dir(path, flag)
    _not_a_folder(Path(path), resolved, flag)
    owned = owned_names(resolved) if resolved.is_dir() else None
    if resolved.is_dir():
        if any(resolved.joinpath(n).exists() and n not in (owned or ())
               for n in PROJECT_CHILDREN):
            found = [n for n in PROJECT_CHILDREN if resolved.joinpath(n).exists()]
            raise InputError(f"{flag} {_show(path)}: holds {', '.join(found)}: a project folder, "
                             f"not an output folder; {ALLOWED}")
        foreign = _foreign(resolved, owned or set())
        if foreign and owned is None and not force:
            raise InputError(f"{flag} {_show(path)}: holds files amxmodel did not write (e.g. "
                             f"{foreign[0]}); {ALLOWED}; --force writes beside them (never "
                             "deleting them)")
    folder = OutFolder(given, flag, set(owned or ()), lock=lock)
    try:
        with folder._stack:
            if resolved.is_dir():
                folder.ensure()
            yield folder
    except BaseException:
        if folder.created:
            _remove_if_only_ours(resolved)
        raise


@contextlib.contextmanager
def _held(folder: Path, flag: str, lock: bool) -> Iterator[None]:
    """``folder/.lock`` held exclusively (or nothing when ``lock`` is False or the parent
    process holds it for us: ``$AMXMODEL_HELD_OUT``, set by ``amxmodel main`` for the
    notebook it executes)."""
    if not lock or os.environ.get(HELD_ENV) == str(folder):
        yield
        return
    try:  # the folder itself is locked: no lock file to leave behind
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise InputError(f"{flag} {folder}: cannot open the folder: "
                         f"{exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise InputError(f"{flag} {folder}: another amxmodel process is writing this "
                                 "folder; wait for it or choose another") from None
            raise
        yield
    finally:
        os.close(fd)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _remove_if_only_ours(folder: Path) -> None:
    """Remove a folder this writer created when it holds nothing but bookkeeping."""
    try:
        rest = [p for p in folder.iterdir()
                if p.name not in (MARKER, LOCK) and not is_temp_name(p.name)]
        if rest:
            return
        for p in folder.iterdir():
            _remove(p)
        folder.rmdir()
    except OSError:
        pass


def check_out_file(path: str | Path, flag: str, force: bool, suffixes: tuple[str, ...],
                   mine: str, allowed_in: Path | None = None) -> Path:
    """A single output file: outside the project (except ``allowed_in``), in an existing
    folder, not a folder itself; an existing file is replaced only with ``force`` and only
    when its first line contains ``mine`` (amxmodel wrote it)."""
    p = Path(path)
    if p.suffix not in suffixes:
        raise InputError(f"{flag} {_show(p)}: must end in {' or '.join(suffixes)}")
    try:
        parent = p.parent.expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        raise InputError(f"{flag} {_show(p)}: cannot resolve: {exc}") from None
    if allowed_in is None or parent != allowed_in.resolve():
        check_out_dir(parent / p.name, flag)
    if not parent.is_dir():
        raise InputError(f"{flag} {_show(p)}: no such folder '{_show(p.parent)}'")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {_show(p)}: cannot write in {parent} (permission denied or "
                         "read-only filesystem)")
    if os.path.lexists(p):
        if p.is_symlink() or not p.is_file():
            raise InputError(f"{flag} {_show(p)}: exists and is not a regular file; "
                             "allowed: a new file or one amxmodel wrote")
        if not force:
            raise InputError(f"{flag} {_show(p)}: exists; give --force to replace it")
        try:
            with open(p, encoding="utf-8", errors="replace") as fh:
                first = fh.readline(1000)
        except OSError as exc:
            raise InputError(f"{flag} {_show(p)}: cannot read: {exc.strerror}") from None
        if mine not in first:
            raise InputError(f"{flag} {_show(p)}: exists and amxmodel did not write it; "
                             "not even --force replaces it: choose another name")
    return p
