"""The fast path from the API's pages to dlt: records handed over as Arrow tables.

dlt normalizes JSON records one at a time in Python (flattening, type coercion, row ids):
at 100,000 tickets that was 4.2 of a sync's 7.8 s. An Arrow table skips that step: dlt
writes it to Parquet during extract and the load imports the file as it is
(docs/performance.md). Two steps on each declared endpoint's rest_api resource do it:

- `PageBatches`, right after the paginator: joins pages into batches of `BATCH_SIZE`
  records, because dlt spends ~4 ms on every item it extracts, whatever its size. A batch
  ends when it is full or when the page's paginator has no next page, so the last records
  are never held back.
- `ArrowRecords`, after every other step (incremental cursor, positions, sync-plan filter):
  turns a batch into one Arrow table typed by the declared schema (schema.py), with the
  columns dlt's normalizer would have made: objects flattened into `<field>__<key>`, lists
  as JSON, a `_dlt_id` per row and the load's `_dlt_load_id`.

The fast path never changes what lands. A batch it cannot type exactly as dlt would (a field
the schema does not declare, a value dlt coerces such as "42" for a bigint, a timestamp
without a zone) goes on as records, through dlt's normalizer as before: the schema evolves and
values are coerced the usual way. Pages are validated (validation.py) before either path.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable, Optional

import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.utils import generate_dlt_ids
from dlt.extract.items_transform import ItemTransform

from .schema import POSITION_COLUMN, TableSchema

# Records per Arrow table: ten tables for 100,000 records, and a bounded buffer (~20 MB).
BATCH_SIZE = 10_000

TIMESTAMP = pa.timestamp("us", tz="UTC")

# dlt data type -> Arrow type. Arrow converts a JSON value only when it has the right type
# (no "42" for a bigint, no 5 for a text): anything else is a value dlt would coerce, and
# the batch goes as records. Values that fit no column never get here: the validator
# (validation.py) has failed the sync on them.
ARROW_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "timestamp": TIMESTAMP,  # ISO 8601 with a zone; without one the batch goes as records
}
# The columns dlt's normalizer adds to a root table, with its hints: the Arrow path makes the
# same ones, and `row_key` is what dlt's merge uses to find a record's child rows (a new list
# field still becomes a child table).
DLT_COLUMNS: dict[str, dict[str, Any]] = {
    "_dlt_load_id": {"data_type": "text", "nullable": False},
    "_dlt_id": {"data_type": "text", "nullable": False, "unique": True, "row_key": True},
}
ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


class _Step(ItemTransform[Any, Any]):
    """An ItemTransform that sees a whole page or batch (dlt's map steps see one record)."""

    def __init__(self) -> None:
        super().__init__(_unused)


def _unused(item: Any) -> Any:
    return item


class PageBatches(_Step):
    """Joins the pages of one pagination into batches of at least `size` records; the last
    batch leaves with the last page. Anything that is not a page passes through."""

    def __init__(self, size: Optional[int] = None) -> None:
        super().__init__()
        self.size = size or BATCH_SIZE
        self.pending: list[Any] = []

    def __call__(self, item: Any, meta: Any = None) -> Optional[list[Any]]:
        paginator = getattr(item, "paginator", None)  # rest_api's PageData
        if paginator is None:
            return item
        self.pending.extend(item)
        if len(self.pending) < self.size and paginator.has_next_page:
            return None  # held: the next page follows
        batch, self.pending = self.pending, []
        return batch


class ArrowRecords(_Step):
    """Turns a batch of records into one Arrow table in the declared schema's columns, or
    passes the batch on as records when it cannot be typed exactly."""

    # dlt keeps its incremental step (affinity 1) behind every other step; this one goes
    # behind it, so the cursor is read from the records as always, and before add_limit (1.1).
    placement_affinity = 1.05

    def __init__(self, schema: TableSchema, load_id: Callable[[], Optional[str]]) -> None:
        super().__init__()
        self.load_id = load_id
        # What the JSON records are read as: objects as structs, timestamps as text.
        read: dict[str, pa.DataType] = {}
        self.out: list[Callable[[pa.Table], pa.ChunkedArray]] = []  # one per output column
        fields = []  # the table handed to dlt: declared types and nullability, dlt's column order
        objects: dict[str, list[pa.Field]] = {obj: [] for obj in schema.objects}  # its declared keys
        for name, hint in schema.columns.items():
            arrow_type = ARROW_TYPES[hint["data_type"]]
            parent = next((o for o in schema.objects if name.startswith(f"{o}__")), None)
            as_read = pa.string() if arrow_type == TIMESTAMP else arrow_type
            if parent is None:
                read[name] = as_read
                self.out.append(_column(name, arrow_type))
            else:
                objects[parent].append(pa.field(name[len(parent) + 2 :], as_read))
                self.out.append(_field_of(parent, name[len(parent) + 2 :], arrow_type))
            fields.append(pa.field(name, arrow_type, nullable=hint.get("nullable", True)))
        for obj, keys in objects.items():
            read[obj] = pa.struct(keys)
        for name, hint in schema.lists.items():
            read[name] = pa.list_(ARROW_TYPES[hint["data_type"]])
            self.out.append(_column(name, read[name]))
            fields.append(pa.field(name, read[name]))
        read[POSITION_COLUMN] = pa.int64()
        self.out.append(_column(POSITION_COLUMN, pa.int64()))
        fields.append(pa.field(POSITION_COLUMN, pa.int64(), nullable=False))
        fields += [pa.field(name, pa.string(), nullable=False) for name in DLT_COLUMNS]
        self.read_schema = pa.schema(list(read.items()))
        # A record's values in the read schema's order, in one call (see `_read`).
        self.values_of = itemgetter(*self.read_schema.names)
        self.arrow_schema = pa.schema(fields)
        self.known = set(read)
        self.object_keys = {obj: {f.name for f in keys} for obj, keys in objects.items()}

    @classmethod
    def supports(cls, schema: TableSchema) -> bool:
        """Whether every declared column has an Arrow type here (undeclared endpoints do not)."""
        hints = [*schema.columns.values(), *schema.lists.values()]
        return bool(schema.columns) and all(h.get("data_type") in ARROW_TYPES for h in hints)

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if not isinstance(item, list) or not item:
            return item
        load_id = self.load_id()
        if load_id is None:
            return item  # iterated outside a pipeline (e.g. `list(resource)`): records, as dlt gives
        table = self.to_arrow(item, load_id)
        return item if table is None else table

    def to_arrow(self, records: list[dict], load_id: str) -> Optional[pa.Table]:
        """The batch as an Arrow table, or None if it holds anything not typed exactly."""
        if not self.known.issuperset(set().union(*records)):
            return None  # a new field: dlt's normalizer adds the column and reports it
        for obj, keys in self.object_keys.items():
            if not keys.issuperset(set().union(*[v for r in records if (v := r.get(obj))])):
                return None
        try:
            read = self._read(records)
            columns = [make(read) for make in self.out]
        except ARROW_ERRORS:
            return None  # e.g. "42" for a bigint: dlt's normalizer coerces it, as before
        rows = len(records)
        columns.append(pa.array([load_id] * rows, pa.string()))
        columns.append(pa.array(generate_dlt_ids(rows), pa.string()))
        return pa.Table.from_arrays(columns, schema=self.arrow_schema)

    def _read(self, records: list[dict]) -> pa.Table:
        """The records in the read schema, as `pa.Table.from_pylist` reads them (the same
        conversion of each column), with the columns taken out of the records in C rather
        than a Python loop per column (10k records: 37 -> 15 ms). A record without one of
        the fields goes through from_pylist itself, which reads the field as null."""
        try:
            rows = list(map(self.values_of, records))
        except KeyError:
            return pa.Table.from_pylist(records, schema=self.read_schema)
        columns = zip(*rows)
        return pa.Table.from_arrays(
            [pa.array(column, field.type) for column, field in zip(columns, self.read_schema)],
            schema=self.read_schema,
        )


def _column(name: str, arrow_type: pa.DataType) -> Callable[[pa.Table], pa.ChunkedArray]:
    def make(table: pa.Table) -> pa.ChunkedArray:
        column = table.column(name)
        return column if column.type == arrow_type else column.cast(arrow_type)

    return make


def _field_of(obj: str, key: str, arrow_type: pa.DataType) -> Callable[[pa.Table], pa.ChunkedArray]:
    """`obj.key` of a struct column, as dlt flattens it into `<obj>__<key>`."""

    def make(table: pa.Table) -> pa.ChunkedArray:
        column = pc.struct_field(table.column(obj), key)
        return column if column.type == arrow_type else column.cast(arrow_type)

    return make


def current_load_id() -> Optional[str]:
    """The load id of the package dlt is extracting into; None outside a pipeline run."""
    import dlt
    from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable

    try:
        return str(dlt.current.load_package_state()["load_id"])
    except CurrentLoadPackageStateNotAvailable:
        return None
