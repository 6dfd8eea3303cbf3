"""cmux-proxy routing rules and their error answers (SPEC §2 Routing), over HTTP/1.1 and h2c
with curl, plus raw sockets where curl cannot send the bytes.

    cd tests/integration && /usr/bin/python3 -m unittest -v test_cmux_proxy_routing
"""

import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import CURL_PROTOCOLS, ProxyTestCase, curl, port_header  # noqa: E402

MISSING = "missing required header: X-Cmux-Port-Internal"
EMPTY = "header value cannot be empty"
BAD_PORT = "invalid port in X-Cmux-Port-Internal"
NEEDS_OVERRIDE = "Host header requires X-Cmux-Host-Override"
BAD_HOST = "invalid Host header (not UTF-8)"


def _fnv_workspace():
    """A workspace name without trailing digits whose FNV IP is not used by another origin."""
    for name in ("Preview-App", "preview-web", "docs-site", "storybook"):
        ip = harness.workspace_ip(name)
        if ip not in ("127.18.0.1", "127.18.1.2", "127.18.0.0") and not ip.endswith(".0"):
            return name, ip
    raise AssertionError("no usable FNV workspace name")


class Routing(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.default = cls.class_origin("127.0.0.1", name="default")
        cls.ws1 = cls.class_origin("127.18.0.1", name="workspace-1")
        # Same port as workspace-1 but on the default upstream host: tells the two apart when
        # only the Host pattern names the workspace.
        cls.default_ws1_port = cls.class_origin("127.0.0.1", name="default-at-ws1-port",
                                                port=cls.ws1.port)
        cls.ws258 = cls.class_origin("127.18.1.2", name="workspace-258")
        cls.fnv_name, fnv_ip = _fnv_workspace()
        cls.fnv = cls.class_origin(fnv_ip, name="fnv")
        cls.proxy_ = cls.class_proxy()
        cls.proxy_no_default = cls.class_proxy("--allow-default-upstream=false")
        cls.proxy_local = cls.class_proxy("--require-local-host")

    def get(self, proto, *args, proxy=None, path="/echo"):
        proxy = proxy or self.proxy_
        return curl(*CURL_PROTOCOLS[proto], proxy.url(path), *args)

    def raw(self, head: bytes, proxy=None):
        proxy = proxy or self.proxy_
        conn = harness.HttpConn(proxy.host, proxy.port, timeout=5)
        self.addCleanup(conn.close)
        conn.send(head)
        return conn.read_response()

    def assertRawError(self, resp, status, message=None):
        self.assertProxyError(resp.status, resp.header("content-type"), resp.body, status,
                              message)

    def echo_of(self, r, name):
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.status, 200, r.text)
        echo = r.json()
        self.assertEqual(echo["name"], name)
        return echo

    # ---- port ------------------------------------------------------------------------------

    def test_port_header_routes_to_default_upstream(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = self.get(proto, *port_header(self.default.port), path="/echo?q=1&r=%20")
                echo = self.echo_of(r, "default")
                self.assertEqual(echo["url"], "/echo?q=1&r=%20")
                self.assertEqual(echo["method"], "GET")
                self.assertEqual(echo["httpVersion"], "1.1", "upstream is always HTTP/1.1")
                self.assertEqual(echo["localAddress"], "127.0.0.1")

    def test_port_header_value_is_trimmed(self):
        resp = self.raw(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: \t %d \t\r\n\r\n"
                        % self.default.port)
        self.assertEqual(resp.status, 200, resp.body)

    def test_host_pattern_gives_port(self):
        p = self.default.port
        for proto in CURL_PROTOCOLS:
            for host in (f"workspace-1-{p}.localhost", f"workspace-1-{p}.localhost:39379",
                         f"WORKSPACE-1-{p}.LOCALHOST", f"my-app-{p}.localhost"):
                with self.subTest(proto=proto, host=host):
                    # workspace-1's port differs from the default origin's: the default
                    # upstream host (allow-default-upstream=true) with the pattern's port.
                    echo = self.echo_of(self.get(proto, "-H", f"Host: {host}"), "default")
                    self.assertEqual(echo["host"], host, "Host is forwarded unchanged")

    def test_port_header_wins_over_host_pattern(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = self.get(proto, "-H", "Host: workspace-1-1.localhost",
                             *port_header(self.default.port))
                self.echo_of(r, "default")

    def test_missing_port(self):
        for proto in CURL_PROTOCOLS:
            # (workspace-1.localhost would match the pattern: workspace "workspace", port 1)
            for host in (None, "foo.localhost", "workspace-1-.localhost", "localhost:8080",
                         f"workspace-1-{self.default.port}.example.com"):
                with self.subTest(proto=proto, host=host):
                    args = ["-H", f"Host: {host}"] if host else []
                    self.assertCurlError(self.get(proto, *args), 400, MISSING)

    def test_empty_port(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                self.assertCurlError(self.get(proto, "-H", "X-Cmux-Port-Internal;"), 400, EMPTY)

    def test_invalid_port(self):
        for proto in CURL_PROTOCOLS:
            for value in ("abc", "0", "65536", "-1", "1.5", "80a", "99999999999999999999",
                          "80, 81"):
                with self.subTest(proto=proto, value=value):
                    r = self.get(proto, "-H", f"X-Cmux-Port-Internal: {value}")
                    self.assertCurlError(r, 400, BAD_PORT)

    def test_non_utf8_port(self):
        resp = self.raw(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Cmux-Port-Internal: 8\xff\xfe0\r\n\r\n")
        self.assertRawError(resp, 400)

    # ---- workspace --------------------------------------------------------------------------

    def test_workspace_header_numeric_names(self):
        cases = [("workspace-1", self.ws1), ("workspace-258", self.ws258),
                 ("org/project/workspace-258", self.ws258), ("Workspace-1", self.ws1)]
        for proto in CURL_PROTOCOLS:
            for ws, origin in cases:
                with self.subTest(proto=proto, workspace=ws):
                    r = self.get(proto, "-H", f"X-Cmux-Workspace-Internal: {ws}",
                                 *port_header(origin.port))
                    echo = self.echo_of(r, origin.name)
                    self.assertEqual(echo["localAddress"], origin.host)
                    names = [n.lower() for n in echo["rawHeaders"][::2]]
                    self.assertFalse([n for n in names if n.startswith("x-cmux-")], names)

    def test_workspace_header_fnv_names(self):
        self.assertEqual(harness.workspace_ip("workspace-1"), "127.18.0.1")
        self.assertEqual(harness.workspace_ip("workspace-258"), "127.18.1.2")
        name = self.fnv_name
        for proto in CURL_PROTOCOLS:
            for ws in (name, name.upper(), f"team/{name.lower()}"):
                with self.subTest(proto=proto, workspace=ws):
                    r = self.get(proto, "-H", f"X-Cmux-Workspace-Internal: {ws}",
                                 *port_header(self.fnv.port))
                    self.echo_of(r, "fnv")

    def test_workspace_header_wins_over_host_pattern(self):
        for proxy in (self.proxy_, self.proxy_no_default):
            with self.subTest(proxy=proxy.args):
                r = curl(proxy.url("/echo"), "-H", f"Host: workspace-1-{self.ws258.port}.localhost",
                         "-H", "X-Cmux-Workspace-Internal: workspace-258")
                self.echo_of(r, "workspace-258")

    def test_invalid_workspace_name(self):
        ws = "workspace-99999999999999999999"
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = self.get(proto, "-H", f"X-Cmux-Workspace-Internal: {ws}",
                             *port_header(self.default.port))
                self.assertCurlError(r, 400, f"invalid workspace name: {ws}")

    def test_empty_workspace_header(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = self.get(proto, "-H", "X-Cmux-Workspace-Internal;",
                             *port_header(self.default.port))
                self.assertCurlError(r, 400)

    # ---- allow-default-upstream ---------------------------------------------------------------

    def test_host_pattern_workspace_with_allow_default_upstream(self):
        host = f"workspace-1-{self.ws1.port}.localhost"
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto, allow_default=True):
                r = self.get(proto, "-H", f"Host: {host}")
                self.echo_of(r, "default-at-ws1-port")
            with self.subTest(proto=proto, allow_default=False):
                r = self.get(proto, "-H", f"Host: {host}", proxy=self.proxy_no_default)
                echo = self.echo_of(r, "workspace-1")
                self.assertEqual(echo["host"], host)

    def test_no_workspace_anywhere_uses_default_host_even_without_allow_default(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = self.get(proto, *port_header(self.default.port), proxy=self.proxy_no_default)
                self.echo_of(r, "default")

    # ---- Host --------------------------------------------------------------------------------

    def test_host_forwarded_unchanged(self):
        for proto in CURL_PROTOCOLS:
            for host in ("some.name.example:1234", "localhost", "[::1]:8080", "Mixed.Case.Example"):
                with self.subTest(proto=proto, host=host):
                    r = self.get(proto, "-H", f"Host: {host}", *port_header(self.default.port))
                    echo = self.echo_of(r, "default")
                    self.assertEqual(echo["host"], host)
                    hosts = [v for k, v in zip(echo["rawHeaders"][::2], echo["rawHeaders"][1::2])
                             if k.lower() == "host"]
                    self.assertEqual(hosts, [host], "exactly one Host upstream")

    def test_h2_authority_becomes_host(self):
        c = harness.H2Client(self.proxy_.host, self.proxy_.port)
        self.addCleanup(c.close)
        st = c.request("GET", "/echo", [("x-cmux-port-internal", str(self.default.port))],
                       authority="authority.example:99")
        self.assertEqual(st.status, 200, bytes(st.data))
        self.assertEqual(json.loads(bytes(st.data))["host"], "authority.example:99")

    def test_host_override(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = self.get(proto, "-H", "Host: original.example",
                             "-H", "X-Cmux-Host-Override: app.example.test:8443",
                             *port_header(self.default.port))
                echo = self.echo_of(r, "default")
                self.assertEqual(echo["host"], "app.example.test:8443")
                names = [n.lower() for n in echo["rawHeaders"][::2]]
                self.assertEqual(names.count("host"), 1)
                self.assertFalse([n for n in names if n.startswith("x-cmux-")], names)

    def test_host_override_is_trimmed(self):
        resp = self.raw(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Cmux-Host-Override:  \t app.example \t\r\n"
                        b"X-Cmux-Port-Internal: %d\r\n\r\n" % self.default.port)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(json.loads(resp.body)["host"], "app.example")

    def test_non_ascii_host_rejected(self):
        resp = self.raw(b"GET /echo HTTP/1.1\r\nHost: caf\xc3\xa9.example\r\n"
                        b"X-Cmux-Port-Internal: %d\r\n\r\n" % self.default.port)
        self.assertRawError(resp, 400, BAD_HOST)

    # ---- require-local-host -------------------------------------------------------------------

    def test_require_local_host_rejects_remote_host(self):
        for proto in CURL_PROTOCOLS:
            for host in ("example.com", "example.com:443", "localhost.example.com", "128.0.0.1",
                         "10.0.0.1:80", "[::2]:80", "evil-localhost"):
                with self.subTest(proto=proto, host=host):
                    r = self.get(proto, "-H", f"Host: {host}", *port_header(self.default.port),
                                 proxy=self.proxy_local)
                    self.assertCurlError(r, 502, NEEDS_OVERRIDE)

    def test_require_local_host_accepts_override(self):
        for proto in CURL_PROTOCOLS:
            with self.subTest(proto=proto):
                r = self.get(proto, "-H", "Host: example.com", "-H",
                             "X-Cmux-Host-Override: example.com", *port_header(self.default.port),
                             proxy=self.proxy_local)
                self.assertEqual(self.echo_of(r, "default")["host"], "example.com")

    def test_require_local_host_accepts_local_hosts(self):
        for proto in CURL_PROTOCOLS:
            for host in ("localhost", "localhost:3000", "LOCALHOST", "app.localhost:5173",
                         "127.0.0.1", "127.0.0.1:8080", "127.1.2.3", "[::1]", "[::1]:8080"):
                with self.subTest(proto=proto, host=host):
                    r = self.get(proto, "-H", f"Host: {host}", *port_header(self.default.port),
                                 proxy=self.proxy_local)
                    self.assertEqual(self.echo_of(r, "default")["host"], host)

    def test_require_local_host_allows_empty_host(self):
        resp = self.raw(b"GET /echo HTTP/1.1\r\nHost: \r\nX-Cmux-Port-Internal: %d\r\n\r\n"
                        % self.default.port, proxy=self.proxy_local)
        self.assertEqual(resp.status, 200, resp.body)

    def test_remote_host_allowed_without_require_local_host(self):
        r = curl(self.proxy_.url("/echo"), "-H", "Host: example.com",
                 *port_header(self.default.port))
        self.assertEqual(self.echo_of(r, "default")["host"], "example.com")


if __name__ == "__main__":
    unittest.main()
