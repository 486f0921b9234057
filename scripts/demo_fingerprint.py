"""Fingerprint a demo night's outputs, to show that a refactor left them unchanged.

    .venv/bin/python scripts/demo_fingerprint.py demo-output > after.json
    .venv/bin/python scripts/demo_fingerprint.py --compare before.json after.json

The first form walks the folder that `recover demo --out` wrote (default demo-output: the simulated
book in data/, the night's outputs in queue/) and prints a JSON fingerprint:

- every table (Parquet, CSV, and each sheet of an Excel workbook): its row count, its column list and
  types, and a SHA-256 digest of its rows (in their order) with the volatile columns left out, with
  one digest per column as well so that a difference can be traced to a column;
- every JSON document (manifest.json, review.json): a digest of its content with the volatile keys
  removed at any depth, and that content itself, so that a difference names its key;
- every HTML page (review.html): a digest of its text with the run's volatile values masked;
- the list of every file written, so that an added or a missing output shows.

The volatile set was read off two demo runs of the same commit in two fresh clones: they differ
only in the night's run id (a random UUID: the run_id column of every output table and the run_id
keys), the MLflow run ids of the models (random hex: mlflow_run_id), and the wall-clock timings in
the manifest (timings_seconds, stage_detail_seconds, explain_seconds). Everything else, the MLflow
model versions included, is identical as long as each run starts from an empty state folder (a
fresh clone, or `make clean` first): a second `make demo` in the same tree registers version 2.
Keys of the same kinds that a run may write (generated_at, started/finished, durations) are left out
too, and so is the path of the data source (it names the folder the demo wrote to).

--compare prints the differences between two fingerprints and exits 1 when there is any, 0 when
they are the same. The script needs only pandas, pyarrow and openpyxl (the project's environment),
none of the project's own packages.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

FORMAT = 1

# Columns of the output tables whose values change from run to run of the same code and data.
VOLATILE_COLUMNS = frozenset(
    {
        "run_id",  # the night's random UUID (pipelines.common)
        "mlflow_run_id",
        "generated_at",
        "created_at",
        "started_at",
        "finished_at",
        "duration_seconds",
    }
)
# Keys of the JSON documents (at any depth) whose values change from run to run.
VOLATILE_KEYS = frozenset(
    {
        "run_id",  # the night's random UUID
        "mlflow_run_id",  # MLflow's random run ids of the champion models
        "timings_seconds",  # wall-clock time per stage
        "stage_detail_seconds",
        "explain_seconds",
        "generated_at",
        "created_at",
        "started",
        "finished",
        "started_at",
        "finished_at",
        "duration_seconds",
        "data_source",  # the folder the book was read from: where the demo was asked to write
    }
)
# Pictures in HTML pages (by their alt text) drawn with unseeded random jitter: SHAP's beeswarm
# shuffles its dots, so the same values give other pixels on every run.
VOLATILE_IMAGES = frozenset({"SHAP beeswarm"})
# In HTML pages the run's own ids are masked wherever they appear, and so are any other UUIDs,
# MLflow run ids (32 hex digits) and ISO timestamps with a time of day.
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_HEX_RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")
_TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?\b")
_DATA_URI = re.compile(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+")
_ALT = re.compile(r"""alt=["']([^"']*)["']""")
NULL = "\x00null"


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _table_entry(columns: list[str], types: dict[str, str], values: dict[str, list[str]], rows: int) -> dict:
    kept = [name for name in columns if name not in VOLATILE_COLUMNS]
    column_digests = {name: _digest(values[name]) for name in kept}
    return {
        "rows": rows,
        "columns": columns,
        "types": types,
        "volatile_columns": [name for name in columns if name in VOLATILE_COLUMNS],
        "digest": _digest(f"{name}={column_digests[name]}" for name in kept),
        "column_digests": column_digests,
    }


def _arrow_strings(column, float_digits: int | None) -> list[str]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if float_digits is not None and pa.types.is_floating(column.type):
        return [NULL if v is None else format(v, f".{float_digits}g") for v in column.to_pylist()]
    if pa.types.is_nested(column.type):
        return [NULL if v is None else json.dumps(v, sort_keys=True, default=str) for v in column.to_pylist()]
    try:
        text = pc.cast(column, pa.large_string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return [NULL if v is None else str(v) for v in column.to_pylist()]
    return [NULL if v is None else v for v in text.to_pylist()]


def parquet_entry(path: Path, float_digits: int | None) -> dict:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns = list(table.column_names)
    types = {name: str(table.schema.field(name).type) for name in columns}
    values = {
        name: _arrow_strings(table.column(name), float_digits)
        for name in columns
        if name not in VOLATILE_COLUMNS
    }
    return _table_entry(columns, types, values, table.num_rows)


def _rows_entry(header: list[str], rows: list[list[str]]) -> dict:
    columns = [str(name) for name in header]
    values = {
        name: [row[i] if i < len(row) else NULL for row in rows]
        for i, name in enumerate(columns)
        if name not in VOLATILE_COLUMNS
    }
    return _table_entry(columns, {}, values, len(rows))


def csv_entry(path: Path) -> dict:
    """A CSV's cells are compared as the text written, so a change of number format shows too."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows = list(reader)
    return _rows_entry(header, rows)


