"""HTTP/1.1 for the Bot API, kept lean: the wire under the one Telegram client.

Mass fan-out (100,000 messages at up to 1,000/s) is CPU-bound in the sender. Per message, aiohttp's
client does a lot that one JSON POST to one host does not need (a request and a response object, header
multidicts, cookie jar, tracing hooks, a body writer, a payload abstraction, several tasks' worth of
awaits): measured, it took about two thirds of the outbox worker's CPU per message
(``bench/telegram_transport.py``, docs/benchmarks.md). This module does only what the Bot API's HTTP
needs, over asyncio's own transports:

- one request = one write of a head built from a fixed template and the JSON body;
- keep-alive connections in a LIFO pool (``limit`` at most), idle ones closed after ``idle_timeout``
  (below the usual 60–75 s of servers, as aiohttp's 15 s) and whenever the server says
  ``Connection: close`` or closes them;
- the answer read as ``Content-Length`` or ``chunked`` (up to ``max_body`` bytes); anything else
  malformed closes the connection and raises ``WireError``;
- TLS with the system's trust store for ``https`` (certificate and host name checked), TCP_NODELAY
  (asyncio's default);
- a deadline per call covering the wait for a connection, connecting, writing and reading. A call that
  times out or is cancelled never returns its connection to the pool (its answer may still arrive).

It does not follow redirects, speak HTTP/2 or use proxies: the Bot API needs none of these (a proxy or
a local Bot API server is simply another ``TELEGRAM_API_URL``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Http1Pool", "WireError", "WireTimeout"]

MAX_HEAD = 64 * 1024


class WireError(Exception):
    """No (complete, well-formed) answer arrived on the connection."""


class WireTimeout(WireError):
    """The deadline passed before the answer was complete."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; answers are read in place as bytes arrive."""

    def __init__(self, max_body: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._max_body = max_body
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self._status = 0
        self._length = -1  # body bytes expected (-1: head not read yet; -2: chunked)
        self._keep_alive = True
        self._chunks = bytearray()

    # -- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # the server talks without being asked: not HTTP as we know it
            self._fail(WireError("unexpected bytes from the server"))
            return
        self._buffer += data
        try:
            answer = self._parse()
        except WireError as error:
            self._fail(error)
            return
        if answer is not None:
            waiter, self._waiter = self._waiter, None
            if not self._keep_alive or self._buffer:
                self.close()
            if not waiter.done():
                waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            reason = f": {type(exc).__name__}" if exc is not None else ""
            self._waiter.set_exception(WireError(f"connection closed before the answer{reason}"))
        self._waiter = None

    # -- use ---------------------------------------------------------------------------------------------

    def request(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._buffer.clear()
        self._status, self._length, self._keep_alive = 0, -1, True
        self._chunks.clear()
        self.transport.write(data)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: WireError) -> None:
        waiter, self._waiter = self._waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    # -- parsing -----------------------------------------------------------------------------------------

    def _parse(self) -> Answer | None:
        buffer = self._buffer
        if self._length == -1:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise WireError("answer head too long")
                return None
            self._head(bytes(buffer[:end]))
            del buffer[: end + 4]
            if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
                self._length = -1
                return self._parse()
        if self._length >= 0:
            if len(buffer) < self._length:
                return None
            body = bytes(buffer[: self._length])
            del buffer[: self._length]
            return Answer(self._status, body)
        return self._chunked()

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise WireError("not an HTTP/1.x answer")
        self._status = int(parts[1])
        self._keep_alive = parts[0] != b"HTTP/1.0"
        length = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                if not value.isdigit():
                    raise WireError("bad Content-Length")
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif name == b"connection":
                token = value.lower()
                self._keep_alive = b"close" not in token and (self._keep_alive or b"keep-alive" in token)
        if chunked:
            self._length = -2
        elif length is not None:
            if length > self._max_body:
                raise WireError("answer too large")
            self._length = length
        elif self._status in (204, 304):
            self._length = 0
        else:  # body until the server closes: not worth supporting for the Bot API
            raise WireError("answer without a length")

    def _chunked(self) -> Answer | None:
        buffer = self._buffer
        while True:
            end = buffer.find(b"\r\n")
            if end < 0:
                return None
            size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise WireError("bad chunk size") from exc
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", end)
                if trailer_end < 0:
                    return None
                del buffer[: trailer_end + 4]
                return Answer(self._status, bytes(self._chunks))
            if len(buffer) < end + 2 + size + 2:
                return None
            if len(self._chunks) + size > self._max_body:
                raise WireError("answer too large")
            self._chunks += buffer[end + 2 : end + 2 + size]
            del buffer[: end + 2 + size + 2]


class Http1Pool:
    """Keep-alive HTTP/1.1 connections to one origin; ``post`` sends one request and returns the answer."""

    def __init__(
        self,
        base_url: str,
        limit: int = 100,
        idle_timeout: float = 15.0,
        max_body: int = 16 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the API URL must be http:// or https:// with a host")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path.rstrip("/") + "/"
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context()
        host = self.host if ":" not in self.host else f"[{self.host}]"
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        self._host_header = (host if default_port else f"{host}:{self.port}").encode("idna")
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self.opened = 0  # connections made so far (for tests and benchmarks)
        self._idle: collections.deque[_Connection] = collections.deque()
        self._busy = 0  # connections handed out or being made
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    async def post(self, path: str, body: bytes, timeout: float, content_type: bytes) -> Answer:
        """POST ``body`` to ``base path + path``; raises ``WireTimeout`` after ``timeout`` seconds and
        ``WireError`` when no well-formed answer arrived."""
        head = b"POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
            self.path.encode(),
            path.encode(),
            self._host_header,
            content_type,
            len(body),
        )
        connection: _Connection | None = None
        reusable = False
        try:
            async with asyncio.timeout(timeout):
                connection = await self._acquire()
                answer = await connection.request(head + body)
                reusable = not connection.closed
                return answer
        except TimeoutError as exc:
            raise WireTimeout(f"no answer within {timeout:g} s") from exc
        except OSError as exc:
            raise WireError(f"{type(exc).__name__}") from exc
        finally:
            self._release(connection, reusable)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(WireError("the connection pool is closed"))

    # -- the pool ---------------------------------------------------------------------------------------

    async def _acquire(self) -> _Connection:
        if self._closed:
            raise WireError("the connection pool is closed")
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: warm, least likely to be timed out
            if not connection.closed and now - connection.idle_since < self.idle_timeout:
                self._busy += 1
                return connection
            connection.close()
        if self._busy >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # a released slot is handed over: _busy already counts us
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._busy -= 1  # handed a slot, then cancelled: give it on
                    self._wake()
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
            while self._idle:
                connection = self._idle.pop()
                if not connection.closed and time.monotonic() - connection.idle_since < self.idle_timeout:
                    return connection
                connection.close()
        else:
            self._busy += 1
        try:
            loop = asyncio.get_running_loop()
            _transport, connection = await loop.create_connection(
                lambda: _Connection(self.max_body),
                self.host,
                self.port,
                ssl=self._ssl,
                server_hostname=self.host if self._ssl is not None else None,
            )
        except BaseException:
            self._busy -= 1
            self._wake()
            raise
        self.opened += 1
        return connection

    def _release(self, connection: _Connection | None, reusable: bool) -> None:
        if connection is None:
            return  # _acquire failed and already gave its slot back
        if reusable and not self._closed and not connection.closed:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        self._busy -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._busy += 1
                waiter.set_result(None)
                return
