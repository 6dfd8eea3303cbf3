#!/usr/bin/python3
"""Tunnel throughput for bench/run: a byte source and a client that counts what arrives.

  tunnel.py serve
      listens on two loopback ports and prints {"raw": P, "ws": P}:
        raw: once the client has sent its first bytes, writes a 256 KiB buffer in a loop
             (what a CONNECT tunnel carries);
        ws:  answers a WebSocket upgrade with 101 and then writes unmasked binary frames of
             64 KiB in a loop (a WebSocket download).
  tunnel.py measure --mode connect|ws --target-port P [--proxy HOST:PORT] [--authority A]
                    [--absolute] [--header 'Name: value']... [--seconds S] [--rcvlowat B]
      opens the tunnel (direct, CONNECT through --proxy, or an upgrade through --proxy), then
      reads for S seconds and prints {"bytes": N, "seconds": S, "mb_per_s": X} (MB = 10^6 bytes).
      --rcvlowat (SO_RCVLOWAT, default 256 KiB): the client wakes once that much is queued, as a
      bulk reader with a large buffer would; 1 wakes it for every segment that arrives.

One connection, one direction (server to client): the proxy's relay loop is the thing measured.
Neither end copies the bytes through user space: the source sendfile(2)s a memfd that holds the
payload, the client receives with MSG_TRUNC (TCP discards the bytes, no copy). Both ends share the
load CPU, and with sendall/recv_into they were its bottleneck on every row, direct and proxied
alike (100 % busy, 1.2-2.1 GB/s direct): the ratio measured Python's copies, not the relay.
Through a proxy on the other CPU, every wake-up of the client is a cross-CPU interrupt (a VM exit
here), which direct loopback never pays; --rcvlowat sets how often that happens
(docs/performance.md, "Profile findings (session 17)").
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
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


def send_forever(conn: socket.socket, payload: bytes) -> None:
    """Writes `payload` again and again until the peer goes away, with sendfile(2) from a memfd:
    the kernel takes the pages by reference, the source spends no CPU on copies."""
    fd = os.memfd_create("tunnel-payload")
    try:
        os.write(fd, payload)
        while True:
            offset = 0
            while offset < len(payload):
                offset += os.sendfile(conn.fileno(), fd, offset, len(payload) - offset)
    except OSError:
        pass
    finally:
        os.close(fd)


def serve_raw(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not conn.recv(65536):
            return
        send_forever(conn, b"x" * CHUNK)


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
        send_forever(conn, frame * 4)


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
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, a.rcvlowat)
    sock.settimeout(5)
    while True:
        n = sock.recv_into(view, 0, socket.MSG_TRUNC)  # counted, discarded by the kernel
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
    m.add_argument("--rcvlowat", type=int, default=256 * 1024,
                   help="SO_RCVLOWAT of the client: bytes queued before it wakes (1: every segment)")
    a = p.parse_args()
    return serve() if a.cmd == "serve" else measure(a)


if __name__ == "__main__":
    sys.exit(main())
