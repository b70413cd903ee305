"""The config file: the support API's resources in dlt rest_api's vocabulary (support_api.yaml).

`load_endpoints` reads it, applies `resource_defaults` the way rest_api does, and checks what
would otherwise fail late or quietly: a YAML error, a resource without `name` or `path`, an unknown
paginator, a child whose parent is not in the file. Each error names the file, the resource and
the field, and is raised as the code location loads, before any request or write.
"""

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import yaml
from dlt.sources.rest_api.config_setup import PAGINATOR_MAP

from .settings import Endpoint

DEFAULT_CONFIG = Path(__file__).with_name("support_api.yaml")
CONFIG_ENV_VAR = "SUPPORT_API_CONFIG"
# libyaml's C parser where PyYAML has it (its wheels do): the file is read at every load of the
# code location, every run included (docs/performance.md, section 19).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# rest_api's own keys that the project sets itself (client, auth) have no place in the file.
_CLIENT_KEYS = ("client", "auth", "base_url")


class ConfigFileError(ValueError):
    """The config file cannot be used; the message names the file, the resource and the field."""


def config_path() -> Path:
    """SUPPORT_API_CONFIG, or the file shipped in the package."""
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG)


def load_endpoints(path: Union[str, Path, None] = None) -> tuple[Endpoint, ...]:
    """The resources of the config file at `path` (default: config_path()), in file order."""
    path = Path(path) if path is not None else config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        document = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigFileError(f"{path}: YAML error{where}: {problem}") from None
    return endpoints_from_config(document, path)


def endpoints_from_config(document: Any, path: Union[str, Path] = "<config>") -> tuple[Endpoint, ...]:
    """The resources of an already-parsed config document; `path` only names it in errors."""
    if not isinstance(document, Mapping) or not isinstance(document.get("resources"), list):
        raise ConfigFileError(f"{path}: needs a `resources:` list of rest_api resources")
    for key in _CLIENT_KEYS:
        if key in document:
            raise ConfigFileError(
                f"{path}: `{key}` does not belong in the file: the base URL and the key come from"
                " SUPPORT_API_BASE_URL and SUPPORT_API_KEY"
            )
    defaults = document.get("resource_defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ConfigFileError(f"{path}: `resource_defaults` must be a mapping")
    endpoints = []
    for index, entry in enumerate(document["resources"]):
        where = f"{path}: resource #{index + 1}"
        if not isinstance(entry, Mapping):
            raise ConfigFileError(f"{where}: must be a mapping with `name` and `endpoint`")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigFileError(f"{where}: missing `name`")
        endpoints.append(_endpoint(_with_defaults(entry, defaults), f"{path}: resource {name!r}"))
    _check_names_and_parents(endpoints, path)
    return tuple(endpoints)


def _with_defaults(entry: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`resource_defaults` under the resource, one level deep into `endpoint`, as rest_api merges."""
    resource = {**defaults, **entry}
    endpoint = entry.get("endpoint")
    if isinstance(endpoint, str):
        endpoint = {"path": endpoint}
    default_endpoint = defaults.get("endpoint") or {}
    if isinstance(endpoint, Mapping):
        params = {**(default_endpoint.get("params") or {}), **(endpoint.get("params") or {})}
        resource["endpoint"] = {**default_endpoint, **endpoint, **({"params": params} if params else {})}
    return resource


def _endpoint(resource: dict[str, Any], where: str) -> Endpoint:
    endpoint = resource.get("endpoint")
    if not isinstance(endpoint, Mapping) or not isinstance(endpoint.get("path"), str) or not endpoint["path"]:
        raise ConfigFileError(f"{where}: missing `endpoint.path`")
    paginator = endpoint.get("paginator")
    kind = paginator.get("type") if isinstance(paginator, Mapping) else paginator
    if paginator is not None and kind not in PAGINATOR_MAP:
        known = ", ".join(sorted(k for k in PAGINATOR_MAP if k != "json_response"))
        raise ConfigFileError(f"{where}: unknown paginator {kind!r} in `endpoint.paginator` (known: {known})")
    incremental = endpoint.get("incremental")
    if incremental is not None and not (isinstance(incremental, Mapping) and incremental.get("cursor_path")):
        raise ConfigFileError(f"{where}: `endpoint.incremental` needs a `cursor_path`")
    columns = resource.get("columns") or {}
    if not isinstance(columns, Mapping) or not all(isinstance(h, Mapping) for h in columns.values()):
        raise ConfigFileError(f"{where}: `columns` must map each column's name to its dlt hints")
    return Endpoint(resource)


def _check_names_and_parents(endpoints: list[Endpoint], path: Union[str, Path]) -> None:
    names = [e.name for e in endpoints]
    for endpoint in endpoints:
        where = f"{path}: resource {endpoint.name!r}"
        if names.count(endpoint.name) > 1:
            raise ConfigFileError(f"{where}: `name` is used by more than one resource")
        parent: Optional[str] = endpoint.parent
        if parent is not None and parent not in names:
            raise ConfigFileError(
                f"{where}: `endpoint.path` refers to the parent resource {parent!r}, which is not in the file"
            )
        if parent == endpoint.name:
            raise ConfigFileError(f"{where}: `endpoint.path` refers to the resource itself as its parent")


# The file shipped in the package; definitions.py reads SUPPORT_API_CONFIG through load_endpoints().
ENDPOINTS: tuple[Endpoint, ...] = load_endpoints(DEFAULT_CONFIG)
