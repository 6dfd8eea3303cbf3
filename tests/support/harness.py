"""Helpers for the black-box integration tests of the built binaries (tests/integration/).

Run under /usr/bin/python3 (Debian's python3-h2 / hyperframe / websockets import only there).
Everything talks to real sockets on loopback; nothing is mocked. Nothing here sleeps to wait:
`wait_until` polls a condition against a deadline, and reads block with timeouts.

Main entry points:
  build_dir(), proxy_binary()
  start_origin(host="127.0.0.1", name=None, port=0, cleanup=None) -> Origin
  start_cmux_proxy(*args, env=None, expect_listeners=1, expect_metrics=False, cleanup=None) -> Proxy
  start_preview_proxy(*args, env=None, cleanup=None) -> PreviewProxy (port, contexts, request())
  make_test_ca_and_cert(dir, dns_names) -> CertBundle (openssl CLI; a throwaway test CA + leaf)
  scrape_metrics(addr), metric_sum(samples, name, **labels): cmux-proxy's Prometheus text
  MORPH_HOST / MORPH_ROUTE / resolve_args(proxy): the chain's cmux-proxy origin and --resolve
  run(cmd, timeout=30, input=None) -> subprocess.CompletedProcess (bytes)
  curl(*args, timeout=30) -> CurlResult
  wait_until(pred, timeout=10, message=None)
  HttpConn (raw HTTP/1.1 over a socket), H2Client (python3-h2 over a socket)
  pattern_*(): the deterministic body pattern of origin.js /bytes
  workspace_ip(name): the SPEC §2 mapping, computed independently of the C++ code
`cleanup` is a callable such as TestCase.addCleanup / addClassCleanup; processes are also
killed at interpreter exit as a last resort.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SUPPORT_DIR = Path(__file__).resolve().parent
REPO_ROOT = SUPPORT_DIR.parent.parent

_LIVE_PROCS: list[subprocess.Popen] = []


def _kill_leftovers() -> None:
    for proc in _LIVE_PROCS:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_kill_leftovers)

_TEMP_DIRS: list[Path] = []


def _remove_temp_dirs() -> None:
    for d in _TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_temp_dirs)


def build_dir() -> Path:
    return Path(os.environ.get("CMUX_BUILD_DIR") or (REPO_ROOT / "build")).resolve()


def proxy_binary() -> Path:
    return build_dir() / "bin" / "cmux-proxy"


def sanitizer_build() -> bool:
    """True when build_dir() is a sanitizer tree (CMUX_SANITIZE set in its CMakeCache.txt:
    build-asan/, build-tsan/). Memory bounds of the normal build do not hold there (shadow
    memory, ASan's quarantine of freed blocks); docs/security.md."""
    try:
        text = (build_dir() / "CMakeCache.txt").read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"^CMUX_SANITIZE:STRING=\S", text, re.M) is not None


HEAP_TUNABLES = "glibc.malloc.tcache_count=100"


def glibc_tunables(pid: int) -> str | None:
    """GLIBC_TUNABLES in the environment of a running process (net/heap_trim.hpp: the CLIs
    re-exec themselves with HEAP_TUNABLES unless it is set or the build is sanitized)."""
    for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if item.startswith(b"GLIBC_TUNABLES="):
            return item.split(b"=", 1)[1].decode()
    return None


def check_heap_tunables(test: unittest.TestCase, start) -> None:
    """`start(env)` starts a CLI; it runs with HEAP_TUNABLES (none in a sanitizer build), and
    with the user's own GLIBC_TUNABLES untouched."""
    p = start({"GLIBC_TUNABLES": None})  # whatever the test runner's environment holds
    test.assertEqual(glibc_tunables(p.proc.pid), None if sanitizer_build() else HEAP_TUNABLES)
    test.assertEqual(p.stop(timeout=15), 0)
    p = start({"GLIBC_TUNABLES": "glibc.malloc.check=0"})
    test.assertEqual(glibc_tunables(p.proc.pid), "glibc.malloc.check=0")
    test.assertEqual(p.stop(timeout=15), 0)


def require_binary(path: Path) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise AssertionError(f"{path} is missing: build it first (make build)")
    return path


# ---------------------------------------------------------------------------------------------
# waiting


