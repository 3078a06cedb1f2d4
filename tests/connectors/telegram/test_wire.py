"""The lean HTTP/1.1 pool under the Telegram client, against a raw loopback server that answers the way a
script says (keep-alive, chunked bodies, ``Connection: close``, late answers, closed connections, TLS)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from connectors.telegram.wire import Http1Pool, WireError, WireTimeout

JSON = b"application/json"
Reply = Callable[[int, bytes, asyncio.StreamWriter], Awaitable[None]]


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


class RawServer:
    """Reads HTTP/1.1 requests (head + Content-Length body) and lets ``reply`` answer each one."""

    def __init__(self, reply: Reply, tls: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.tls = tls
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}/bot123:abc/"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                await self.reply(len(self.requests), body, writer)
                if writer.is_closing():
                    return
        finally:
            self.open_now -= 1
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[tuple[RawServer, str]]]]:
    servers: list[RawServer] = []

    async def start(reply: Reply, tls: ssl.SSLContext | None = None) -> tuple[RawServer, str]:
        server = RawServer(reply, tls)
        servers.append(server)
        return server, await server.start()

    yield start
    for server in servers:
        await server.stop()


async def echo(_n: int, body: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(ok(b'{"ok":true,"result":' + body + b"}"))


async def test_requests_reuse_one_keep_alive_connection_and_carry_the_body(serve) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(echo)
    pool = Http1Pool(url)
    for number in range(20):
        answer = await pool.post("sendMessage", b'{"chat_id":%d}' % number, 2.0, JSON)
        assert answer.status == 200 and answer.body == b'{"ok":true,"result":{"chat_id":%d}}' % number
    await pool.close()
    assert server.connections == 1 and pool.opened == 1
    head, _body = server.requests[0]
    assert head.startswith(b"POST /bot123:abc/sendMessage HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in head and b"\r\nContent-Type: application/json\r\n" in head


async def test_a_chunked_answer_is_read_whole(serve) -> None:  # type: ignore[no-untyped-def]
    async def chunked(_n: int, _body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b'{"ok":', b"true,", '"result":"Grüße"}'.encode()):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.01)  # the answer arrives in pieces
        writer.write(b"0\r\n\r\n")

    _server, url = await serve(chunked)
    pool = Http1Pool(url)
    first = await pool.post("getMe", b"{}", 2.0, JSON)
    second = await pool.post("getMe", b"{}", 2.0, JSON)
    await pool.close()
    assert first.body == second.body == '{"ok":true,"result":"Grüße"}'.encode()
    assert pool.opened == 1  # the connection stayed usable after a chunked answer


async def test_connection_close_and_a_server_that_hangs_up_between_requests(serve) -> None:  # type: ignore[no-untyped-def]
    async def closing(n: int, body: bytes, writer: asyncio.StreamWriter) -> None:
        if n == 1:
            writer.write(ok(b'{"ok":true}', b"Connection: close\r\n"))
            writer.close()
        elif n == 2:
            writer.write(ok(b'{"ok":true}'))
            await writer.drain()
            writer.close()  # hangs up after answering, without saying so (an idle timeout)
        else:
            writer.write(ok(b'{"ok":true}'))

    server, url = await serve(closing)
    pool = Http1Pool(url)
    for _ in range(3):
        await pool.post("sendMessage", b"{}", 2.0, JSON)
        await asyncio.sleep(0.05)
    await pool.close()
    assert server.connections == 3 and len(server.requests) == 3  # nothing failed, nothing sent twice


async def test_a_timed_out_call_never_hands_its_late_answer_to_the_next_call(serve) -> None:  # type: ignore[no-untyped-def]
    async def late_first(n: int, body: bytes, writer: asyncio.StreamWriter) -> None:
        if n == 1:
            await asyncio.sleep(0.5)
        writer.write(ok(b'{"n":%d}' % n))

    _server, url = await serve(late_first)
    pool = Http1Pool(url)
    with pytest.raises(WireTimeout):
        await pool.post("sendMessage", b"{}", 0.2, JSON)
    answer = await pool.post("sendMessage", b"{}", 2.0, JSON)
    await pool.close()
    assert answer.body == b'{"n":2}' and pool.opened == 2


async def test_at_most_limit_connections_and_every_waiting_call_is_served(serve) -> None:  # type: ignore[no-untyped-def]
    async def slow(_n: int, body: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.02)
        writer.write(ok(body))

    server, url = await serve(slow)
    pool = Http1Pool(url, limit=3)
    answers = await asyncio.gather(*(pool.post("m", b"%d" % i, 5.0, JSON) for i in range(30)))
    await pool.close()
    assert sorted(int(a.body) for a in answers) == list(range(30))
    assert server.most_open == 3 and pool.opened == 3


async def test_waiting_for_a_connection_counts_against_the_timeout(serve) -> None:  # type: ignore[no-untyped-def]
    async def stuck(_n: int, _body: bytes, _writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    _server, url = await serve(stuck)
    pool = Http1Pool(url, limit=1)
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(
        *(pool.post("m", b"{}", 0.2, JSON) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, WireTimeout) for r in results)
    assert asyncio.get_running_loop().time() - started < 1.0
    await pool.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HELLO\r\n\r\n",  # not HTTP
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n{}",  # no length: would read until the server closes
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",  # above max_body
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
async def test_a_malformed_answer_is_an_error_and_the_connection_is_dropped(serve, answer: bytes) -> None:  # type: ignore[no-untyped-def]
    async def bad(n: int, _body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(answer if n == 1 else ok(b"{}"))

    server, url = await serve(bad)
    pool = Http1Pool(url, max_body=1000)
    with pytest.raises(WireError):
        await pool.post("m", b"{}", 2.0, JSON)
    assert (await pool.post("m", b"{}", 2.0, JSON)).body == b"{}"  # a fresh connection
    await pool.close()
    assert server.connections == 2


async def test_nobody_listening_is_an_error_at_once() -> None:
    pool = Http1Pool("http://127.0.0.1:9/bot1:x/")
    with pytest.raises(WireError) as caught:
        await pool.post("sendMessage", b"{}", 2.0, JSON)
    assert "1:x" not in str(caught.value)  # never the URL: it holds the token
    await pool.close()


def test_only_http_urls_with_a_host() -> None:
    for url in ("ftp://api.telegram.org/", "https:///bot1/", "api.telegram.org"):
        with pytest.raises(ValueError):
            Http1Pool(url)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_checks_the_certificate(serve, certificate: tuple[Path, Path]) -> None:  # type: ignore[no-untyped-def]
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    _server, url = await serve(echo, tls=server_side)
    trusting = ssl.create_default_context(cafile=str(cert))
    pool = Http1Pool(url, ssl_context=trusting)
    assert (await pool.post("getMe", b"1", 2.0, JSON)).body == b'{"ok":true,"result":1}'
    await pool.close()
    default = Http1Pool(url)  # the system's trust store does not know our certificate
    with pytest.raises(WireError):
        await default.post("getMe", b"1", 2.0, JSON)
    await default.close()
