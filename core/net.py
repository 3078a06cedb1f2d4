"""Loopback ports: one definition for the CLI (a private Rasa server for ``ask``), the tests and the
benchmarks. A port found free can be taken by someone else before it is bound; callers that start a
server on it retry or fail loudly."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports (a Rasa pool listens on consecutive ports)."""
    for _ in range(100):
        base = free_port()
        sockets: list[socket.socket] = []
        try:
            for offset in range(count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")