def wait_until(pred, timeout: float = 10.0, interval: float = 0.01, message: str | None = None):
    """Polls pred() until it returns a truthy value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - the predicate may race with a starting server
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError((message or f"condition not met within {timeout}s") + detail)
        time.sleep(interval)  # polling interval, not a wait for an event


# ---------------------------------------------------------------------------------------------
# ports and addresses


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on `host` a moment ago (for tests that must name a port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_everywhere() -> int:
    """A port free on 0.0.0.0 (so on every IPv4 loopback address) and on ::1 when available."""
    for _ in range(50):
        port = free_port("0.0.0.0")
        try:
            if ipv6_available():
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                    s.bind(("::1", port))
            return port
        except OSError:
            continue
    raise AssertionError("no port free on both IPv4 and IPv6")


_IPV6 = None


def ipv6_available() -> bool:
    global _IPV6
    if _IPV6 is None:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
            _IPV6 = True
        except OSError:
            _IPV6 = False
    return _IPV6


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connection_refused(host: str, port: int, timeout: float = 1.0) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((host, port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        return False


# ---------------------------------------------------------------------------------------------
# workspace IP (SPEC §2), computed independently of the C++ implementation


def fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def workspace_ip(name: str) -> str | None:
    last = name.split("/")[-1]
    m = re.search(r"(\d+)$", last)
    if m:
        n = int(m.group(1))
        if n > 0xFFFFFFFFFFFFFFFF:
            return None  # overflow (any integer type the implementation may use)
    else:
        n = fnv1a32(last.lower().encode()) & 0xFFFF
    return f"127.18.{(n >> 8) & 255}.{n & 255}"


# ---------------------------------------------------------------------------------------------
# deterministic body pattern (same as origin.js): 16-byte records, record k = "%015x\n" % k

_RECORDS_PER_CHUNK = 4096
PATTERN_CHUNK = 16 * _RECORDS_PER_CHUNK
_TEMPLATE = bytearray(b"".join(b"%012x%03x\n" % (0, j) for j in range(_RECORDS_PER_CHUNK)))


def pattern_chunk(c: int) -> bytes:
    buf = bytearray(_TEMPLATE)
    prefix = b"%012x" % c
    for col in range(12):
        buf[col::16] = bytes([prefix[col]]) * _RECORDS_PER_CHUNK
    return bytes(buf)


def pattern_chunks(n: int):
    c = 0
    left = n
    while left > 0:
        chunk = pattern_chunk(c)
        c += 1
        if left < len(chunk):
            chunk = chunk[:left]
        left -= len(chunk)
        yield chunk


def pattern_bytes(n: int) -> bytes:
    return b"".join(pattern_chunks(n))


_SHA_CACHE: dict[int, str] = {}


def pattern_sha256(n: int) -> str:
    if n not in _SHA_CACHE:
        h = hashlib.sha256()
        for chunk in pattern_chunks(n):
            h.update(chunk)
        _SHA_CACHE[n] = h.hexdigest()
    return _SHA_CACHE[n]


def write_pattern_file(path: Path, n: int) -> str:
    """Writes n pattern bytes to path; returns their sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for chunk in pattern_chunks(n):
            h.update(chunk)
            f.write(chunk)
    _SHA_CACHE[n] = h.hexdigest()
    return _SHA_CACHE[n]


# ---------------------------------------------------------------------------------------------
# processes


class _StderrDrain:
    """Reads a pipe in a thread into a buffer so the child never blocks on a full pipe."""

    def __init__(self, pipe):
        self._pipe = pipe
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            try:
                data = self._pipe.read1(65536)
            except (OSError, ValueError):
                break
            if not data:
                break
            with self._lock:
                self._buf += data

    def text(self) -> str:
        with self._lock:
            return self._buf.decode("utf-8", "replace")

    def join(self, timeout: float = 5.0):
        self._thread.join(timeout)


class _LineReader:
    """Line reads from a child's stdout with a deadline (select-based, in the caller's thread),
    plus a non-blocking `drain()` of whatever is already in the pipe."""

    def __init__(self, pipe):
        self._fd = pipe.fileno()
        os.set_blocking(self._fd, False)
        self._buf = b""
        self.eof = False
        self.lines: list[str] = []

    def _read_available(self) -> bool:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return False
        if not data:
            self.eof = True
            return False
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self.lines.append(line.decode("utf-8", "replace").rstrip("\r"))
        return True

    def drain(self) -> list[str]:
        while not self.eof and self._read_available():
            pass
        return self.lines

    def wait_lines(self, pred, timeout: float) -> bool:
        """Reads until pred(lines) is true, EOF, or the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            if pred(self.lines):
                return True
            if self.eof:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([self._fd], [], [], left)


def _child_env(env: dict | None) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CMUX_") and k != "RUST_LOG"}
    for k, v in (env or {}).items():
        if v is None:
            base.pop(k, None)
        else:
            base[k] = str(v)
    return base


def _register(proc: subprocess.Popen, stop, cleanup):
    _LIVE_PROCS.append(proc)
    if cleanup is not None:
        cleanup(stop)


# ---------------------------------------------------------------------------------------------
# origin


class Origin:
    def __init__(self, proc, info, stderr):
        self.proc = proc
        self.port: int = info["port"]
        self.host: str = info["host"]
        self.name: str = info.get("name", "origin")
        self._stderr = stderr

    @property
    def hostport(self) -> str:
        return hostport(self.host, self.port)

    def url(self, path: str = "/") -> str:
        return f"http://{self.hostport}{path}"

    def stderr_text(self) -> str:
        return self._stderr.text()

    def stats(self) -> dict:
        """The origin's /_requests counters (asked directly, not through a proxy)."""
        conn = HttpConn(self.host, self.port, timeout=5)
        try:
            resp = conn.request("GET", "/_requests", headers=[("Host", self.hostport)])
            return json.loads(resp.body)
        finally:
            conn.close()

    def request_count(self) -> int:
        return self.stats()["requests"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except Exception:  # noqa: BLE001
                pass


def start_origin(host: str = "127.0.0.1", name: str | None = None, port: int = 0,
                 cleanup=None, timeout: float = 15.0) -> Origin:
    node_modules = SUPPORT_DIR / "node_modules" / "ws"
    if not node_modules.is_dir():
        raise AssertionError("tests/support/node_modules missing: run scripts/bootstrap "
                             "(npm ci in tests/support)")
    cmd = ["node", str(SUPPORT_DIR / "origin.js"), "--host", host, "--port", str(port)]
    if name:
        cmd += ["--name", name]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=SUPPORT_DIR)
    stderr = _StderrDrain(proc.stderr)
    reader = _LineReader(proc.stdout)
    ok = reader.wait_lines(lambda lines: any(l.startswith("{") for l in lines), timeout)
    if not ok:
        proc.kill()
        proc.wait()
        stderr.join()
        raise AssertionError(f"origin did not start on {host}:{port}: {stderr.text()}")
    info = json.loads(next(l for l in reader.lines if l.startswith("{")))
    origin = Origin(proc, info, stderr)
    _register(proc, origin.stop, cleanup)
    return origin