def xlsx_entries(path: Path) -> Iterator[tuple[str, dict]]:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in workbook.worksheets:
            cells = [
                [NULL if v is None else v.isoformat() if hasattr(v, "isoformat") else repr(v) for v in row]
                for row in sheet.iter_rows(values_only=True)
            ]
            header = [v if v != NULL else "" for v in (cells[0] if cells else [])]
            header = [h[1:-1] if h.startswith("'") and h.endswith("'") else h for h in header]
            yield sheet.title, _rows_entry(header, cells[1:])
    finally:
        workbook.close()


def strip_volatile(value: Any, found: list[str] | None = None, where: str = "") -> Any:
    """The value without the volatile keys; the paths of those removed are added to `found`."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if key in VOLATILE_KEYS:
                if found is not None:
                    found.append(path)
            else:
                kept[key] = strip_volatile(item, found, path)
        return kept
    if isinstance(value, list):
        return [strip_volatile(v, found, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _volatile_values(value: Any) -> Iterator[str]:
    """The string values under volatile keys: the run's ids, to be masked in its HTML pages."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in VOLATILE_KEYS and isinstance(item, str) and len(item) >= 8:
                yield item
            else:
                yield from _volatile_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _volatile_values(item)


def json_entry(path: Path) -> dict:
    found: list[str] = []
    content = strip_volatile(json.loads(path.read_text(encoding="utf-8")), found)
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {"digest": _digest([canonical]), "volatile_keys_removed": sorted(found), "content": content}


def html_entry(path: Path, masked: set[str]) -> dict:
    """The page's text with its embedded pictures taken out (each digested on its own, by its alt
    text, the volatile ones left out) and the run's ids and timestamps masked."""
    text = path.read_text(encoding="utf-8")
    images: dict[str, str | None] = {}

    def picture(match: re.Match) -> str:
        alt = _ALT.search(text[text.rfind("<", 0, match.start()) : match.start()])
        name = alt.group(1) if alt else ""
        key, n = name, 2
        while key in images:
            key, n = f"{name} ({n})", n + 1
        images[key] = None if name in VOLATILE_IMAGES else _digest([match.group(0)])
        return f"<picture {key}>"

    text = _DATA_URI.sub(picture, text)
    for value in sorted(masked, key=len, reverse=True):
        text = text.replace(value, "<volatile>")
    text = _TIMESTAMP.sub("<timestamp>", _HEX_RUN_ID.sub("<id>", _UUID.sub("<uuid>", text)))
    return {"digest": _digest([text]), "chars": len(text), "images": images}


def fingerprint(out: Path, float_digits: int | None = None) -> dict:
    if not out.is_dir():
        raise SystemExit(f"{out}: not a folder (pass the folder given to `recover demo --out`)")
    files = sorted(p for p in out.rglob("*") if p.is_file())
    rel = {p: p.relative_to(out).as_posix() for p in files}
    tables: dict[str, dict] = {}
    documents: dict[str, dict] = {}
    pages: dict[str, dict] = {}
    masked: set[str] = set()
    for path in files:
        name = rel[path]
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            tables[name] = parquet_entry(path, float_digits)
        elif suffix == ".csv":
            tables[name] = csv_entry(path)
        elif suffix == ".xlsx":
            for sheet, entry in xlsx_entries(path):
                tables[f"{name}#{sheet}"] = entry
        elif suffix == ".json":
            masked.update(_volatile_values(json.loads(path.read_text(encoding="utf-8"))))
            documents[name] = json_entry(path)
    for path in files:
        if path.suffix.lower() in {".html", ".htm"}:
            pages[rel[path]] = html_entry(path, masked)
    return {
        "format": FORMAT,
        "float_digits": float_digits,
        "volatile": {"columns": sorted(VOLATILE_COLUMNS), "keys": sorted(VOLATILE_KEYS)},
        "files": [rel[p] for p in files],
        "tables": tables,
        "documents": documents,
        "pages": pages,
    }


