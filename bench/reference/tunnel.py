#!/usr/bin/python3
"""Tunnel throughput for bench/run: a byte source and a client that counts what arrives.

  tunnel.py serve
      listens on two loopback ports and prints {"raw": P, "ws": P}:
        raw: once the client has sent its first bytes, writes a 256 KiB buffer in a loop
             (what a CONNECT tunnel carries);
        ws:  answers a WebSocket upgrade with 101 and then writes unmasked binary frames of
             64 KiB in a loop (a WebSocket download).
  tunnel.py measure --mode connect|ws --target-port P [--proxy HOST:PORT] [--authority A]
                    [--absolute] [--header 'Name: value']... [--seconds S]
      opens the tunnel (direct, CONNECT through --proxy, or an upgrade through --proxy), then
      reads for S seconds and prints {"bytes": N, "seconds": S, "mb_per_s": X} (MB = 10^6 bytes).

One connection, one direction (server to client): the proxy's relay loop is the thing measured.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import socket
import sys
import threading
import time

CHUNK = 256 * 1024
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"connection closed before a complete head: {buf[:200]!r}")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def serve_raw(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not conn.recv(65536):
            return
        payload = b"x" * CHUNK
        try:
            while True:
                conn.sendall(payload)
        except OSError:
            pass


def serve_ws(conn: socket.socket) -> None:
    with conn:
        try:
            head, _ = read_head(conn)
        except (ConnectionError, OSError):
            return
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID.encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        size = 64 * 1024
        frame = bytes([0x82, 127]) + size.to_bytes(8, "big") + b"y" * size
        payload = frame * 4
        try:
            while True:
                conn.sendall(payload)
        except OSError:
            pass


def serve() -> int:
    listeners = {}
    for name in ("raw", "ws"):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        listeners[name] = s

    def accept_loop(name: str, s: socket.socket) -> None:
        handler = serve_raw if name == "raw" else serve_ws
        while True:
            conn, _ = s.accept()
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    for name, s in listeners.items():
        threading.Thread(target=accept_loop, args=(name, s), daemon=True).start()
    print(json.dumps({n: s.getsockname()[1] for n, s in listeners.items()}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


def measure(a: argparse.Namespace) -> int:
    host, port = ("127.0.0.1", a.target_port)
    if a.proxy:
        h, _, p = a.proxy.rpartition(":")
        host, port = h, int(p)
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    authority = a.authority or f"127.0.0.1:{a.target_port}"
    extra = "".join(f"{h}\r\n" for h in a.header)
    rest = b""
    if a.mode == "connect":
        if a.proxy:
            sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{extra}\r\n".encode())
            head, rest = read_head(sock)
            if not head.split(b"\r\n")[0].split(b" ")[1:2] == [b"200"]:
                print(json.dumps({"error": head.decode(errors="replace")}))
                return 1
        sock.sendall(b"go\n")
    else:
        target = f"http://{authority}/" if a.absolute else "/"
        key = base64.b64encode(b"cmux-bench-key-16").decode()
        sock.sendall((f"GET {target} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        head, rest = read_head(sock)
        if not head.split(b"\r\n")[0].split(b" ")[1:2] == [b"101"]:
            print(json.dumps({"error": head.decode(errors="replace")}))
            return 1
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    total = len(rest)
    start = time.monotonic()
    deadline = start + a.seconds
    sock.settimeout(5)
    while True:
        n = sock.recv_into(view)
        if not n:
            break
        total += n
        if time.monotonic() >= deadline:
            break
    elapsed = time.monotonic() - start
    sock.close()
    print(json.dumps({"bytes": total, "seconds": round(elapsed, 3),
                      "mb_per_s": round(total / elapsed / 1e6, 1)}))
    return 0 if total > 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("serve")
    m = sub.add_parser("measure")
    m.add_argument("--mode", choices=["connect", "ws"], required=True)
    m.add_argument("--target-port", type=int, required=True)
    m.add_argument("--proxy")
    m.add_argument("--authority")
    m.add_argument("--absolute", action="store_true", help="absolute-form upgrade (forward proxy)")
    m.add_argument("--header", action="append", default=[])
    m.add_argument("--seconds", type=float, default=2.0)
    a = p.parse_args()
    return serve() if a.cmd == "serve" else measure(a)


if __name__ == "__main__":
    sys.exit(main())
