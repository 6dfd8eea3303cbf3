"""Both proxies with several I/O threads under concurrent load of every kind at once (SPEC §2
`--threads`, §5): HTTP/1.1 keep-alive, h2c streams, upgrades (raw echo), CONNECT tunnels, metrics
scrapes, and for the preview proxy several contexts sharing the one HTTP/2 session upstream, then
a graceful stop with exit 0. Written for the TSan tree (`make test-tsan`, docs/security.md): the
connections land on different threads, so every piece of state they share (metrics, the upstream
pool, the preview proxy's upstream session and context registry, logging) is touched from several
threads at the same time. It runs in every tree.

    cd tests/integration && /usr/bin/python3 -m unittest -v test_threads
"""

import json
import socket
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import MORPH_ROUTE, ProxyTestCase  # noqa: E402

THREADS = "4"




def echo_upgrade(host, port, request_head: bytes, payload: bytes, timeout=30) -> bytes:
    """Sends an upgrade / CONNECT head, expects a 101/200, writes `payload`, half-closes and
    returns everything the peer echoed until it closed."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(request_head)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError(f"closed before the response head: {buf!r}")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        status = head.split(b" ", 2)[1]
        if status not in (b"101", b"200"):
            raise AssertionError(f"unexpected response head {head!r}")
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        out = rest
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


class CmuxProxyThreads(ProxyTestCase):
    def test_mixed_concurrent_load_on_four_threads(self):
        app = self.origin(name="app")
        proxy = self.proxy("--threads", THREADS, "--metrics-listen", "127.0.0.1:0",
                           "--log-level", "debug", expect_metrics=True)
        port_header = ("X-Cmux-Port-Internal", str(app.port))

        def h1_keepalive(i):
            conn = harness.HttpConn(proxy.host, proxy.port, timeout=30)
            try:
                for k in range(10):
                    body = f"h1 {i} {k}".encode()
                    resp = conn.request("POST", f"/echo?h1={i}.{k}",
                                        [("Host", "localhost"), port_header], body)
                    if resp.status != 200:
                        return f"status {resp.status}"
                    echo = json.loads(resp.body)
                    if (echo["url"], echo["bodyLength"]) != (f"/echo?h1={i}.{k}", len(body)):
                        return f"wrong echo {echo}"
            finally:
                conn.close()
            return "ok"

        def h2_streams(i):
            c = harness.H2Client(proxy.host, proxy.port, timeout=30)
            try:
                sids = [c.start([(":method", "GET"), (":scheme", "http"),
                                 (":authority", "localhost"), (":path", f"/bytes/{1000 * k}"),
                                 ("x-cmux-port-internal", str(app.port))], end_stream=True)
                        for k in range(1, 11)]
                for k, sid in enumerate(sids, start=1):
                    st = c.wait_end(sid, timeout=30)
                    if st.status != 200 or bytes(st.data) != harness.pattern_bytes(1000 * k):
                        return f"stream {k}: status {st.status}, {len(st.data)} bytes"
            finally:
                c.close()
            return "ok"

        def upgrade(i):
            payload = f"upgrade {i} ".encode() * 100
            got = echo_upgrade(proxy.host, proxy.port, (
                f"GET /raw HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\n"
                f"Upgrade: echo-proto\r\nX-Cmux-Port-Internal: {app.port}\r\n\r\n").encode(),
                payload)
            return "ok" if got == payload + b"<echo-proto:eof>" else f"echoed {got[-60:]!r}"

        def metrics(i):
            for _ in range(5):
                harness.scrape_metrics(proxy.metrics_addr)
            return "ok"

        kinds = [h1_keepalive, h2_streams, upgrade, metrics]
        results = harness.concurrent(24, lambda i: kinds[i % len(kinds)](i), timeout=120)
        for i, result in enumerate(results):
            self.assertEqual(result, "ok", f"{kinds[i % len(kinds)].__name__} #{i}: {result!r}")
        self.assertIsNone(proxy.died_unexpectedly())
        proxy.stop()  # SIGTERM: drain, exit 0


class PreviewProxyThreads(ProxyTestCase):
    def test_contexts_share_one_upstream_session_from_four_threads(self):
        certs = self.make_certs()
        app = self.origin(name="app")
        cmux = self.tls_cmux_proxy(certs, "--threads", THREADS)
        routes = [MORPH_ROUTE, "https://cmux-abc123-base-3000.cmux.app/",
                  "https://manaflow-abc123-base-8080.cmux.sh/"]
        pp = self.preview(*[a for r in routes for a in ("--route", r)], "--route", "none",
                          *harness.resolve_args(cmux), "--upstream-ca", certs.ca_cert,
                          "--threads", THREADS, "--log")

        def routed_h1(i):
            for k in range(5):
                resp = pp.request(i % 3, "POST", f"http://localhost:{app.port}/echo?i={i}.{k}",
                                  body=b"x" * (i * 10 + k), timeout=30)
                if resp.status != 200:
                    return f"status {resp.status} {resp.body[:200]!r}"
                echo = json.loads(resp.body)
                if (echo["url"], echo["bodyLength"]) != (f"/echo?i={i}.{k}", i * 10 + k):
                    return f"wrong echo {echo}"
            return "ok"

        def routed_h2(i):
            c = harness.H2Client(pp.host, pp.port, timeout=30)
            try:
                sids = [c.start([(":method", "GET"), (":scheme", "http"),
                                 (":authority", f"localhost:{app.port}"),
                                 (":path", f"/bytes/{4096 * k}"),
                                 ("proxy-authorization", pp.auth_header(k % 3)[1])],
                                end_stream=True)
                        for k in range(1, 9)]
                for k, sid in enumerate(sids, start=1):
                    st = c.wait_end(sid, timeout=30)
                    if st.status != 200 or bytes(st.data) != harness.pattern_bytes(4096 * k):
                        return f"stream {k}: status {st.status}, {len(st.data)} bytes"
            finally:
                c.close()
            return "ok"

        def unrouted_connect(i):
            # The unrouted context (index 3) tunnels straight to the origin.
            conn = harness.HttpConn(pp.host, pp.port, timeout=30)
            try:
                target = f"127.0.0.1:{app.port}"
                conn.send((f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
                           f"Proxy-Authorization: {pp.auth_header(3)[1]}\r\n\r\n").encode())
                status, _, _, head = conn.read_head()
                if status != 200:
                    return f"CONNECT: {head!r}"
                for k in range(5):
                    resp = conn.request("POST", f"/echo?tunnel={i}.{k}",
                                        [("Host", "tunneled.example")], b"t" * k)
                    echo = json.loads(resp.body)
                    if resp.status != 200 or echo["url"] != f"/echo?tunnel={i}.{k}":
                        return f"status {resp.status} {echo}"
            finally:
                conn.close()
            return "ok"

        def unauthenticated(i):
            resp = pp.request(None, "GET", f"http://localhost:{app.port}/echo")
            return "ok" if resp.status == 407 else f"status {resp.status}"

        kinds = [routed_h1, routed_h2, unrouted_connect, unauthenticated]
        results = harness.concurrent(24, lambda i: kinds[i % len(kinds)](i), timeout=120)
        for i, result in enumerate(results):
            self.assertEqual(result, "ok", f"{kinds[i % len(kinds)].__name__} #{i}: {result!r}")
        self.assertIsNone(pp.died_unexpectedly())
        self.assertIsNone(cmux.died_unexpectedly())
        pp.stop()
        cmux.stop()


if __name__ == "__main__":
    unittest.main()
