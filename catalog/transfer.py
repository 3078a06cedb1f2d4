"""Export and import of the whole catalog as the seed YAML (the layout of ``data/``)::

    DIR/services/<id>.yaml    one service each
    DIR/offices/<id>.yaml     one office each
    DIR/stadtteile.yaml       the list of Stadtteile

``export_catalog`` writes the validated records (fields in the schema's order, defaults left out, the
leading comment block of a source file kept, e.g. the sources of ``stadtteile.yaml``). ``import_catalog``
checks every record of DIR through ``catalog.model``'s validation first and lists every problem (file,
record, field) without changing anything; only when all records are valid does it replace the catalog
directory, atomically: the new tree is written beside it and exchanged with it in one step
(``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames in quick succession). A running ``serve``
notices the new directory and takes it without a restart (``catalog.revisions.LiveCatalog.refresh``,
every ``CATALOG_RELOAD_INTERVAL`` seconds); it never reads a half-exchanged tree (it checks that nothing
changed while it read, else it reads again at the next check).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from catalog import CatalogError
from catalog.model import Catalog, Office, Service, Stadtteil, load_catalog, read_yaml

STADTTEILE = "stadtteile.yaml"
RECORD_DIRS: dict[str, type[BaseModel]] = {"services": Service, "offices": Office}


@dataclass(frozen=True)
class Problem:
    """One reason why an import is refused: the file, the record (its id when it has one), the field."""

    file: str
    record: str
    field: str
    message: str

    def line(self) -> str:
        where = f"{self.file}, Eintrag „{self.record}“" if self.record else self.file
        return f"{where}, Feld „{self.field}“: {self.message}" if self.field else f"{where}: {self.message}"


class ImportRefused(CatalogError):
    """The import found bad records and changed nothing; ``problems`` lists each of them."""

    status = 422
    code = "catalog_import_refused"

    def __init__(self, problems: list[Problem]) -> None:
        lines = "\n".join(f"- {p.line()}" for p in problems)
        super().__init__(
            f"Der Import wurde abgebrochen; am Katalog wurde nichts geändert. "
            f"{len(problems)} Problem{'e' if len(problems) != 1 else ''}:\n{lines}"
        )
        self.problems = problems


# -- export -------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Model data as YAML-friendly values: dates stay dates, URLs become text, tuples lists."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool | dt.date):
        return value
    return str(value)


def _header(path: Path | None) -> str:
    """The comment block a seed file starts with (kept on export)."""
    if path is None or not path.exists():
        return ""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line + "\n")
    return "".join(lines)


class _SeedDumper(yaml.SafeDumper):
    """Long texts folded (``>-``) like the hand-written seed files."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = ">" if len(value) > 80 and "\n" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SeedDumper.add_representer(str, _text)


def _dump(data: Any, header: str = "") -> str:
    return header + yaml.dump(data, Dumper=_SeedDumper, allow_unicode=True, sort_keys=False, width=100)


