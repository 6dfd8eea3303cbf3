"""cmux-preview-proxy command line (SPEC §5, §3 Listener, Logging): the listening line and one
JSON line per context, credentials in the exact formats, derived routes, the default port that
auto-increments from 39385, an explicit busy --listen, SIGTERM, and logging (--log and the
environment) that never shows credentials.

    cd tests/integration && /usr/bin/python3 -m unittest -v test_preview_proxy_cli
"""

import base64
import json
import socket
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import MORPH_ORIGIN, MORPH_ROUTE, ProxyTestCase, wait_until  # noqa: E402

DEFAULT_PORT = 39385
ATTEMPTS = 50


class ContextLines(ProxyTestCase):
    def test_one_json_line_per_route(self):
        routes = [MORPH_ROUTE, "https://cmux-abc123-ws1-8080.cmux.app/", "none",
                  "http://manaflow-my-morph-id-base-3000.manaflow.com/path?q=1"]
        pp = self.preview(*[a for r in routes for a in ("--route", r)])
        lines = pp.stdout_lines
        self.assertRegex(lines[0], r"^cmux-preview-proxy listening on 127\.0\.0\.1:[1-9]\d*$")
        self.assertEqual(len(lines), 1 + len(routes), lines)
        ctxs = [json.loads(line) for line in lines[1:]]
        expected_routes = [
            {"morphId": "abc123", "scope": "base", "domainSuffix": "cmux.app",
             "cmuxProxyOrigin": MORPH_ORIGIN},
            {"morphId": "abc123", "scope": "ws1", "domainSuffix": "cmux.app",
             "cmuxProxyOrigin": MORPH_ORIGIN, "workspace": "ws1"},
            None,
            {"morphId": "my-morph-id", "scope": "base", "domainSuffix": "manaflow.com",
             "cmuxProxyOrigin": "http://port-39379-morphvm-my-morph-id.http.cloud.morph.so"},
        ]
        for i, (ctx, want) in enumerate(zip(ctxs, expected_routes)):
            with self.subTest(context=i):
                wc = i + 1
                self.assertEqual(ctx["port"], pp.port)
                self.assertEqual(ctx["webContentsId"], wc)
                self.assertRegex(ctx["username"], rf"^wc-{wc}-[0-9a-f]{{8}}$")
                self.assertRegex(ctx["password"], r"^[0-9a-f]{24}$")
                self.assertEqual(ctx["proxy"], f"http://{ctx['username']}:{ctx['password']}"
                                                f"@127.0.0.1:{pp.port}")
                route = ctx["route"]
                if route is not None:
                    # An absent workspace may be omitted or null.
                    route = {k: v for k, v in route.items() if v is not None}
                self.assertEqual(route, want)
        self.assertEqual(len({c["username"] for c in ctxs}), len(ctxs))
        self.assertEqual(len({c["password"] for c in ctxs}), len(ctxs))

    def test_route_url_without_a_workspace_is_refused(self):
        # A URL no route derives from is a mistake on the command line, not a silent
        # unrouted context (`--route none` is the explicit way): exit non-zero with a message.
        pp = self.preview("--route", "https://example.com/", expect_contexts=None)
        self.assertNotEqual(pp.wait(timeout=10), 0)
        self.assertIn("example.com", pp.stderr_text())
        self.assertEqual(pp.stdout_lines, [])

    def test_without_route_one_unrouted_context_that_works(self):
        origin = self.origin(name="direct")
        pp = self.preview()
        self.assertEqual(len(pp.contexts), 1)
        self.assertIsNone(pp.context(0)["route"])
        self.assertEqual(pp.context(0)["webContentsId"], 1)
        r = harness.curl("-x", pp.context(0)["proxy"], "--noproxy", "", origin.url("/echo"))
        self.assertEqual(r.status, 200, r.stderr)
        self.assertEqual(r.json()["name"], "direct")
        self.assertEqual(r.json()["host"], origin.hostport)

    def test_credentials_differ_between_runs(self):
        a = self.preview("--route", "none")
        b = self.preview("--route", "none")
        self.assertNotEqual(a.port, b.port)
        self.assertNotEqual(a.context(0)["password"], b.context(0)["password"])
        self.assertNotEqual(a.context(0)["username"], b.context(0)["username"])
        # The credentials of one process are unknown to the other.
        resp = b.request(None, "GET", "http://127.0.0.1:1/", [a.auth_header(0)])
        self.assertEqual(resp.status, 407)

    def test_sigterm_exits_zero_and_closes_the_listener(self):
        origin = self.origin()
        pp = self.preview()
        self.assertEqual(pp.request(0, "GET", origin.url("/echo")).status, 200)
        port = pp.port
        self.assertEqual(pp.stop(), 0)
        self.assertTrue(harness.connection_refused("127.0.0.1", port))

    def test_glibc_tunables_set_at_start_and_the_users_kept(self):
        harness.check_heap_tunables(self, lambda env: self.preview("--listen", "127.0.0.1:0", env=env))

    def test_sigterm_right_after_start_is_never_lost(self):
        # A parent may signal as soon as it read our output. Handled by an asynchronous signal
        # handler, such a SIGTERM was lost now and then under ThreadSanitizer (1 start in ~15):
        # the process never exited. docs/operations.md "Signals, drain and exit status".
        for i in range(12):
            with self.subTest(start=i):
                pp = self.preview("--listen", "127.0.0.1:0")
                self.assertEqual(pp.stop(timeout=15), 0)