# ---------------------------------------------------------------------------------------------
# cmux-proxy

LISTEN_RE = re.compile(r"^cmux-proxy listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)$")
METRICS_RE = re.compile(r"^cmux-proxy metrics on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)$")


@dataclass
class Addr:
    host: str  # without brackets
    port: int
    printed: str = ""  # as printed, e.g. "[::1]:1234"

    @property
    def hostport(self) -> str:
        return hostport(self.host, self.port)


def _parse_addr(host: str, port: str, printed: str) -> Addr:
    return Addr(host.strip("[]"), int(port), printed)


class Proxy:
    label = "cmux-proxy"  # the binary's name, for messages

    def __init__(self, proc, reader, stderr, args, binary):
        self.proc = proc
        self._reader = reader
        self._stderr = stderr
        self.args = args
        self.binary = binary
        self.exit_code = None
        self._stop_requested = False

    # what the process printed on stdout
    @property
    def stdout_lines(self) -> list[str]:
        return self._reader.drain()

    @property
    def addrs(self) -> list[Addr]:
        out = []
        for line in self.stdout_lines:
            m = LISTEN_RE.match(line)
            if m:
                out.append(_parse_addr(m.group(1), m.group(2), f"{m.group(1)}:{m.group(2)}"))
        return out

    @property
    def metrics_addr(self) -> Addr | None:
        for line in self.stdout_lines:
            m = METRICS_RE.match(line)
            if m:
                return _parse_addr(m.group(1), m.group(2), f"{m.group(1)}:{m.group(2)}")
        return None

    @property
    def host(self) -> str:
        return self.addrs[0].host

    @property
    def port(self) -> int:
        return self.addrs[0].port

    @property
    def hostport(self) -> str:
        return self.addrs[0].hostport

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{self.hostport}{path}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_text(self) -> str:
        return self._stderr.text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def status_kb(self, key: str) -> int:
        """A value from /proc/<pid>/status in kB (e.g. VmHWM, VmRSS)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def send_signal(self, sig=signal.SIGTERM):
        self._stop_requested = True
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.label} did not exit within {timeout}s\n"
                                 f"stderr:\n{self.stderr_text()[-4000:]}")
        self._stderr.join()
        return self.exit_code

    def stop(self, sig=signal.SIGTERM, timeout: float = 15.0, expect_code: int | None = 0) -> int:
        """Signals the process (SIGTERM) and waits; asserts the exit code (0 by default)."""
        self._stop_requested = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.wait(timeout)
        try:
            self._reader.drain()  # keep what it printed readable after the pipe is closed
        except OSError:
            pass
        self._reader.eof = True
        for pipe in (self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except Exception:  # noqa: BLE001
                pass
        if expect_code is not None and code != expect_code:
            raise AssertionError(f"{self.label} exited with {code}, expected {expect_code}\n"
                                 f"stderr:\n{self.stderr_text()[-4000:]}")
        return code

    def died_unexpectedly(self) -> str | None:
        """A description when the process exited without being asked to (a crash)."""
        code = self.proc.poll()
        if code is None or self._stop_requested:
            return None
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return (f"{self.label} {' '.join(self.args)} died unexpectedly ({how})\n"
                f"stderr:\n{self.stderr_text()[-3000:]}")

    def _cleanup(self):
        # A test that already stopped the process has asserted what it wanted; a process that
        # died on its own is a failure of the test that was running.
        death = self.died_unexpectedly()
        if self.proc.poll() is None:
            self.stop(expect_code=None)
        if death:
            raise AssertionError(death)


def _has_listen_arg(args) -> bool:
    return any(a == "--listen" or a.startswith("--listen=") for a in args)


def start_cmux_proxy(*args, env: dict | None = None, expect_listeners: int | None = 1,
                     expect_metrics: bool = False, default_listen: bool = True, cleanup=None,
                     timeout: float = 10.0, binary: Path | None = None) -> Proxy:
    """Starts build/bin/cmux-proxy and waits for its `listening on` lines.

    Without a --listen argument (and without CMUX_LISTEN in `env`) `--listen 127.0.0.1:0` is
    added unless default_listen=False. `expect_listeners=None` returns right after start
    (for tests that expect the process to fail)."""
    binary = require_binary(binary or proxy_binary())
    args = [str(a) for a in args]
    if default_listen and not _has_listen_arg(args) and not (env and env.get("CMUX_LISTEN")):
        args = ["--listen", "127.0.0.1:0"] + args
    proc = subprocess.Popen([str(binary), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_child_env(env))
    stderr = _StderrDrain(proc.stderr)
    reader = _LineReader(proc.stdout)
    proxy = Proxy(proc, reader, stderr, args, binary)
    _register(proc, proxy._cleanup, cleanup)
    if expect_listeners is None:
        proxy._stop_requested = True  # the caller expects it may exit on its own
        return proxy

    def ready(lines):
        n = sum(1 for l in lines if LISTEN_RE.match(l))
        m = any(METRICS_RE.match(l) for l in lines)
        return n >= expect_listeners and (m or not expect_metrics)

    if not reader.wait_lines(ready, timeout):
        alive = proc.poll() is None
        if alive:
            proc.kill()
        proc.wait()
        stderr.join()
        raise AssertionError(
            f"cmux-proxy {' '.join(args)}: expected {expect_listeners} listener line(s)"
            f"{' and a metrics line' if expect_metrics else ''} within {timeout}s; "
            f"{'still running' if alive else f'exited with {proc.returncode}'}\n"
            f"stdout: {reader.lines!r}\nstderr:\n{stderr.text()[-4000:]}")
    return proxy


# ---------------------------------------------------------------------------------------------
# cmux-preview-proxy (SPEC §3, §5)

PREVIEW_LISTEN_RE = re.compile(r"^cmux-preview-proxy listening on (127\.0\.0\.1|[0-9.]+|"
                               r"\[[0-9a-fA-F:.]+\]):(\d+)$")


def preview_proxy_binary() -> Path:
    return build_dir() / "bin" / "cmux-preview-proxy"


class PreviewProxy(Proxy):
    """A running cmux-preview-proxy: `port`, `contexts` (the JSON lines it printed, one dict per
    context: port, webContentsId, username, password, route, proxy), stderr, stop()."""

    label = "cmux-preview-proxy"

    @property
    def addrs(self) -> list[Addr]:
        out = []
        for line in self.stdout_lines:
            m = PREVIEW_LISTEN_RE.match(line)
            if m:
                out.append(_parse_addr(m.group(1), m.group(2), f"{m.group(1)}:{m.group(2)}"))
        return out

    @property
    def contexts(self) -> list[dict]:
        out = []
        for line in self.stdout_lines:
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def context(self, index: int = 0) -> dict:
        return self.contexts[index]

    @property
    def proxy_url(self) -> str:
        return f"http://{self.hostport}"

    def curl_args(self, index: int = 0) -> list:
        """curl arguments that send a request through this proxy with context `index`."""
        ctx = self.contexts[index]
        return ["-x", self.proxy_url, "--proxy-user", f"{ctx['username']}:{ctx['password']}"]

    def auth_header(self, index: int = 0) -> tuple:
        ctx = self.contexts[index]
        return ("Proxy-Authorization", basic_auth(ctx["username"], ctx["password"]))

    def request(self, ctx: int | None, method: str, url: str, headers=(), body: bytes = b"",
                timeout: float = 15.0, host: str | None = None) -> "RawResponse":
        """One HTTP/1.1 proxy request in absolute form on a fresh connection: `Host` is the URL's
        authority (or `host`), `Proxy-Authorization` that of context `ctx` (None: no header)."""
        from urllib.parse import urlsplit

        conn = HttpConn(self.host, self.port, timeout=timeout)
        try:
            hdrs = [("Host", host if host is not None else urlsplit(url).netloc)]
            if ctx is not None:
                hdrs.append(self.auth_header(ctx))
            hdrs += list(headers)
            return conn.request(method, url, hdrs, body)
        finally:
            conn.close()

    @property
    def ca_dir(self) -> Path:
        """The --ca-dir this process was started with (the harness adds a temp one)."""
        for i, a in enumerate(self.args):
            if a == "--ca-dir" and i + 1 < len(self.args):
                return Path(self.args[i + 1])
            if a.startswith("--ca-dir="):
                return Path(a.split("=", 1)[1])
        raise AssertionError("no --ca-dir argument")

    @property
    def ca_cert_path(self) -> Path:
        """ca.crt of the proxy's local CA (PEM): the trust anchor of intercepted TLS."""
        return self.ca_dir / "ca.crt"

    def log_events(self) -> list[dict]:
        """The JSON objects among the stderr lines (the --log events)."""
        out = []
        for line in self.stderr_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