def _usual_mode(path: Path) -> None:
    """mkdtemp makes 0700; the catalog directory gets the mode a plain mkdir would give it."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o777 & ~umask)


def _record(record: BaseModel) -> dict[str, Any]:
    data = _plain(record.model_dump(mode="python", by_alias=True, exclude_defaults=True))
    assert isinstance(data, dict)
    return data


def catalog_files(catalog: Catalog, source_dir: Path | None = None) -> dict[Path, str]:
    """Every file of the seed layout (relative path → YAML text) for ``catalog``."""
    files: dict[Path, str] = {}
    for service in catalog.services.values():
        relative = Path("services") / f"{service.id}.yaml"
        files[relative] = _dump(_record(service), _header(source_dir and source_dir / relative))
    for office in catalog.offices.values():
        relative = Path("offices") / f"{office.id}.yaml"
        files[relative] = _dump(_record(office), _header(source_dir and source_dir / relative))
    if catalog.stadtteile:
        parts = [_record(part) for part in catalog.stadtteile.values()]
        files[Path(STADTTEILE)] = _dump(parts, _header(source_dir and source_dir / STADTTEILE))
    return files


def export_catalog(catalog: Catalog, target: Path, source_dir: Path | None = None) -> list[Path]:
    """Write ``catalog`` into ``target`` (new or empty); return the files written."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CatalogError(
            f"{target} ist nicht leer. Bitte geben Sie ein neues oder leeres Verzeichnis an, "
            "damit nichts überschrieben wird."
        )
    files = catalog_files(catalog, source_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    try:
        _write_tree(staging, files)
        _usual_mode(staging)
        if target.exists():
            target.rmdir()  # empty, checked above
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(target / relative for relative in files)


def _write_tree(root: Path, files: dict[Path, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# -- import: validate everything first ----------------------------------------------------------------------


def _read(path: Path, root: Path, problems: list[Problem]) -> object:
    try:
        return read_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem(_name(path, root), "", "", "die Datei ist kein UTF-8-Text"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (Zeile {mark.line + 1})" if mark is not None else ""
        problems.append(Problem(_name(path, root), "", "", f"kein gültiges YAML{where}"))
    return None


def _name(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def _check(
    model: type[BaseModel], raw: object, file: str, record: str, problems: list[Problem]
) -> BaseModel | None:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        for item in error.errors():
            field = ".".join(str(part) for part in item["loc"]) or "(ganzer Eintrag)"
            problems.append(Problem(file, record, field, item["msg"]))
    return None


def _record_id(raw: object, fallback: str) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
        return str(raw["id"])
    return fallback


def validate_tree(source: Path) -> tuple[dict[Path, str], list[Problem]]:
    """Every file of ``source`` checked; returns the files to import (relative path → text) and the
    problems (empty when all is well). Files outside the seed layout are problems too: an import that
    silently left some out would not be the catalog the editor exported."""
    problems: list[Problem] = []
    files: dict[Path, str] = {}
    if not source.is_dir():
        return {}, [Problem(str(source), "", "", "das Verzeichnis gibt es nicht")]
    records: dict[str, dict[str, BaseModel]] = {name: {} for name in RECORD_DIRS}
    parts: list[Stadtteil] = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        name = str(relative)
        if relative.name.startswith("."):
            continue  # editor backups, .gitkeep
        if len(relative.parts) == 2 and relative.parts[0] in RECORD_DIRS and relative.suffix == ".yaml":
            raw = _read(path, source, problems)
            if raw is None and not any(p.file == name for p in problems):
                problems.append(Problem(name, relative.stem, "", "die Datei ist leer"))
            if raw is None:
                continue
            record_id = _record_id(raw, relative.stem)
            checked = _check(RECORD_DIRS[relative.parts[0]], raw, name, record_id, problems)
            if checked is not None:
                if getattr(checked, "id", None) != relative.stem:
                    problems.append(
                        Problem(name, record_id, "id", f"„{record_id}“ passt nicht zum Dateinamen")
                    )
                records[relative.parts[0]][relative.stem] = checked
        elif name == STADTTEILE:
            raw = _read(path, source, problems)
            if raw is not None and not isinstance(raw, list):
                problems.append(Problem(name, "", "", "erwartet wird eine Liste von Stadtteilen"))
                raw = None
            seen: set[str] = set()
            for index, item in enumerate(raw or []):
                record_id = _record_id(item, f"#{index + 1}")
                part = _check(Stadtteil, item, name, record_id, problems)
                if isinstance(part, Stadtteil):
                    if part.id in seen:
                        problems.append(Problem(name, record_id, "id", "kommt doppelt vor"))
                    seen.add(part.id)
                    parts.append(part)
        else:
            problems.append(
                Problem(
                    name,
                    "",
                    "",
                    f"gehört nicht zum Katalog (erwartet: services/*.yaml, offices/*.yaml, {STADTTEILE})",
                )
            )
            continue
        files[relative] = path.read_text(encoding="utf-8", errors="replace")
    offices = records["offices"]
    for service_id, service in records["services"].items():
        office = getattr(service, "office", None)
        if office and office not in offices:
            problems.append(
                Problem(f"services/{service_id}.yaml", service_id, "office", f"unbekanntes Amt „{office}“")
            )
    if not records["services"] and not any(p.file.startswith("services/") for p in problems):
        problems.append(Problem("services/", "", "", "keine Dienste gefunden"))
    if not problems:
        try:  # the loader itself is the final word on what the bot accepts
            load_catalog(source)
        except CatalogError as error:
            problems.append(Problem(str(source), "", "", error.message))
    return files, problems


# -- import: replace the directory in one step --------------------------------------------------------------


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2`` with RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    if result == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system or kernel cannot
        return False
    raise OSError(errno, os.strerror(errno), str(first))


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.import-", dir=target.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def import_catalog(source: Path, target: Path) -> Catalog:
    """Replace the catalog in ``target`` by the one in ``source``, or change nothing (ImportRefused).

    Files in ``target`` that are not part of the seed layout are kept."""
    files, problems = validate_tree(source)
    if problems:
        raise ImportRefused(problems)
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _staging(target) as staging:
        new = staging / "catalog"
        new.mkdir()
        if target.is_dir():  # keep what is not catalog content (a README, .gitkeep)
            for path in target.rglob("*"):
                relative = path.relative_to(target)
                keep = path.is_file() and not (
                    str(relative) == STADTTEILE
                    or (
                        len(relative.parts) == 2
                        and relative.parts[0] in RECORD_DIRS
                        and relative.suffix == ".yaml"
                    )
                )
                if keep:
                    (new / relative).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, new / relative)
        _write_tree(new, files)
        catalog = load_catalog(new)  # what is about to go live loads
        if target.exists():
            if not _exchange(new, target):
                old = staging / "old"
                target.rename(old)
                new.rename(target)
        else:
            new.rename(target)
    return catalog