def _json_differences(a: Any, b: Any, where: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            path = f"{where}.{key}" if where else str(key)
            if key not in a:
                yield f"{path}: added {_short(b[key])}"
            elif key not in b:
                yield f"{path}: removed (was {_short(a[key])})"
            else:
                yield from _json_differences(a[key], b[key], path)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _json_differences(x, y, f"{where}[{i}]")
    elif a != b or type(a) is not type(b):
        yield f"{where}: {_short(a)} -> {_short(b)}"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare(a: dict, b: dict, limit: int = 20) -> list[str]:
    """The differences between two fingerprints, one line each (empty when they are the same)."""
    lines: list[str] = []
    for key in ("format", "float_digits", "volatile"):
        if a.get(key) != b.get(key):
            lines.append(f"fingerprint settings differ: {key}: {_short(a.get(key))} -> {_short(b.get(key))}")
    files_a, files_b = set(a.get("files", [])), set(b.get("files", []))
    lines += [f"file removed: {name}" for name in sorted(files_a - files_b)]
    lines += [f"file added: {name}" for name in sorted(files_b - files_a)]
    for section in ("tables", "documents", "pages"):
        sa, sb = a.get(section, {}), b.get(section, {})
        for name in sorted(set(sa) & set(sb)):
            x, y = sa[name], sb[name]
            if section == "tables":
                lines += _table_differences(name, x, y)
            elif x["digest"] != y["digest"]:
                if section == "documents":
                    found = list(_json_differences(x.get("content"), y.get("content")))
                    lines += [f"{name}: {line}" for line in found[:limit]]
                    if len(found) > limit:
                        lines.append(f"{name}: ... and {len(found) - limit} more differences")
                else:
                    lines.append(f"{name}: text differs ({x.get('chars')} -> {y.get('chars')} chars)")
            if section == "pages" and x.get("images") != y.get("images"):
                ix, iy = x.get("images", {}), y.get("images", {})
                changed = sorted(k for k in set(ix) | set(iy) if ix.get(k, "-") != iy.get(k, "-"))
                lines.append(f"{name}: pictures differ: {changed}")
        for name in sorted(set(sa) ^ set(sb)):
            if name.split("#")[0] in files_a ^ files_b:
                continue  # already reported as a file added or removed
            lines.append(f"{name}: {'only in A' if name in sa else 'only in B'}")
    return lines


def _table_differences(name: str, x: dict, y: dict) -> list[str]:
    lines = []
    if x["rows"] != y["rows"]:
        lines.append(f"{name}: rows {x['rows']} -> {y['rows']}")
    if x["columns"] != y["columns"]:
        gone = [c for c in x["columns"] if c not in y["columns"]]
        new = [c for c in y["columns"] if c not in x["columns"]]
        detail = f"removed {gone} " if gone else ""
        detail += f"added {new}" if new else ""
        lines.append(f"{name}: columns differ: {detail or 'same columns, another order'}")
    for column in x["columns"]:
        tx, ty = x.get("types", {}).get(column), y.get("types", {}).get(column)
        if column in y["columns"] and tx != ty:
            lines.append(f"{name}: column {column} type {tx} -> {ty}")
    if x["digest"] != y["digest"]:
        changed = [
            c
            for c, d in x["column_digests"].items()
            if c in y["column_digests"] and y["column_digests"][c] != d
        ]
        lines.append(f"{name}: row content differs" + (f" in columns {changed}" if changed else ""))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, help="the demo's output folder (recover demo --out)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"))
    parser.add_argument(
        "--float-digits",
        type=int,
        default=None,
        help="compare Parquet floats to this many significant digits (default: exactly)",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the fingerprint here instead of stdout")
    args = parser.parse_args(argv)
    if args.compare:
        if args.out is not None:
            parser.error("give either an output folder or --compare A.json B.json")
        a, b = (json.loads(p.read_text(encoding="utf-8")) for p in args.compare)
        lines = compare(a, b)
        if lines:
            print("\n".join(lines))
            print(f"{len(lines)} differences between {args.compare[0]} and {args.compare[1]}")
            return 1
        print(f"no differences: {args.compare[0]} and {args.compare[1]} fingerprint the same outputs")
        return 0
    if args.out is None:
        parser.error("give the demo's output folder, or --compare A.json B.json")
    text = json.dumps(fingerprint(args.out, args.float_digits), indent=1, sort_keys=True, ensure_ascii=False)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