def basic_auth(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def start_preview_proxy(*args, env: dict | None = None, cleanup=None, default_listen: bool = True,
                        expect_contexts: int | None = -1, timeout: float = 10.0,
                        binary: Path | None = None) -> PreviewProxy:
    """Starts build/bin/cmux-preview-proxy and waits for its `listening on` line and one JSON
    line per context (the number of --route arguments, or 1 when there is none; or
    `expect_contexts`). Without --listen, `--listen 127.0.0.1:0` is added unless
    default_listen=False. `expect_contexts=None` returns right after start (for tests that expect
    the process to fail)."""
    binary = require_binary(binary or preview_proxy_binary())
    args = [str(a) for a in args]
    if default_listen and not _has_listen_arg(args):
        args = ["--listen", "127.0.0.1:0"] + args
    if expect_contexts == -1:
        expect_contexts = max(1, sum(1 for a in args if a == "--route" or
                                     a.startswith("--route=")))
    if not any(a == "--ca-dir" or a.startswith("--ca-dir=") for a in args):
        # Never the user's ~/.cmux/certs: a throwaway CA directory per process.
        ca_dir = Path(tempfile.mkdtemp(prefix="cmux-test-preview-ca-"))
        _TEMP_DIRS.append(ca_dir)
        if cleanup is not None:
            cleanup(lambda: shutil.rmtree(ca_dir, ignore_errors=True))
        args = args + ["--ca-dir", str(ca_dir)]
    proc = subprocess.Popen([str(binary), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_child_env(env))
    stderr = _StderrDrain(proc.stderr)
    reader = _LineReader(proc.stdout)
    proxy = PreviewProxy(proc, reader, stderr, args, binary)
    _register(proc, proxy._cleanup, cleanup)
    if expect_contexts is None:
        proxy._stop_requested = True  # the caller expects it may exit on its own
        return proxy

    def ready(lines):
        listening = [i for i, l in enumerate(lines) if PREVIEW_LISTEN_RE.match(l)]
        if not listening:
            return False
        return sum(1 for l in lines[listening[0] + 1:] if l.startswith("{")) >= expect_contexts

    if not reader.wait_lines(ready, timeout):
        alive = proc.poll() is None
        if alive:
            proc.kill()
        proc.wait()
        stderr.join()
        raise AssertionError(
            f"cmux-preview-proxy {' '.join(args)}: expected a listening line and "
            f"{expect_contexts} context line(s) within {timeout}s; "
            f"{'still running' if alive else f'exited with {proc.returncode}'}\n"
            f"stdout: {reader.lines!r}\nstderr:\n{stderr.text()[-4000:]}")
    first = reader.lines[0] if reader.lines else ""
    if not PREVIEW_LISTEN_RE.match(first):
        proxy.stop(expect_code=None)
        raise AssertionError(f"the first stdout line must be the listening line, got {first!r}")
    return proxy


# The workspace of the integration chain: client -> preview proxy -> cmux-proxy (TLS, test CA,
# reached through --resolve) -> origin.
MORPH_ID = "abc123"
MORPH_HOST = f"port-39379-morphvm-{MORPH_ID}.http.cloud.morph.so"
MORPH_ORIGIN = f"https://{MORPH_HOST}"
MORPH_ROUTE = f"{MORPH_ORIGIN}/"


def resolve_args(proxy: "Proxy", host: str = MORPH_HOST, port: int = 443) -> list:
    """--resolve HOST:PORT:IP:PORT sending host:port to the proxy's first listener."""
    return ["--resolve", f"{host}:{port}:{proxy.host}:{proxy.port}"]


def make_temp_dir(cleanup, prefix: str = "cmux-test-") -> Path:
    """A temporary directory (outside the repository) removed by `cleanup`."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if cleanup is not None:
        cleanup(lambda: shutil.rmtree(path, ignore_errors=True))
    return path


# ---------------------------------------------------------------------------------------------
# Prometheus text (cmux-proxy --metrics-listen)

_PROM_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+-?\d+)?$")


def scrape_metrics(addr: Addr) -> list[tuple[str, dict, float]]:
    """GET /metrics from a metrics listener: [(name, labels dict, value)]."""
    conn = HttpConn(addr.host, addr.port, timeout=5)
    try:
        resp = conn.request("GET", "/metrics", headers=[("Host", addr.hostport),
                                                       ("Connection", "close")])
    finally:
        conn.close()
    if resp.status != 200:
        raise AssertionError(f"/metrics answered {resp.status}: {resp.body[:200]!r}")
    out = []
    for line in resp.body.decode().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _PROM_SAMPLE.match(line)
        if not m:
            raise AssertionError(f"not Prometheus text: {line!r}")
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric_sum(samples, name: str, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == str(want) for k, want in labels.items()))


# ---------------------------------------------------------------------------------------------
# external clients


def run(cmd, timeout: float = 30.0, input: bytes | None = None, env: dict | None = None,
        cwd=None) -> subprocess.CompletedProcess:
    """Runs a client (curl, nghttp, h2load, openssl); returns bytes stdout/stderr, never raises
    on a non-zero exit."""
    try:
        return subprocess.run([str(c) for c in cmd], input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, cwd=cwd,
                              env=None if env is None else {**os.environ, **env},
                              stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{cmd!r} timed out after {timeout}s") from exc


@dataclass
class CurlResult:
    rc: int
    status: int
    http_version: str
    headers: list  # [(name lower, value)] of the final response, in order
    trailers: list  # [(name lower, value)]
    body: bytes
    stderr: str
    all_heads: list = field(default_factory=list)  # every header block (1xx included)

    def header(self, name: str):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name: str) -> list:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


def _parse_header_dump(raw: bytes):
    text = raw.decode("latin-1")
    heads: list[tuple[str, list]] = []
    trailers: list = []
    current = None
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line.startswith("HTTP/"):
            current = (line, [])
            heads.append(current)
            continue
        if line == "":
            current = None
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            pair = (k.strip().lower(), v.strip())
            if current is not None:
                current[1].append(pair)
            else:
                trailers.append(pair)
    return heads, trailers


def curl(*args, timeout: float = 15.0, input: bytes | None = None) -> CurlResult:
    """curl -sS with headers dumped; returns the final response (status, headers in order,
    trailers, body). `args` are extra curl arguments including the URL(s)."""
    with tempfile.TemporaryDirectory(prefix="cmux-curl-") as tmp:
        hdr = Path(tmp) / "headers"
        body = Path(tmp) / "body"
        cmd = ["curl", "-sS", "--max-time", str(int(timeout)), "-D", str(hdr), "-o", str(body),
               "-w", "%{http_code} %{http_version}", *[str(a) for a in args]]
        cp = run(cmd, timeout=timeout + 5, input=input)
        heads, trailers = _parse_header_dump(hdr.read_bytes() if hdr.exists() else b"")
        final = [h for h in heads if not re.match(r"HTTP/\S+ 1\d\d", h[0])]
        headers = final[-1][1] if final else []
        w = cp.stdout.decode().split()
        status = int(w[0]) if w and w[0].isdigit() else 0
        version = w[1] if len(w) > 1 else ""
        return CurlResult(rc=cp.returncode, status=status, http_version=version, headers=headers,
                          trailers=trailers, body=body.read_bytes() if body.exists() else b"",
                          stderr=cp.stderr.decode("utf-8", "replace"), all_heads=heads)


# ---------------------------------------------------------------------------------------------
# raw HTTP/1.1


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list  # [(name lower, value str)] in order
    body: bytes
    trailers: list
    raw_head: bytes

    def header(self, name: str):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name: str) -> list:
        return [v for k, v in self.headers if k == name.lower()]


class HttpConn:
    """A raw HTTP/1.1 client connection: send bytes exactly as given, parse responses
    (Content-Length, chunked with trailers, read-to-close, HEAD / 1xx / 204 / 304)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.closed_by_peer = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed_by_peer = True
            return False
        self.buf += data
        return True

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed before {marker!r}; got {self.buf[:200]!r}")
        idx = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:idx], self.buf[idx:]
        return out

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed after {len(self.buf)} of {n} bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_close(self) -> bytes:
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def wait_closed(self) -> bool:
        """True when the peer closes (EOF/RST) before the socket timeout; extra bytes dropped."""
        try:
            while self._fill():
                pass
            return True
        except socket.timeout:
            return False

    def read_head(self):
        head = self.read_until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError(f"bad status line {lines[0]!r}")
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers.append((k.decode("latin-1").strip().lower(), v.decode("latin-1").strip()))
        return int(m.group(1)), (m.group(2) or b"").decode("latin-1"), headers, head

    def read_response(self, method: str = "GET") -> RawResponse:
        while True:
            status, reason, headers, head = self.read_head()
            if 100 <= status < 200 and status != 101:
                continue
            break
        hmap = {}
        for k, v in headers:
            hmap.setdefault(k, v)
        body = b""
        trailers = []
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200 or (
                method == "CONNECT" and 200 <= status < 300):
            pass
        elif "chunked" in hmap.get("transfer-encoding", "").lower():
            while True:
                size_line = self.read_until(b"\r\n")[:-2]
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                body += self.read_exact(size)
                if self.read_exact(2) != b"\r\n":
                    raise AssertionError("bad chunk terminator")
            while True:
                line = self.read_until(b"\r\n")[:-2]
                if not line:
                    break
                k, _, v = line.partition(b":")
                trailers.append((k.decode("latin-1").strip().lower(),
                                 v.decode("latin-1").strip()))
        elif "content-length" in hmap:
            body = self.read_exact(int(hmap["content-length"]))
        else:
            body = self.read_to_close()
        return RawResponse(status, reason, headers, body, trailers, head)

    def request(self, method: str, path: str, headers=(), body: bytes = b"") -> RawResponse:
        lines = [f"{method} {path} HTTP/1.1"]
        has_len = any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers)
        for k, v in headers:
            lines.append(f"{k}: {v}")
        if body and not has_len:
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return self.read_response(method)


