"""Records as Arrow tables, so that dlt writes Parquet straight from extract and skips its
row-by-row normalizer, which is most of a sync's time (docs/performance.md).

The conversion must not change what lands in the warehouse. A batch of records becomes an
Arrow table only when that table holds exactly the rows and columns dlt's own normalizer
would make of the records, decided with dlt's own rules (naming, nesting level, type
detection, declared and existing column types). Anything else goes on as the records
themselves, to dlt's usual path, batch by batch: a field whose type varies, a list that
dlt would turn into a child table, a null in a not-null column, a key dlt would rename
differently, a timestamp Arrow cannot read. Arrow's own errors quote values, so they are
never raised from here.

Arrow tables cost dlt a schema computation each, so pages are first joined into batches of
`batch_rows` records; the batches still pass every other step of the resource (validation,
incremental) as lists of records, and become Arrow tables at the end of the pipe. The
resource's custom metrics (dlt's extract info) count `arrow_batches` and `record_batches`.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.configuration import resolve_configuration
from dlt.common.destination.configuration import ParquetFormatConfiguration
from dlt.common.normalizers.utils import generate_dlt_ids
from dlt.common.schema import Schema
from dlt.common.schema.utils import autodetect_sc_type
from dlt.extract.items_transform import ItemTransform
from dlt.extract.resource import DltResource
from dlt.normalize.configuration import ItemsNormalizerConfiguration

BATCH_ROWS = 10_000

# dlt's type for an Arrow type the JSON parser can produce.
_DLT_TYPES = {pa.int64(): "bigint", pa.float64(): "double", pa.bool_(): "bool", pa.string(): "text"}
_TIMESTAMP = pa.timestamp("us", "UTC")


class _Unchanged(Exception):
    """This batch cannot be Arrow without changing the result: keep its records."""


def join_pages(pages: Iterator[Any], rows: int) -> Iterator[Any]:
    """Joins consecutive pages of records into lists of at least `rows` records; the
    remainder when the pages end. Anything that is not a list passes through in order."""
    batch: list[Any] = []
    try:
        for item in pages:
            if isinstance(item, list):
                batch.extend(item)
                if len(batch) >= rows:
                    yield batch
                    batch = []
                continue
            if batch:
                yield batch
                batch = []
            yield item
        if batch:
            yield batch
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


class ArrowBatches(ItemTransform[Any, dict[str, Any]]):
    """The last step of a resource's pipe: batches of records in, Arrow tables out.

    When dlt binds the step to the pipe (right after calling the resource's generator), it
    wraps that generator in `join_pages`.
    """

    placement_affinity = 1.5  # after incremental (1) and limit (1.1): they get records

    def __init__(self, resource: DltResource, batch_rows: int = BATCH_ROWS) -> None:
        super().__init__(lambda item: item)
        self.resource = resource
        self.batch_rows = batch_rows
        self.enabled = True
        self.add_row_ids = False
        self._hints: Optional[dict[str, Any]] = None

    def bind(self, pipe: Any) -> "ArrowBatches":
        step = ArrowBatches(self.resource, self.batch_rows)
        # dlt reports the custom metrics of the steps it was given, not of bound copies.
        step._custom_metrics = self._custom_metrics
        self._custom_metrics.update(arrow_batches=0, record_batches=0)
        # Without _dlt_load_id (added by dlt in extract) Arrow rows would make a different
        # table, and without a lossless merge dlt could not write a batch that has a column
        # more than the one before. _dlt_id is added here unless dlt is set to add it in
        # normalize, which rewrites every Parquet file for it.
        ids = resolve_configuration(
            ItemsNormalizerConfiguration(), sections=("normalize", "parquet_normalizer")
        )
        parquet = resolve_configuration(ParquetFormatConfiguration())
        step.enabled = bool(ids.add_dlt_load_id and parquet.arrow_concat_promote_options != "none")
        step.add_row_ids = not ids.add_dlt_id
        if step.enabled and isinstance(pipe.gen, Iterator):
            pipe.replace_gen(join_pages(pipe.gen, self.batch_rows))
        return step

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if not self.enabled or not isinstance(item, list) or not item:
            return item
        if not all(type(record) is dict for record in item):
            return item
        schema = _current_schema()
        hints = self._resource_hints()
        try:
            if self.add_row_ids and not hints["random_row_ids"]:
                raise _Unchanged  # dlt derives them from the key or the row: its own job
            table = _Converter(hints, schema).convert(item)
        except _Unchanged:
            self._custom_metrics["record_batches"] += 1
            return item
        if self.add_row_ids:  # random, as dlt's normalizer makes them here
            row_id = pa.field(schema.naming.normalize_identifier("_dlt_id"), pa.string(), False)
            table = table.append_column(row_id, pa.array(generate_dlt_ids(table.num_rows)))
        self._custom_metrics["arrow_batches"] += 1
        return table

    def _resource_hints(self) -> dict[str, Any]:
        """The resource's table name, declared columns and nesting, as dlt extracts it
        (hints applied after this step was added included)."""
        if self._hints is None:
            try:
                resource = dlt.current.resource()
            except Exception:  # iterated outside a pipeline
                resource = self.resource
            table = resource.compute_table_schema()
            self._hints = {
                "table_name": table["name"],
                "columns": table.get("columns", {}),
                "max_nesting": resource.max_table_nesting,
                # dlt's row ids are random but for the upsert, insert-only, cdc and scd2
                # merge strategies (normalizers.json.helpers.get_root_row_id_type)
                "random_row_ids": table.get("write_disposition") != "merge"
                or table.get("x-merge-strategy", "delete-insert") == "delete-insert",
            }
        return self._hints


def _current_schema() -> Schema:
    try:
        return dlt.current.source_schema()
    except Exception:  # iterated outside a pipeline: dlt's defaults
        return Schema("support_api")


class _Converter:
    def __init__(self, hints: dict[str, Any], schema: Schema) -> None:
        self.schema = schema
        self.naming = schema.naming
        table = schema.tables.get(schema.naming.normalize_table_identifier(hints["table_name"])) or {}
        # Existing columns win over the resource's declarations, as in dlt's normalizer.
        self.columns = {**hints.get("columns", {}), **table.get("columns", {})}
        nesting = table.get("x-normalizer", {}).get("max_nesting", hints.get("max_nesting"))
        if nesting is None:
            config = schema._normalizers_config.get("json", {}).get("config") or {}
            nesting = config.get("max_nesting", 1000)
        self.max_nesting = nesting

    def convert(self, records: list[dict[str, Any]]) -> pa.Table:
        keys = dict.fromkeys(records[0])
        if any(record.keys() != keys.keys() for record in records):
            keys = dict.fromkeys(key for record in records for key in record)
        try:
            if len(keys) == len(records[0]):
                table = pa.Table.from_pylist(records)
            else:  # from_pylist takes the columns of the first record only
                table = pa.Table.from_pydict({k: [r.get(k) for r in records] for k in keys})
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            raise _Unchanged from None
        names: list[str] = []
        arrays: list[pa.Array] = []
        for key, column in zip(table.column_names, table.columns):
            self._column(records, (key,), column.combine_chunks(), self.max_nesting, names, arrays)
        if len(set(names)) != len(names):
            raise _Unchanged
        fields = [
            pa.field(name, array.type, nullable=self._nullable(name))
            for name, array in zip(names, arrays)
        ]
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def _column(
        self,
        records: list[dict[str, Any]],
        path: tuple[str, ...],
        array: pa.Array,
        level: int,
        names: list[str],
        arrays: list[pa.Array],
    ) -> None:
        if any(not part or part.isspace() or "__" in part for part in path):
            raise _Unchanged  # dlt renames empty keys and reads "__" as a path
        name = self.naming.shorten_fragments(*(self.naming.normalize_identifier(p) for p in path))
        if self.naming.normalize_path(name) != name:
            raise _Unchanged
        kind = array.type
        nested = pa.types.is_struct(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)
        if nested and not self._is_json(name, level):
            if not pa.types.is_struct(kind):
                raise _Unchanged  # dlt makes a child table of a list
            for index, child in enumerate(array.flatten()):  # keeps the parent's nulls
                child_path = (*path, kind.field(index).name)
                self._column(records, child_path, child, level - 1, names, arrays)
            return
        if pa.types.is_null(kind):
            if not self._nullable(name):
                raise _Unchanged  # dlt's normalizer reports the null
            return  # a column with no value yet: dlt adds none either
        if nested:
            # Arrow gives every object of a column all the keys seen in it (as nulls): their
            # JSON would differ from the records'. Lists of plain values are exact.
            if "struct" in str(kind) or "null" in str(kind):
                raise _Unchanged
            target = "json"
        else:
            target = self._target_type(records, path, name, kind)
        if target == "timestamp" and pa.types.is_string(kind):
            try:
                array = pc.cast(array, _TIMESTAMP)
            except pa.ArrowException:
                raise _Unchanged from None
        elif target == "double" and pa.types.is_int64(kind):
            array = pc.cast(array, pa.float64())
        elif target != ("json" if nested else _DLT_TYPES.get(kind)):
            raise _Unchanged
        if array.null_count and not self._nullable(name):
            raise _Unchanged
        names.append(name)
        arrays.append(array)

    def _target_type(
        self, records: list[dict[str, Any]], path: tuple[str, ...], name: str, kind: pa.DataType
    ) -> Optional[str]:
        """The type dlt's normalizer gives the column: declared or existing, else inferred
        from its first value (type detection, e.g. ISO timestamps), else preferred by name."""
        column = self.columns.get(name) or {}
        if column.get("data_type"):
            if column.get("precision") is not None or column.get("timezone") is False:
                raise _Unchanged
            return column["data_type"]
        preferred = self.schema.get_preferred_type(name)
        if preferred:
            return preferred
        first = _first_value(records, path)
        detected = autodetect_sc_type(self.schema._type_detections, type(first), first)
        if detected:
            return detected
        if type(first) is int and not pa.types.is_int64(kind):
            raise _Unchanged  # ints first, then floats: dlt would split the column
        return _DLT_TYPES.get(kind)

    def _is_json(self, name: str, level: int) -> bool:
        # dlt.common.normalizers.json.helpers.is_nested_type, with the declared columns too
        if level <= 0:
            return True
        column = self.columns.get(name) or {}
        data_type = column.get("data_type") or self.schema.get_preferred_type(name)
        return data_type == "json"

    def _nullable(self, name: str) -> bool:
        column = self.columns.get(name) or {}
        return column.get("nullable", True) and not column.get("primary_key", False)


def _first_value(records: list[dict[str, Any]], path: tuple[str, ...]) -> Any:
    for record in records:
        value: Any = record
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None
