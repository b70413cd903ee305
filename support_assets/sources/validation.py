"""Checks every page the support API sends before dlt extracts a record from it.

A `ResponseValidator` is one of rest_api's `response_actions` (a callable: a response hook
that runs before dlt reads the records), on every resource whatever its paginator: a 2xx answer
must be a JSON object with a list under the resource's `data_selector`, and every record must
fit the declared schema (schema.py). Where the paginator reads a total (`total_field`: offset
pagination's record count; `pages_total_field`: page-number pagination's page count), it must be
there and be a non-negative integer, and a record count must agree with the page's records.
Anything else raises `BadApiResponse` during extraction, so dlt stops before normalize and load
and the warehouse keeps what it had. Messages name the problem, the endpoint, the page (offset
or page number) and (for a record) the field and the record's id; they never quote the body,
which holds customer data.
"""

import datetime
from collections import deque
from functools import partial
from operator import is_not, itemgetter
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from dlt.common import jsonpath
from dlt.common.data_types.type_helpers import coerce_value, py_type_to_sc_type

from .schema import TableSchema


# JSON value types that dlt stores in a column of each data type as they are, without coercion:
# a page whose values all are (or are null) needs no per-record check (`_plainly_valid`).
AS_IS: dict[str, tuple[type, ...]] = {
    "bigint": (int,),
    "double": (float, int),
    "bool": (bool,),
    "text": (str,),
}


class BadApiResponse(ValueError):
    """The API answered 2xx with a body that cannot be loaded as it is."""


class SchemaViolation(BadApiResponse):
    """A record does not fit the declared schema: a required field is null or missing,
    or a value does not fit its column's type."""