def parse_http_bytes(data: bytes):
    """(status, headers dict, body) of one complete HTTP/1.1 response with Content-Length,
    or None while incomplete."""
    if b"\r\n\r\n" not in data:
        return None
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    if len(rest) < n:
        return None
    return status, headers, rest[:n]


def raw_exchange(host: str, port: int, data: bytes, timeout: float = 5.0,
                 wait_close: bool = True):
    """Sends data on a fresh connection; returns (first response or None, closed: bool).
    `closed` is True when the peer closed the connection after that response (only checked,
    for up to `timeout`, when wait_close)."""
    conn = HttpConn(host, port, timeout=timeout)
    try:
        try:
            conn.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may reject and close before reading everything
        try:
            resp = conn.read_response()
        except EOFError:
            return None, True
        closed = conn.wait_closed() if wait_close else False
        return resp, closed
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# HTTP/2 (python3-h2)


@dataclass
class H2Stream:
    stream_id: int
    headers: list | None = None  # response headers [(name, value)] as str
    informational: list = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    trailers: list | None = None
    ended: bool = False
    reset_code: int | None = None

    @property
    def status(self) -> int | None:
        if self.headers is None:
            return None
        for k, v in self.headers:
            if k == ":status":
                return int(v)
        return None

    def header(self, name: str):
        for k, v in self.headers or []:
            if k == name:
                return v
        return None

    def header_all(self, name: str) -> list:
        return [v for k, v in self.headers or [] if k == name]


