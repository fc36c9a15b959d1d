#!/usr/bin/env python3
"""Kafka readiness probe in the Kafka wire protocol, standard library only.

Sends ApiVersions (key 18, v0) and Metadata (key 3, v0) and exits 0 only when the broker answers
both without error and lists at least one live broker, i.e. the KRaft controller has elected and
registered the broker. Usage: kafka_ready.py HOST:PORT [TIMEOUT_S]
"""

import socket
import struct
import sys


def _request(sock: socket.socket, api_key: int, correlation_id: int, body: bytes) -> bytes:
    client_id = b"ordo-ready"
    header = struct.pack(">hhih", api_key, 0, correlation_id, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _read(sock, 4))[0]
    response = _read(sock, size)
    if struct.unpack(">i", response[:4])[0] != correlation_id:
        raise RuntimeError("correlation id mismatch")
    return response[4:]


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def main() -> int:
    host, port = sys.argv[1].rsplit(":", 1)
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            versions = _request(sock, 18, 1, b"")
            if struct.unpack(">h", versions[:2])[0] != 0:
                return 1
            metadata = _request(sock, 3, 2, struct.pack(">i", 0))  # empty list: all topics
            brokers = struct.unpack(">i", metadata[:4])[0]
            return 0 if brokers > 0 else 1
    except (OSError, RuntimeError, struct.error):
        return 1


if __name__ == "__main__":
    sys.exit(main())