def _kind(value: Any) -> str:
    """The kind of a JSON value in words, never the value itself."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    try:
        return py_type_to_sc_type(type(value))
    except TypeError:
        return type(value).__name__


def _fits(data_type: Optional[str], value: Any) -> bool:
    """Whether dlt can store `value` in a column of `data_type` (dlt's own coercion rules:
    "42" fits a bigint, 1.5 or "abc" does not)."""
    if data_type is None or value is None:
        return True
    if isinstance(value, (dict, list)):
        return data_type == "json"
    if data_type == "timestamp" and type(value) is str:
        try:  # the common ISO-8601 case, 30x faster than dlt's general parser
            datetime.datetime.fromisoformat(value)
            return True
        except ValueError:
            pass
    try:
        from_type = py_type_to_sc_type(type(value))
        if from_type != data_type:
            coerce_value(data_type, from_type, value)  # type: ignore[arg-type]
    except (ValueError, TypeError, ArithmeticError):
        return False
    return True


_not_none = partial(is_not, None)


def _plain(values: Any, data_type: Optional[str], as_is: tuple[type, ...], nullable: bool) -> bool:
    """Every value (a sequence) is null (where allowed) or of a type stored as is; timestamps
    must be ISO 8601 strings that Python parses."""
    if not nullable and None in values:
        return False
    types = set(map(type, values)) - {type(None)}
    if data_type == "timestamp":
        if not types <= {str}:
            return False
        try:
            deque(map(datetime.datetime.fromisoformat, filter(_not_none, values)), maxlen=0)
        except ValueError:
            return False
        return True
    return bool(as_is) and types <= set(as_is)


class ResponseValidator:
    """A requests response hook validating one endpoint's pages against its schema.

    `data_selector` is where the records are (rest_api's, a key or a JSONPath); `total_field`
    the record count an offset paginator reads (None: the paginator reads none); `offset_param`
    and `limit_param` its query parameters; `pages_total_field` the page count a page-number
    paginator reads; `page_param` names the page in errors."""

    def __init__(
        self,
        endpoint: str,
        schema: TableSchema,
        primary_key: str = "id",
        *,
        data_selector: str = "data",
        total_field: Optional[str] = "total",
        offset_param: str = "offset",
        limit_param: str = "limit",
        pages_total_field: Optional[str] = None,
        page_param: Optional[str] = None,
    ) -> None:
        self.endpoint = endpoint
        self.schema = schema
        self.primary_key = primary_key
        self.data_selector = data_selector
        self._selector = None if data_selector.isidentifier() else jsonpath.compile_path(data_selector)
        self.total_field = total_field
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.pages_total_field = pages_total_field
        self.page_param = page_param
        prefixes = tuple(f"{name}__" for name in schema.objects)
        # Top-level scalar columns, and flattened object columns as (object, key, column).
        self.scalars = {
            name: hint.get("data_type")
            for name, hint in schema.columns.items()
            if not name.startswith(prefixes)
        }
        self.flattened = [
            (obj, name[len(obj) + 2 :], hint.get("data_type"))
            for obj in schema.objects
            for name, hint in schema.columns.items()
            if name.startswith(f"{obj}__")
        ]
        self.required = [n for n in schema.required if n in self.scalars and n != primary_key]
        # (column, data type, types stored as is) for the column-wise check.
        self.scalar_checks = [(n, t, AS_IS.get(t or "", ())) for n, t in self.scalars.items()]
        self.flattened_checks = [(o, f, t, AS_IS.get(t or "", ())) for o, f, t in self.flattened]
        self.list_checks = [
            (n, h.get("data_type"), AS_IS.get(h.get("data_type") or "", ()))
            for n, h in schema.lists.items()
        ]
        # The top-level fields the column-wise check reads, and all of them from a record at once.
        self.fields = list(dict.fromkeys([*self.scalars, *schema.objects, *schema.lists]))
        self.values_of = itemgetter(*self.fields) if len(self.fields) > 1 else None

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> None:
        if not 200 <= response.status_code < 300:
            return  # HTTP errors belong to dlt's status check and the retry rules
        where, offset, limit = self._where(response)
        body = self._body(response, where)
        data = self._data(body, where)
        if self.total_field is not None:
            self._total(body, len(data), offset, limit, where)
        if self.pages_total_field is not None:
            self._count(body, self.pages_total_field, where)
        if self._plainly_valid(data):
            return
        for index, record in enumerate(data):  # finds and names the problem, if there is one
            self._check_record(record, index, where)

    def _plainly_valid(self, data: list) -> bool:
        """Whether every record fits the schema with no value dlt would have to coerce, checked
        a column at a time (3x faster than record by record). False sends the page through the
        per-record checks, which raise naming the record, or accept what dlt can coerce."""
        if not set(map(type, data)) <= {dict}:
            return False
        columns = self._columns(data)
        for name, data_type, as_is in self.scalar_checks:
            nullable = name != self.primary_key and name not in self.required
            if not _plain(columns[name], data_type, as_is, nullable):
                return False
        for obj in self.schema.objects:
            if not set(map(type, columns[obj])) <= {dict, type(None)}:
                return False
        for obj, field, data_type, as_is in self.flattened_checks:
            if not _plain([(o or {}).get(field) for o in columns[obj]], data_type, as_is, True):
                return False
        for name, data_type, as_is in self.list_checks:
            values = columns[name]
            if not set(map(type, values)) <= {list, type(None)}:
                return False
            if data_type and not _plain([i for v in values if v for i in v], data_type, as_is, True):
                return False
        return True

    def _columns(self, data: list[dict]) -> dict[str, Any]:
        """Each field's values in the records' order (None where a record lacks it): taken out of
        every record in one call, or field by field when a record lacks one."""
        if self.values_of is not None and data:
            try:
                return dict(zip(self.fields, zip(*map(self.values_of, data))))
            except KeyError:
                pass
        return {name: [r.get(name) for r in data] for name in self.fields}

    # --- the page -----------------------------------------------------------------

    def _where(self, response: Any) -> tuple[str, int, Optional[int]]:
        """("<endpoint> (GET <path>, offset <n>)", offset, limit) of the request; the page
        number instead of the offset for page-number pagination, neither for next links."""
        request = response.request
        query = parse_qs(urlsplit(request.url).query)
        path = request.path_url.split("?")[0]  # no query string: it holds the key
        if self.total_field is None:
            page = query.get(self.page_param or "page", [""])[0] if self.page_param else ""
            return f"{self.endpoint} (GET {path}{f', page {page}' if page else ''})", 0, None
        try:
            offset = int(query.get(self.offset_param, ["0"])[0] or 0)
            limit = int(query[self.limit_param][0]) if query.get(self.limit_param) else None
        except ValueError:
            offset, limit = 0, None
        return f"{self.endpoint} (GET {path}, offset {offset})", offset, limit

    def _data(self, body: Any, where: str) -> list:
        """The page's records, under the data selector; a clear error if they are not a list."""
        name = self.data_selector
        if not isinstance(body, dict):
            raise BadApiResponse(f"{where}: the body is {_kind(body)}, not an object with `{name}`")
        if self._selector is None:
            if name not in body:
                raise BadApiResponse(f"{where}: the body has no `{name}` list")
            data = body[name]
        else:
            found = jsonpath.find_values(self._selector, body)
            if not found:
                raise BadApiResponse(f"{where}: the body has no `{name}` list")
            data = found[0] if len(found) == 1 else found
        if not isinstance(data, list):
            raise BadApiResponse(f"{where}: `{name}` is {_kind(data)}, not a list")
        return data

    def _count(self, body: dict, field: str, where: str) -> int:
        """A count the paginator reads: present, and a non-negative integer."""
        if field not in body:
            raise BadApiResponse(f"{where}: the body has no `{field}`, so the sync cannot know it is complete")
        count = body[field]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise BadApiResponse(f"{where}: `{field}` is not a non-negative integer (it is {_kind(count)})")
        return count

    def _body(self, response: Any, where: str) -> Any:
        if not response.content.strip():
            raise BadApiResponse(f"{where}: the response body is empty (HTTP {response.status_code})")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if "html" in media_type:
            raise BadApiResponse(
                f"{where}: the response is an HTML page ({media_type}), not JSON: an error page"
                " from a proxy or gateway?"
            )
        try:
            # The body decides, not the label: some APIs send JSON as text/plain.
            return response.json()
        except ValueError as exc:  # requests' JSONDecodeError; its text would quote the body
            position = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
            reason = getattr(exc, "msg", "invalid JSON")
            label = f", Content-Type {media_type}" if media_type else ""
            raise BadApiResponse(
                f"{where}: the body is not valid JSON ({reason}{position}{label})"
            ) from None

    def _total(self, body: dict, count: int, offset: int, limit: Optional[int], where: str) -> int:
        assert self.total_field is not None
        total = self._count(body, self.total_field, where)
        if limit is not None and count > limit:
            raise BadApiResponse(f"{where}: the page holds {count} records, more than the limit of {limit}")
        if offset + count > total:
            raise BadApiResponse(
                f"{where}: `{self.total_field}` is {total}, but this page holds {count} records starting at"
                f" offset {offset}"
            )
        if limit is not None and count < limit and offset + count < total:
            raise BadApiResponse(
                f"{where}: `{self.total_field}` is {total}, but this page ends early with {count} of the"
                f" {limit} records requested; records would be missed"
            )
        return total

    # --- one record ---------------------------------------------------------------

    def _check_record(self, record: Any, index: int, where: str) -> None:
        ordinal = f"record {index + 1} of the page"
        if not isinstance(record, dict):
            raise SchemaViolation(f"{where}: {ordinal} is {_kind(record)}, not an object")
        key = self.primary_key
        id_ = record.get(key)
        if id_ is None:
            missing = "is null" if key in record else "is missing"
            raise SchemaViolation(f"{where}: {ordinal} has no `{key}` (it {missing})")
        if isinstance(id_, (dict, list, bool)) or not _fits(self.scalars.get(key), id_):
            raise SchemaViolation(
                f"{where}: {ordinal}: `{key}` is {_kind(id_)}, not {self.scalars.get(key) or 'a scalar'}"
            )
        ref = f"record {key}={str(id_)[:64]}"

        for name in self.required:
            if record.get(name) is None:
                state = "null" if name in record else "missing"
                raise SchemaViolation(f"{where}: {ref}: `{name}` is {state}; the schema declares it not null")
        for name, data_type in self.scalars.items():
            value = record.get(name)
            if value is not None and not _fits(data_type, value):
                raise SchemaViolation(
                    f"{where}: {ref}: `{name}` is {_kind(value)}; the schema declares {data_type}"
                )
        for obj in self.schema.objects:
            value = record.get(obj)
            if value is not None and not isinstance(value, dict):
                raise SchemaViolation(
                    f"{where}: {ref}: `{obj}` is {_kind(value)}; the schema declares an object"
                    f" (columns {obj}__*)"
                )
        for obj, field, data_type in self.flattened:
            value = (record.get(obj) or {}).get(field)
            if value is not None and not _fits(data_type, value):
                raise SchemaViolation(
                    f"{where}: {ref}: `{obj}.{field}` is {_kind(value)}; the schema declares {data_type}"
                )
        for name, hint in self.schema.lists.items():
            value = record.get(name)
            if value is None:
                continue
            data_type = hint.get("data_type")
            if not isinstance(value, list):
                raise SchemaViolation(
                    f"{where}: {ref}: `{name}` is {_kind(value)}; the schema declares a list"
                    f" of {data_type or 'any JSON'} (a json column)"
                )
            for item in value if data_type else ():  # items of no declared type: any JSON
                if isinstance(item, (dict, list)) or not _fits(data_type, item):
                    raise SchemaViolation(
                        f"{where}: {ref}: an item of `{name}` is {_kind(item)}; the schema"
                        f" declares a list of {data_type}"
                    )


class Positions:
    """A rest_api `map` step: numbers the records of one sync in the order they arrive,
    in schema.POSITION_COLUMN, so the merge keeps the last copy of a repeated id."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.next = 0

    def __call__(self, record: dict) -> dict:
        record[self.column] = self.next
        self.next += 1
        return record
