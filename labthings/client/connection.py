"""One HTTP connection to a server: requests' session, the access token, and errors made
into the client's exceptions.

Every request has a timeout; a refused or silent server is `ServerUnreachable`, an error
status the `RequestFailed` subclass of its kind carrying the server's RFC 9457 problem.
`Reconnect` says how long and how often a lost event stream is sought again.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from labthings import __version__
from labthings.client.errors import (
    AccessDenied,
    InvalidInput,
    NotFound,
    RequestFailed,
    ServerUnreachable,
)

__all__ = [
    "Closing",
    "Connection",
    "Reconnect",
    "decode_body",
    "describe_problem",
    "is_event_stream",
    "origin",
    "request_failed",
]

_NO_BODY: Any = object()
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_EVENT_STREAM = "text/event-stream"


_C = TypeVar("_C", bound="Closing")


class Closing:
    """Something to `close()`, which a `with` block closes at its end."""

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free what it holds; safe to call twice."""


@dataclass(frozen=True)
class Reconnect:
    """How a lost event stream is sought again: after `first` seconds, then `factor`
    times longer each time up to `cap`, and for at most `patience` seconds in all
    (counted from the first failure since the last success)."""

    patience: float = 60.0
    first: float = 0.25
    factor: float = 2.0
    cap: float = 5.0

    def delays(self) -> Iterator[float]:
        """The successive delays, as long as their sum stays within `patience`."""
        delay, spent = self.first, 0.0
        while spent + delay <= self.patience:
            yield delay
            spent += delay
            delay = min(delay * self.factor, self.cap)


def origin(url: str) -> str:
    """`scheme://host:port` of a URL, to name the server in messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def describe_problem(problem: Mapping[str, Any]) -> str:
    """A problem object as one line: `title: detail (field: message; ...)`."""
    title = str(problem.get("title") or "")
    detail = str(problem.get("detail") or "")
    text = f"{title}: {detail}" if title and detail and detail != title else title or detail
    errors = problem.get("errors")
    if isinstance(errors, Mapping) and errors:
        fields = "; ".join(f"{name}: {_messages(value)}" for name, value in errors.items())
        text = f"{text} ({fields})" if text else fields
    return text or "no detail given"


def _messages(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_messages(item) for item in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_messages(inner)}" for key, inner in value.items())
    return str(value)


class Connection(Closing):
    """requests' session with the access token (`Authorization: Bearer`), shared by the
    clients of one server.

    `timeout` bounds every plain request (seconds); an event stream silent for longer
    than `idle_timeout` is taken for lost (servers send a keep-alive comment well within
    it) and sought again as `reconnect` says.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        idle_timeout: float = 45.0,
        reconnect: Reconnect | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.session = session or requests.Session()
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.reconnect = reconnect or Reconnect()
        self.session.headers["User-Agent"] = f"labthings-client/{__version__}"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = _NO_BODY,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        allow: Collection[int] = (),
    ) -> requests.Response:
        """Send a request (a JSON body if `body` is given); raise on error statuses other
        than those in `allow`."""
        kwargs: dict[str, Any] = {"headers": dict(headers or {})}
        if body is not _NO_BODY:
            kwargs["json"] = body
        response = self._send(method, url, timeout or self.timeout, **kwargs)
        if response.status_code >= 400 and response.status_code not in allow:
            raise request_failed(method, url, response)
        return response

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """`request(...)` and its body (see `decode_body`)."""
        return decode_body(self.request(method, url, **kwargs))

    def document(self, url: str, accept: str) -> tuple[Any, str]:
        """GET the JSON document at `url`: (its value, or None if the body is not JSON;
        the URL that answered, after redirects)."""
        response = self.request("GET", url, headers={"Accept": accept})
        try:
            return response.json(), response.url
        except ValueError:
            return None, response.url

    def open_stream(
        self, url: str, read_timeout: float, last_event_id: str | None = None
    ) -> requests.Response:
        """GET an event stream (`stream=True`); the caller reads and closes it, and checks
        `is_event_stream` (a server may answer another way). `read_timeout` bounds each
        read until the reader sets another."""
        headers = {"Accept": _EVENT_STREAM, "Cache-Control": "no-cache"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        response = self._send(
            "GET", url, (self.timeout, read_timeout), headers=headers, stream=True
        )
        if response.status_code >= 400:
            try:
                raise request_failed("GET", url, response)
            finally:
                response.close()
        return response

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def _send(
        self, method: str, url: str, timeout: float | tuple[float, float], **kwargs: Any
    ) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=timeout, **kwargs)
        except requests.exceptions.Timeout:
            seconds = timeout if isinstance(timeout, float | int) else timeout[0]
            raise ServerUnreachable(f"{origin(url)} did not answer within {seconds:g} s") from None
        except requests.exceptions.ConnectionError as error:
            raise ServerUnreachable(
                f"no server answers at {origin(url)} ({_reason(error)})"
            ) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as error:
            raise ServerUnreachable(f"not a server URL: {url!r} ({error})") from None


def decode_body(response: requests.Response) -> Any:
    """A response's body: None if empty, decoded if it is JSON (by its media type, or
    failing that by parsing), else the bytes."""
    if not response.content:
        return None
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    try:
        return response.json()
    except ValueError:
        if media_type == "application/json" or media_type.endswith("+json"):
            raise
        return response.content


def is_event_stream(response: requests.Response) -> bool:
    """Whether a response is a Server-Sent Events stream."""
    return response.headers.get("Content-Type", "").split(";")[0].strip() == _EVENT_STREAM


def request_failed(method: str, url: str, response: requests.Response) -> RequestFailed:
    """The exception of an error response, carrying its problem object."""
    status = response.status_code
    problem = _problem(response)
    message = f"{method} {url}: {status} {describe_problem(problem)}"
    if status == 401:
        message += " (give an access token: token=... in Python, --token or LABTHINGS_TOKEN)"
        return AccessDenied(message, problem, status)
    if status == 403:
        return AccessDenied(message, problem, status)
    if status == 404:
        return NotFound(message, problem, status)
    if status == 422:
        return InvalidInput(message, problem, status)
    return RequestFailed(message, problem, status)


def _problem(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and {"type", "title", "detail"} & set(body):
        return body
    text = response.text.strip()
    problem: dict[str, Any] = {"type": "about:blank", "title": response.reason or "Error"}
    problem["status"] = response.status_code
    if text and len(text) <= 300 and "<" not in text:
        problem["detail"] = text
    return problem


def _reason(error: BaseException) -> str:
    """`connection refused`, `Name or service not known`...: the OS's words if there are."""
    found = _ERRNO.search(str(error))
    if found:
        return found.group(1).strip().lower()
    return "the connection failed"
