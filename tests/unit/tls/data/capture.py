#!/usr/bin/python3
"""Captures real TLS ClientHellos for tests/unit/tls/client_hello_test.cpp.

For each client: listen on 127.0.0.1:0, start the client against that port, accept one
connection, read TLS records until the whole ClientHello handshake message is in, save exactly
those records (record headers included, nothing after the record that completes the message),
close the connection and stop the client. The server never answers, so the clients fail after
sending their hello; that is expected.

Usage:  /usr/bin/python3 tests/unit/tls/data/capture.py [--out DIR] [NAME ...]
        (no NAME: every client whose program is installed; Chromium is skipped if absent)

Files (expected SNI / ALPN are asserted by client_hello_test.cpp):
  curl_http2.bin      curl -sk --http2 https://localhost:PORT/       sni localhost, alpn h2,http/1.1
  curl_http11_ip.bin  curl -sk --http1.1 https://127.0.0.1:PORT/     no sni (IP literal), alpn http/1.1
  openssl_alpn.bin    openssl s_client -servername localhost -alpn h2,http/1.1
  chromium.bin        chromium --headless ... https://localhost:PORT/ sni localhost, alpn h2,http/1.1
The ClientHello random, session id and key shares differ on every run; the tests only depend on
SNI, ALPN and the framing.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 30  # seconds to wait for the client's connection and hello


def chromium_command(port, profile):
    return [
        "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", f"https://localhost:{port}/",
    ]


CLIENTS = {
    "curl_http2": lambda port, _: ["curl", "-sk", "--http2", f"https://localhost:{port}/"],
    "curl_http11_ip": lambda port, _: ["curl", "-sk", "--http1.1", f"https://127.0.0.1:{port}/"],
    "openssl_alpn": lambda port, _: [
        "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
        "-alpn", "h2,http/1.1"],
    "chromium": chromium_command,
}


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_client_hello(conn):
    """Returns (the records carrying the ClientHello, number of records)."""
    records = b""
    message = b""
    count = 0
    while True:
        header = read_exactly(conn, 5)
        if header[0] != 22:
            raise ValueError(f"not a handshake record: {header.hex()}")
        length = int.from_bytes(header[3:5], "big")
        body = read_exactly(conn, length)
        records += header + body
        message += body
        count += 1
        if len(message) >= 4:
            if message[0] != 1:
                raise ValueError(f"not a ClientHello: handshake type {message[0]}")
            if len(message) >= 4 + int.from_bytes(message[1:4], "big"):
                return records, count


def capture(name, out_dir):
    profile = tempfile.mkdtemp(prefix="capture-profile-")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]
    client = subprocess.Popen(CLIENTS[name](port, profile), stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            records, count = read_client_hello(conn)
        path = os.path.join(out_dir, f"{name}.bin")
        with open(path, "wb") as f:
            f.write(records)
        print(f"{name}: {len(records)} bytes in {count} record(s) -> {path}")
    finally:
        listener.close()
        # The client's whole session (Chromium has helper processes), by its own group id.
        try:
            os.killpg(client.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        client.wait()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=HERE, help="directory for the .bin files")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"clients to capture: {', '.join(CLIENTS)}")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in CLIENTS]
    if unknown:
        parser.error(f"unknown client(s): {', '.join(unknown)}; choose from {', '.join(CLIENTS)}")
    names = args.names or [n for n in CLIENTS if n != "chromium" or os.path.exists("/usr/bin/chromium")]
    for name in names:
        capture(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