class ListenPorts(ProxyTestCase):
    def occupy(self, port: int):
        """Listens on 127.0.0.1:port itself, waiting (bounded) while another process holds it:
        a port held by someone else may be released at any moment, which would make the test
        depend on another test run's timing."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As the proxy's own listener does: a connection of an earlier test in TIME_WAIT on the
        # port is not a process holding it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.addCleanup(s.close)

        def bound():
            try:
                s.bind(("127.0.0.1", port))
                s.listen(1)
                return True
            except OSError:
                return False

        wait_until(bound, timeout=20, message=f"127.0.0.1:{port} stayed busy")

    def test_default_port_auto_increments_when_39385_is_taken(self):
        self.occupy(DEFAULT_PORT)
        origin = self.origin()
        pp = self.preview(default_listen=False)
        self.assertEqual(pp.host, "127.0.0.1")
        self.assertGreater(pp.port, DEFAULT_PORT)
        self.assertLess(pp.port, DEFAULT_PORT + ATTEMPTS)
        self.assertEqual(pp.context(0)["port"], pp.port)
        resp = pp.request(0, "GET", origin.url("/echo"))
        self.assertEqual(resp.status, 200)
        # A second one picks yet another port.
        pp2 = self.preview(default_listen=False)
        self.assertNotEqual(pp2.port, pp.port)
        self.assertGreater(pp2.port, DEFAULT_PORT)
        self.assertLess(pp2.port, DEFAULT_PORT + ATTEMPTS)
        self.assertEqual(pp2.request(0, "GET", origin.url("/echo")).status, 200)

    def test_default_listener_is_loopback_only(self):
        pp = self.preview(default_listen=False)
        self.assertEqual(pp.host, "127.0.0.1")
        # Not reachable on another local address (127.0.0.2 is loopback too, but a listener
        # bound to 127.0.0.1 does not accept there; one on 0.0.0.0 would).
        self.assertTrue(harness.connection_refused("127.0.0.2", pp.port),
                        "the default listener must bind 127.0.0.1 only")

    def test_explicit_busy_listen_fails(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        self.addCleanup(s.close)
        busy = s.getsockname()[1]
        pp = self.preview("--listen", f"127.0.0.1:{busy}", expect_contexts=None)
        code = pp.wait(timeout=10)
        self.assertNotEqual(code, 0)
        self.assertTrue(pp.stderr_text().strip(), "a bind failure needs a message on stderr")
        self.assertFalse([l for l in pp.stdout_lines if harness.PREVIEW_LISTEN_RE.match(l)])

    def test_explicit_port_zero_prints_the_real_port(self):
        pp = self.preview("--listen", "127.0.0.1:0")
        self.assertNotEqual(pp.port, 0)
        self.assertFalse(harness.connection_refused("127.0.0.1", pp.port))

    def test_explicit_free_port_is_taken_as_is(self):
        port = harness.free_port()
        pp = self.preview("--listen", f"127.0.0.1:{port}")
        self.assertEqual(pp.port, port)


class Logging(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin_ = cls.class_origin(name="log-origin")

    def traffic(self, pp):
        """A plain request, a 407, a CONNECT and a WebSocket upgrade (unrouted context)."""
        o = self.origin_
        self.assertEqual(pp.request(0, "GET", o.url("/echo?logged=1")).status, 200)
        self.assertEqual(pp.request(None, "GET", o.url("/echo")).status, 407)
        conn = harness.HttpConn(pp.host, pp.port, timeout=10)
        try:
            conn.send((f"CONNECT {o.hostport} HTTP/1.1\r\nHost: {o.hostport}\r\n"
                       f"Proxy-Authorization: {pp.auth_header(0)[1]}\r\n\r\n").encode())
            status, _, _, _ = conn.read_head()
            self.assertEqual(status, 200)
            conn.send(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            conn.read_to_close()
        finally:
            conn.close()
        conn = harness.HttpConn(pp.host, pp.port, timeout=10)
        try:
            conn.send((f"GET {o.url('/ws')} HTTP/1.1\r\nHost: {o.hostport}\r\n"
                       "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       f"Proxy-Authorization: {pp.auth_header(0)[1]}\r\n\r\n").encode())
            status, _, _, _ = conn.read_head()
            self.assertEqual(status, 101)
        finally:
            conn.close()

    def secrets(self, pp):
        ctx = pp.context(0)
        token = base64.b64encode(f"{ctx['username']}:{ctx['password']}".encode()).decode()
        return [ctx["password"], token]

    def assertLogged(self, pp):
        self.traffic(pp)
        self.assertEqual(pp.stop(), 0)  # flushes the log
        text = pp.stderr_text()
        events = pp.log_events()
        names = [e.get("event") for e in events]
        self.assertIn("http-request", names, text[-3000:])
        self.assertIn("connect-request", names, text[-3000:])
        for line in text.splitlines():
            if line.startswith("{"):
                obj = json.loads(line)  # one JSON object per line
                self.assertIsInstance(obj.get("event"), str, line)
        for secret in self.secrets(pp):
            self.assertNotIn(secret, text, "credentials must never be logged")
        http = [e for e in events if e.get("event") == "http-request"]
        self.assertTrue(any(e.get("method") == "GET" and e.get("status") == 200 and
                            str(e.get("path", "")).startswith("/echo") for e in http),
                        f"no http-request event for the GET /echo answered 200: {http}")
        self.assertTrue(any(e.get("status") == 407 for e in http), http)

    def test_log_flag(self):
        self.assertLogged(self.preview("--log"))

    def test_log_env(self):
        for var, value in (("CMUX_PREVIEW_PROXY_LOG", "1"), ("CMUX_PREVIEW_PROXY_LOGGING", "true"),
                           ("CMUX_PREVIEW_PROXY_LOG", "")):
            with self.subTest(var=var, value=value):
                self.assertLogged(self.preview(env={var: value}))

    def test_no_log_by_default_or_when_off(self):
        for env in (None, {"CMUX_PREVIEW_PROXY_LOG": "0"}, {"CMUX_PREVIEW_PROXY_LOGGING": "off"}):
            with self.subTest(env=env):
                pp = self.preview(env=env)
                self.traffic(pp)
                self.assertEqual(pp.stop(), 0)
                text = pp.stderr_text()
                for event in ("http-request", "connect-request", "upgrade-request"):
                    self.assertNotIn(event, text)
                for secret in self.secrets(pp):
                    self.assertNotIn(secret, text)


if __name__ == "__main__":
    unittest.main()