class H2Client:
    """A cleartext (prior knowledge) or already-TLS HTTP/2 client on a socket, driven by
    python3-h2. Not thread-safe; every wait has a deadline."""

    def __init__(self, host: str, port: int, timeout: float = 10.0, sock=None):
        import h2.config
        import h2.connection

        if sock is None:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect((host, port))
        self.sock = sock
        self.timeout = timeout
        self.authority = hostport(host, port)
        # Outbound validation and normalisation off: python3-h2 insists on :path even for a
        # plain CONNECT (RFC 9113 §8.5 forbids it there), and would silently strip the
        # connection-specific fields that tests send on purpose to check the proxy refuses them.
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                           validate_inbound_headers=False,
                                           validate_outbound_headers=False,
                                           normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.streams: dict[int, H2Stream] = {}
        self.remote_settings_received = False
        self.goaway = None  # ConnectionTerminated event
        self.closed = False
        self.events: list = []
        self._flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _pump_once(self, deadline: float) -> bool:
        import h2.events

        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("HTTP/2: timed out waiting for the server")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise AssertionError("HTTP/2: timed out waiting for the server") from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        for ev in self.conn.receive_data(data):
            self.events.append(ev)
            sid = getattr(ev, "stream_id", None)
            st = self.streams.get(sid) if sid else None
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                self.remote_settings_received = True
            elif isinstance(ev, h2.events.InformationalResponseReceived) and st:
                st.informational.append(ev.headers)
            elif isinstance(ev, h2.events.ResponseReceived) and st:
                st.headers = list(ev.headers)
            elif isinstance(ev, h2.events.TrailersReceived) and st:
                st.trailers = list(ev.headers)
            elif isinstance(ev, h2.events.DataReceived) and st:
                st.data += ev.data
                # Consume at once: the test reads everything it receives.
                if ev.flow_controlled_length:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded) and st:
                st.ended = True
            elif isinstance(ev, h2.events.StreamReset) and st:
                st.reset_code = ev.error_code
                st.ended = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev
        self._flush()
        return True

    def pump_until(self, pred, timeout: float | None = None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while not pred():
            if not self._pump_once(deadline):
                if pred():
                    break
                raise AssertionError("HTTP/2: connection closed by the server")
        return True

    def wait_settings(self):
        self.pump_until(lambda: self.remote_settings_received)
        return self.conn.remote_settings

    def start(self, headers, end_stream: bool = False) -> int:
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = H2Stream(sid)
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        self._flush()
        return sid

    def send_data(self, sid: int, data: bytes, end_stream: bool = False):
        """Sends data respecting flow control (pumps the connection while the window is shut)."""
        view = memoryview(data)
        while True:
            if not view and end_stream:
                self.conn.end_stream(sid)
                self._flush()
                return
            if not view:
                return
            window = min(self.conn.local_flow_control_window(sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self.pump_until(lambda: self.conn.local_flow_control_window(sid) > 0
                                or self.streams[sid].ended)
                if self.streams[sid].ended:
                    return
                continue
            n = min(window, len(view))
            last = n == len(view)
            self.conn.send_data(sid, bytes(view[:n]), end_stream=end_stream and last)
            self._flush()
            view = view[n:]
            if last:
                return

    def send_trailers(self, sid: int, trailers):
        self.conn.send_headers(sid, trailers, end_stream=True)
        self._flush()

    def wait_response(self, sid: int, timeout: float | None = None) -> H2Stream:
        st = self.streams[sid]
        self.pump_until(lambda: st.headers is not None or st.ended, timeout)
        return st

    def wait_end(self, sid: int, timeout: float | None = None) -> H2Stream:
        st = self.streams[sid]
        self.pump_until(lambda: st.ended, timeout)
        return st

    def wait_data(self, sid: int, n: int, timeout: float | None = None) -> H2Stream:
        st = self.streams[sid]
        self.pump_until(lambda: len(st.data) >= n or st.ended, timeout)
        return st

    def request(self, method: str, path: str, headers=(), body: bytes | None = None,
                trailers=None, authority: str | None = None, scheme: str = "http",
                timeout: float | None = None) -> H2Stream:
        hdrs = [(":method", method), (":scheme", scheme),
                (":authority", authority or self.authority), (":path", path), *headers]
        sid = self.start(hdrs, end_stream=not body and not trailers)
        if body:
            self.send_data(sid, body, end_stream=not trailers)
        if trailers:
            self.send_trailers(sid, trailers)
        return self.wait_end(sid, timeout)


# ---------------------------------------------------------------------------------------------
# WebSocket frames (for RFC 8441 over python3-h2 and raw tunnels)


def ws_frame(payload: bytes, opcode: int = 1, mask: bool = True, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([first, (0x80 if mask else 0) | n])
    elif n < 65536:
        head = bytes([first, (0x80 if mask else 0) | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, (0x80 if mask else 0) | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def ws_parse_frame(data: bytes):
    """Parses one frame; returns (fin, opcode, masked, payload, consumed) or None if incomplete."""
    if len(data) < 2:
        return None
    fin = bool(data[0] & 0x80)
    opcode = data[0] & 0x0F
    masked = bool(data[1] & 0x80)
    n = data[1] & 0x7F
    pos = 2
    if n == 126:
        if len(data) < 4:
            return None
        n = int.from_bytes(data[2:4], "big")
        pos = 4
    elif n == 127:
        if len(data) < 10:
            return None
        n = int.from_bytes(data[2:10], "big")
        pos = 10
    key = b""
    if masked:
        if len(data) < pos + 4:
            return None
        key = data[pos:pos + 4]
        pos += 4
    if len(data) < pos + n:
        return None
    payload = bytes(data[pos:pos + n])
    if masked:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return fin, opcode, masked, payload, pos + n


# ---------------------------------------------------------------------------------------------
# certificates


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway EC P-256 certificate for localhost / 127.0.0.1 in `directory` (a tempdir)."""
    cert = Path(directory) / "cert.pem"
    key = Path(directory) / "key.pem"
    cp = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-subj", "/CN=localhost",
              "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
              "-days", "1", "-keyout", str(key), "-out", str(cert)], timeout=30)
    if cp.returncode != 0:
        raise AssertionError(f"openssl failed: {cp.stderr.decode()}")
    return cert, key


@dataclass
class CertBundle:
    ca_cert: Path  # PEM: the test CA (give it to the client as its trust anchor)
    ca_key: Path
    cert: Path  # PEM: the server certificate (leaf), signed by the CA
    key: Path
    names: list


def make_test_ca_and_cert(directory: Path, dns_names, ip_addresses=()) -> CertBundle:
    """A throwaway EC P-256 test CA and a server certificate signed by it for `dns_names`
    (SAN DNS) and `ip_addresses` (SAN IP), made with the openssl CLI in `directory` (a tempdir,
    never the repository). Valid for 2 days."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = d / "ca.pem", d / "ca.key"
    cert, key, csr, ext = d / "server.pem", d / "server.key", d / "server.csr", d / "server.ext"

    def openssl(*args):
        cp = run(["openssl", *args], timeout=30)
        if cp.returncode != 0:
            raise AssertionError(f"openssl {' '.join(map(str, args))} failed: "
                                 f"{cp.stderr.decode()}")

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=cmux integration test CA", "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", ca_key, "-out", ca_cert)
    names = list(dns_names)
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{ip}" for ip in ip_addresses])
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", f"/CN={names[0] if names else ip_addresses[0]}", "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
            "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
            "-extfile", ext, "-out", cert)
    return CertBundle(ca_cert, ca_key, cert, key, names)


def tool_available(name: str) -> bool:
    return shutil.which(name) is not None


# ---------------------------------------------------------------------------------------------
# unittest glue

import unittest  # noqa: E402

# curl flags per downstream protocol.
CURL_PROTOCOLS = {"h1": ["--http1.1"], "h2c": ["--http2-prior-knowledge"]}
ERROR_CONTENT_TYPE = "text/plain; charset=utf-8"


def port_header(port: int) -> list:
    return ["-H", f"X-Cmux-Port-Internal: {port}"]


class ProxyTestCase(unittest.TestCase):
    """Starts processes with automatic cleanup: per test (self.origin / self.proxy) or per class
    (cls.class_origin / cls.class_proxy)."""

    maxDiff = None
    _class_proxies: list = []

    def setUp(self):
        super().setUp()
        # Registered first, so it runs last: a class-level proxy that crashed during this test
        # makes this test fail with the crash, instead of later tests timing out.
        self.addCleanup(self._check_class_proxies)

    def _check_class_proxies(self):
        for proxy in type(self)._class_proxies:
            death = proxy.died_unexpectedly()
            if death and not getattr(proxy, "_death_reported", False):
                proxy._death_reported = True
                raise AssertionError(death)

    def origin(self, host: str = "127.0.0.1", name: str | None = None, port: int = 0) -> Origin:
        return start_origin(host, name, port, cleanup=self.addCleanup)

    def proxy(self, *args, **kwargs) -> Proxy:
        return start_cmux_proxy(*args, cleanup=self.addCleanup, **kwargs)

    @classmethod
    def class_origin(cls, host: str = "127.0.0.1", name: str | None = None, port: int = 0) -> Origin:
        return start_origin(host, name, port, cleanup=cls.addClassCleanup)

    @classmethod
    def class_proxy(cls, *args, **kwargs) -> Proxy:
        proxy = start_cmux_proxy(*args, cleanup=cls.addClassCleanup, **kwargs)
        if "_class_proxies" not in cls.__dict__:
            cls._class_proxies = []
        cls._class_proxies.append(proxy)
        return proxy

    def preview(self, *args, **kwargs) -> PreviewProxy:
        return start_preview_proxy(*args, cleanup=self.addCleanup, **kwargs)

    @classmethod
    def class_preview(cls, *args, **kwargs) -> PreviewProxy:
        proxy = start_preview_proxy(*args, cleanup=cls.addClassCleanup, **kwargs)
        if "_class_proxies" not in cls.__dict__:
            cls._class_proxies = []
        cls._class_proxies.append(proxy)
        return proxy

    def make_certs(self, names=(MORPH_HOST,)) -> "CertBundle":
        """A test CA and a server certificate for `names` in a temp dir removed after the test."""
        return make_test_ca_and_cert(make_temp_dir(self.addCleanup, "cmux-test-ca-"), names)

    def tls_cmux_proxy(self, certs: "CertBundle", *args, **kwargs) -> Proxy:
        """cmux-proxy with TLS (ALPN h2, http/1.1), routing to 127.0.0.1, with metrics; stopped
        after the test."""
        return self.proxy("--tls-cert", certs.cert, "--tls-key", certs.key,
                          "--upstream-host", "127.0.0.1", "--metrics-listen", "127.0.0.1:0",
                          *args, expect_metrics=True, **kwargs)

    @classmethod
    def class_tls_cmux_proxy(cls, certs: "CertBundle", *args, **kwargs) -> Proxy:
        """cmux-proxy speaking TLS (ALPN h2, http/1.1) with the test certificate, routing to
        127.0.0.1, with a metrics listener."""
        return cls.class_proxy("--tls-cert", certs.cert, "--tls-key", certs.key,
                               "--upstream-host", "127.0.0.1", "--metrics-listen", "127.0.0.1:0",
                               *args, expect_metrics=True, **kwargs)

    @classmethod
    def class_certs(cls, names=(MORPH_HOST,)) -> "CertBundle":
        return make_test_ca_and_cert(make_temp_dir(cls.addClassCleanup, "cmux-test-ca-"), names)

    def assertProxyError(self, status: int, content_type, body: bytes, want_status: int,
                         want_message: str | None = None, prefix: bool = False):
        """An error answer of SPEC §2: status, text/plain; charset=utf-8, the message as body."""
        text = body.decode("utf-8", "replace")
        self.assertEqual(status, want_status, f"body: {text!r}")
        self.assertIsNotNone(content_type, "error response without Content-Type")
        self.assertEqual(content_type.replace(" ", "").lower(),
                         ERROR_CONTENT_TYPE.replace(" ", ""), f"content-type of {text!r}")
        if want_message is not None:
            got = text.rstrip("\r\n")
            if prefix:
                self.assertTrue(got.startswith(want_message), f"{got!r} should start with "
                                f"{want_message!r}")
            else:
                self.assertEqual(got, want_message)

    def assertCurlError(self, r: CurlResult, want_status: int, want_message: str | None = None,
                        prefix: bool = False):
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertProxyError(r.status, r.header("content-type"), r.body, want_status,
                              want_message, prefix)


def concurrent(n, fn, timeout=60):
    """Runs fn(i) for i in range(n) in n threads released together; returns the results in order
    (an exception is returned as the result)."""
    barrier = threading.Barrier(n, timeout=timeout)
    results = [None] * n

    def worker(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results
