"""Loopback HTTP server: the fake support API plus a control API for tests in other processes.

API (query api_key required on every route, else 401):
    GET /v1/resource          tickets, offset/limit
    GET /v1/customers         customers: offset/limit as tickets, or page numbers with `page`
        ?limit=100 (max 1000) &offset=0 [&updated_since=ISO] [&updated_before=ISO]
        -> {"data": [...], "total": matching, "offset": o, "limit": l}
        /v1/customers?page=1 &per_page=100 (max 1000) [&updated_since=...] [&updated_before=...]
        -> {"data": [...], "page": p, "per_page": n, "total": matching, "total_pages": pages}
    GET /v1/agents            agents, a next link in the body
        ?limit=100 (max 1000) [&cursor=opaque]
        -> {"data": [...], "next": "http://<Host>/v1/agents?limit=..&cursor=.." | null}
    GET /v1/resource/{ticket_id}/comments   a ticket's comments (404 for an unknown ticket)
        ?per_page=100 (max 1000) &page=1
        -> {"data": [...]} and, unless on the last page,
           Link: <http://<Host>/v1/resource/{ticket_id}/comments?per_page=..&page=..>; rel="next"
    Next links repeat the request's parameters except api_key: clients add their key again.
Control (no key, loopback clients only):
    POST /_sandbox/records/<endpoint>  {"add": n | {fields}} | {"update": {"id", "fields"}}
                                       | {"delete": id}
                                       | {"soft_delete": {"id", "field", "value"}}
                                       | {"insert_at": position, "count": n}
    POST /_sandbox/records/ticket_comments  {"add": {"ticket_id": id, fields...}}
    POST /_sandbox/faults              a Fault as JSON (body as a string; path may be a pattern)
    POST /_sandbox/drift               a Drift as JSON: change the data after page k is served
    GET  /_sandbox/requests            the request log (path, params, status, records),
                                       api_key values masked
    POST /_sandbox/reset-log
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import math
import re
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from fnmatch import fnmatchcase
from urllib.parse import parse_qsl, urlencode, urlsplit

from .data import CUSTOMER_IDS, DEFAULT_AGENTS, ENDPOINT_PATHS
from .faults import Drift, DriftSchedule, Fault, FaultQueue
from .store import CommentStore, RecordStore

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_ROUTES = {path: endpoint for endpoint, path in ENDPOINT_PATHS.items()}
_RECORDS_PREFIX = "/_sandbox/records/"
_COMMENTS = re.compile(r"/v1/resource/(\d+)/comments")


class _BadRequest(ValueError):
    """A query parameter the API rejects with 400; the message is the error body."""


def _int(params: dict[str, str], name: str, default: int, minimum: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None
    if value < minimum:
        raise _BadRequest(f"{name} must be >= {minimum}")
    return value


def _cursor(after: int) -> str:
    """Opaque to clients; here the id of the last record served."""
    return base64.urlsafe_b64encode(f"after:{after}".encode()).decode().rstrip("=")


def _after(cursor: str) -> int:
    try:
        kind, _, after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        if kind == "after":
            return int(after)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise _BadRequest("invalid cursor")


@dataclass(frozen=True)
class ServedRequest:
    method: str
    path: str
    params: dict[str, str]  # query parameters, api_key included
    status: int | None  # None when a fault dropped the connection
    records: int = 0  # records in the response body


class RequestLog:
    """Thread-safe, append-only (until cleared) list of ServedRequest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[ServedRequest] = []

    def append(self, item: ServedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def snapshot(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self):
        return iter(self.snapshot())

    def __getitem__(self, index):
        with self._lock:
            return self._items[index]

    def matching(self, path: str) -> list[ServedRequest]:
        """Requests to this path, or to this fnmatch pattern (e.g. "/v1/resource/*/comments")."""
        return [r for r in self.snapshot() if fnmatchcase(r.path, path)]


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error(message: str) -> bytes:
    return _json({"error": message})


def _fault_response(fault: Fault) -> tuple[int, bytes, str, tuple[tuple[str, str], ...]]:
    """(status, body, content type, extra headers) for a fault that answers."""
    status = fault.status or 200
    headers = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
    if fault.body is None:
        return status, _error(f"injected fault {status}"), "application/json", headers
    return status, fault.body, fault.content_type, headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    disable_nagle_algorithm = True  # header and body writes must not wait on delayed ACKs
    server: _HTTPServer

    def log_message(self, format, *args) -> None:
        pass  # one stderr line per request would flood test output and slow benchmarks

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        # Always drain the body so the next request on this connection parses cleanly.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith("/_sandbox/"):
            self._send(*self._control(url.path, body))
        else:
            self._api(url.path, dict(parse_qsl(url.query, keep_blank_values=True)))

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    # --- API routes -------------------------------------------------------------------

    def _api(self, path: str, params: dict[str, str]) -> None:
        sandbox = self.server.sandbox
        known = path in _ROUTES or _COMMENTS.fullmatch(path) is not None
        fault = sandbox.faults.take(path) if known else None
        delay = sandbox.faults.latency + (fault.delay if fault else 0)
        if delay:
            time.sleep(delay)
        # Log before answering so a client that just got its response sees the entry.
        if fault and fault.drop:
            sandbox.requests.append(ServedRequest(self.command, path, params, None))
            self.close_connection = True
            return
        if fault and (fault.status or fault.body is not None):
            status, body, content_type, headers = _fault_response(fault)
            records = 0
        else:
            status, body, records, headers = sandbox.drifts.serve(
                path, lambda: self._answer(path, params), lambda: sandbox.stores[_ROUTES[path]]
            )
            content_type = "application/json"
        sandbox.requests.append(ServedRequest(self.command, path, params, status, records))
        self._send(status, body, content_type, headers)

    def _answer(self, path: str, params: dict[str, str]) -> tuple[int, bytes, int, tuple]:
        """(status, body, records served, extra headers) of an API request."""
        sandbox = self.server.sandbox
        comments = _COMMENTS.fullmatch(path)
        if path not in _ROUTES and comments is None:
            return 404, _error(f"no route for {path}"), 0, ()
        if self.command != "GET":
            return 405, _error("method not allowed"), 0, ()
        if not hmac.compare_digest(params.get("api_key", "").encode(), sandbox.api_key.encode()):
            return 401, _error("invalid or missing api_key"), 0, ()
        try:
            if comments is not None:
                return self._comments(int(comments.group(1)), path, params)
            if path == ENDPOINT_PATHS["agents"]:
                return self._next_link_page(sandbox.stores["agents"], path, params)
            store = sandbox.stores[_ROUTES[path]]
            if path == ENDPOINT_PATHS["customers"] and "page" in params:
                return self._numbered_page(store, params)
            return self._offset_page(store, params)
        except _BadRequest as exc:
            return 400, _error(str(exc)), 0, ()

    @staticmethod
    def _filtered(store: RecordStore, params: dict[str, str], offset: int, limit: int):
        try:
            return store.page(offset, limit, params.get("updated_since"), params.get("updated_before"))
        except ValueError:
            raise _BadRequest("updated_since and updated_before must be ISO-8601 timestamps") from None

    def _offset_page(self, store: RecordStore, params: dict[str, str]):
        limit = min(_int(params, "limit", DEFAULT_LIMIT, 0), MAX_LIMIT)
        offset = _int(params, "offset", 0, 0)
        records, total = self._filtered(store, params, offset, limit)
        body = b'{"data":[%b],"total":%d,"offset":%d,"limit":%d}' % (
            b",".join(records), total, offset, limit)
        return 200, body, len(records), ()

    def _numbered_page(self, store: RecordStore, params: dict[str, str]):
        per_page = min(_int(params, "per_page", DEFAULT_LIMIT, 1), MAX_LIMIT)
        page = _int(params, "page", 1, 1)
        records, total = self._filtered(store, params, (page - 1) * per_page, per_page)
        body = b'{"data":[%b],"page":%d,"per_page":%d,"total":%d,"total_pages":%d}' % (
            b",".join(records), page, per_page, total, math.ceil(total / per_page))
        return 200, body, len(records), ()

    def _next_link_page(self, store: RecordStore, path: str, params: dict[str, str]):
        limit = min(_int(params, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
        after = _after(params["cursor"]) if "cursor" in params else None
        records, last = store.page_after(after, limit)
        next_url = None if last is None else self._link(path, params, limit=limit, cursor=_cursor(last))
        body = b'{"data":[%b],"next":%b}' % (b",".join(records), _json(next_url))
        return 200, body, len(records), ()

    def _comments(self, ticket_id: int, path: str, params: dict[str, str]):
        per_page = min(_int(params, "per_page", DEFAULT_LIMIT, 1), MAX_LIMIT)
        page = _int(params, "page", 1, 1)
        try:
            records, total = self.server.sandbox.stores["ticket_comments"].page(ticket_id, page, per_page)
        except KeyError:
            return 404, _error(f"no ticket with id {ticket_id}"), 0, ()
        headers = ()
        if page * per_page < total:
            headers = (("Link", f'<{self._link(path, params, per_page=per_page, page=page + 1)}>; rel="next"'),)
        return 200, b'{"data":[%b]}' % b",".join(records), len(records), headers

    def _link(self, path: str, params: dict[str, str], **changes) -> str:
        """Absolute URL of another page of this request, as the client addressed the API
        (Host header). Never with the api_key: the client sends its own with every request."""
        query = {k: v for k, v in params.items() if k != "api_key"} | {k: str(v) for k, v in changes.items()}
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return f"http://{host}{path}?{urlencode(query)}"

    # --- control API ------------------------------------------------------------------

    def _control(self, path: str, body: bytes) -> tuple[int, bytes]:
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return 403, _error("the control API is loopback only")
        sandbox = self.server.sandbox
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return 400, _error("body must be JSON")
        route = (self.command, path)
        if route == ("GET", "/_sandbox/requests"):
            return 200, _json([
                {**asdict(r), "params": {k: "***" if k == "api_key" else v
                                         for k, v in r.params.items()}}
                for r in sandbox.requests
            ])
        if route == ("POST", "/_sandbox/reset-log"):
            sandbox.requests.clear()
            return 200, _json({"ok": True})
        if route == ("POST", "/_sandbox/faults"):
            try:
                sandbox.faults.add(Fault.from_json(payload))
            except (TypeError, ValueError, AttributeError) as exc:  # wrong fields or types
                return 400, _error(f"invalid fault: {exc}")
            return 200, _json({"pending": len(sandbox.faults)})
        if route == ("POST", "/_sandbox/drift"):
            try:
                drift = Drift.from_json(payload)
                if drift.path not in _ROUTES:
                    raise ValueError(f"drifts change a top-level collection, one of {sorted(_ROUTES)}")
                sandbox.drifts.add(drift)
            except (TypeError, ValueError, AttributeError) as exc:
                return 400, _error(f"invalid drift: {exc}")
            return 200, _json({"pending": len(sandbox.drifts)})
        if route == ("POST", _RECORDS_PREFIX + "ticket_comments"):
            return self._add_comment(sandbox.stores["ticket_comments"], payload)
        if self.command == "POST" and path.startswith(_RECORDS_PREFIX):
            store = sandbox.stores.get(path[len(_RECORDS_PREFIX):])
            if store is None:
                return 404, _error(f"no endpoint {path[len(_RECORDS_PREFIX):]!r}")
            return self._mutate(store, payload)
        return 404, _error(f"no control route {self.command} {path}")

    @staticmethod
    def _add_comment(comments: CommentStore, payload) -> tuple[int, bytes]:
        if not (isinstance(payload, dict) and isinstance(payload.get("add"), dict)):
            return 400, _error('expected {"add": {"ticket_id": n, ...fields}}')
        try:
            comment = comments.add(payload["add"])
        except KeyError as exc:
            return 404, _error(f"no ticket with id {exc}")
        except (TypeError, ValueError) as exc:
            return 400, _error(str(exc))
        return 200, _json({"added": [comment["id"]], "record": comment})

    @staticmethod
    def _mutate(store: RecordStore, payload) -> tuple[int, bytes]:
        usage = ('expected {"add": n | {fields}}, {"update": {"id": n, "fields": {...}}}, {"delete": n},'
                 ' {"soft_delete": {"id": n}} or {"insert_at": position, "count": n}')
        if not isinstance(payload, dict):
            return 400, _error(usage)
        try:
            if isinstance(payload.get("add"), (int, dict)):
                added = store.add(payload["add"])
                return 200, _json({"added": [r["id"] for r in added], "total": store.total})
            update = payload.get("update")
            if isinstance(update, dict) and isinstance(update.get("id"), int):
                record = store.update(update["id"], **update.get("fields", {}))
                return 200, _json({"record": record})
            soft = payload.get("soft_delete")
            if isinstance(soft, dict) and isinstance(soft.get("id"), int):
                record = store.soft_delete(soft["id"], soft.get("field", "deleted_at"), soft.get("value"))
                return 200, _json({"record": record})
            if isinstance(payload.get("insert_at"), int):
                added = store.insert_at(payload["insert_at"], int(payload.get("count", 1)))
                return 200, _json({"added": [r["id"] for r in added], "total": store.total})
            if isinstance(payload.get("delete"), int):
                store.delete(payload["delete"])
                return 200, _json({"deleted": payload["delete"], "total": store.total})
        except KeyError as exc:
            return 404, _error(f"no record with id {exc}")
        except (TypeError, ValueError) as exc:  # e.g. a bad updated_at or fields not an object
            return 400, _error(str(exc))
        return 400, _error(usage)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a client holding a connection open must not block exit
    request_queue_size = 128  # parallel clients should queue, not be refused

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer):
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        """Cut open keep-alive connections, whose threads would otherwise keep serving."""
        with self._connections_lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address) -> None:
        # A client hanging up mid-response (timeouts, dropped faults) is not a server bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SandboxServer:
    """The sandbox API in a background thread; use as a context manager or start()/stop().

    records: tickets; customers: 5000 by default, every customer_id a ticket refers to;
    agents: the authors of the agents' comments. Each ticket that exists at the start has
    0-5 generated comments.
    """

    def __init__(self, api_key: str, records: int = 250, customers: int = CUSTOMER_IDS,
                 agents: int = DEFAULT_AGENTS, host: str = "127.0.0.1", port: int = 0):
        if not api_key:
            raise ValueError("api_key must be non-empty")
        self.api_key = api_key
        tickets, agent_store = RecordStore("customer_support_data", records), RecordStore("agents", agents)
        self.stores = {
            "customer_support_data": tickets,
            "customers": RecordStore("customers", customers),
            "agents": agent_store,
            "ticket_comments": CommentStore(tickets, agent_store),
        }
        self.faults = FaultQueue()
        self.drifts = DriftSchedule()
        self.requests = RequestLog()
        self._address = (host, port)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> RecordStore:
        return self.stores["customer_support_data"]

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("sandbox server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            raise RuntimeError("sandbox server is already started")
        self._httpd = _HTTPServer(self._address, self)
        # A short poll interval keeps stop() fast.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="sandbox-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
