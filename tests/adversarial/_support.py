"""Helpers of the adversarial tier (tests/adversarial/): a raw HTTP/2 peer that writes any frame
sequence (hyperframe + hpack, no state machine in the way), a well-behaved "bystander" client
that keeps asking for correct answers on its own connection while an attack runs, a memory
watch over /proc/<pid>/status, and the start-up of both proxies with the limit flags.

Run under /usr/bin/python3 (Debian's python3-h2 / hyperframe / hpack import only there).
Loopback only; nothing sleeps to wait for an event (waits poll a condition against a deadline).
"""

from __future__ import annotations

import errno
import select
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))

import harness  # noqa: E402
from harness import ProxyTestCase, wait_until  # noqa: E402,F401

import hpack  # noqa: E402
from hyperframe import frame as hf  # noqa: E402

MiB = 1024 * 1024
KiB = 1024

# RFC 9113 §7 error codes
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB
ERROR_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
               4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR",
               7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR",
               11: "ENHANCE_YOUR_CALM", 12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}
# SPEC §6: "Every flood ends with GOAWAY (ENHANCE_YOUR_CALM or INTERNAL_ERROR) and a close".
FLOOD_GOAWAY_CODES = (ENHANCE_YOUR_CALM, INTERNAL_ERROR)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# SETTINGS identifiers
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

# The limit flags the proxies take (same names on both binaries). Tests that need short timeouts
# pass these; they fail at start-up while a binary does not know a flag yet.
SHORT_TIMEOUT = 2  # seconds, for --header-timeout / --idle-timeout / --body-timeout
TIMEOUT_FLAGS = ("--first-byte-timeout", str(SHORT_TIMEOUT), "--header-timeout", str(SHORT_TIMEOUT),
                 "--idle-timeout", str(SHORT_TIMEOUT), "--body-timeout", str(SHORT_TIMEOUT),
                 "--send-timeout", str(SHORT_TIMEOUT))


def sanitizer_build() -> bool:
    """True when the binaries under test are an ASan/TSan build (memory and time scale up)."""
    cache = harness.build_dir() / "CMakeCache.txt"
    try:
        text = cache.read_text(errors="replace")
    except OSError:
        return False
    return "-fsanitize=" in text


SLOW = 3.0 if sanitizer_build() else 1.0


def error_name(code) -> str:
    return ERROR_NAMES.get(code, hex(code)) if code is not None else "none"


# ---------------------------------------------------------------------------------------------
# memory


class MemWatch:
    """Peak memory of a process across an attack: VmHWM (peak resident set) before and after.
    VmHWM only grows, so growth = VmHWM_after - VmHWM_before is a lower bound on how much an
    attack pushed the peak; a flood that buffers without bound shows up there."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.hwm_before = proxy.status_kb("VmHWM")
        self.rss_before = proxy.status_kb("VmRSS")

    def sample(self) -> dict:
        return {"VmRSS_kB": self.proxy.status_kb("VmRSS"), "VmHWM_kB": self.proxy.status_kb("VmHWM"),
                "VmHWM_before_kB": self.hwm_before, "VmRSS_before_kB": self.rss_before}

    def assert_bounded(self, test, growth_mib: float = 24, absolute_mib: float = 64):
        """Peak growth ≤ growth_mib and the peak ≤ absolute_mib (SPEC §6: < 64 MB at 1 000
        concurrent streams; a flood of one connection must stay far below)."""
        scale = 4.0 if sanitizer_build() else 1.0
        s = self.sample()
        growth = (s["VmHWM_kB"] - self.hwm_before) / 1024
        test.assertLessEqual(growth, growth_mib * scale,
                             f"{self.proxy.label}: peak RSS grew by {growth:.1f} MiB during the "
                             f"attack (limit {growth_mib * scale} MiB): {s}")
        test.assertLessEqual(s["VmHWM_kB"] / 1024, absolute_mib * scale,
                             f"{self.proxy.label}: peak RSS {s['VmHWM_kB'] / 1024:.1f} MiB: {s}")
        return s


# ---------------------------------------------------------------------------------------------
# raw HTTP/2 peer


class StreamState:
    def __init__(self, sid: int):
        self.sid = sid
        self.headers: list | None = None
        self.trailers: list | None = None
        self.data_len = 0
        self.data = bytearray()
        self.ended = False  # END_STREAM received
        self.reset_code: int | None = None

    @property
    def status(self):
        for k, v in self.headers or []:
            if k == ":status":
                return int(v)
        return None


class RawH2:
    """One HTTP/2 connection whose bytes the test writes itself (hyperframe frames, an hpack
    encoder for header blocks). Single-threaded, non-blocking: every send also reads what the
    server sends (unless read=False), so the server's output never blocks a reading attack.

    Received frames are parsed (hyperframe), SETTINGS are ACKed (auto_ack), PINGs answered,
    received DATA is given back with WINDOW_UPDATE (auto_window). `goaway` is the first GOAWAY
    frame, `closed` turns True at EOF/reset, `streams` holds response state per stream."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                 server_hostname: str | None = None, settings: dict | None = None,
                 preface: bool = True, auto_ack: bool = True, auto_window: bool = True,
                 rcvbuf: int | None = None, timeout: float = 10.0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect((host, port))
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=server_hostname or host)
            if sock.selected_alpn_protocol() != "h2":
                raise AssertionError(f"TLS: ALPN chose {sock.selected_alpn_protocol()!r}, not h2")
        sock.setblocking(False)
        self.sock = sock
        self.tls = tls is not None
        self.auto_ack = auto_ack
        self.auto_window = auto_window
        self.timeout = timeout
        self.buf = bytearray()
        self.out = bytearray()
        self.closed = False
        self.close_error: str | None = None
        self.goaway: hf.GoAwayFrame | None = None
        self.goaways: list = []
        self.streams: dict[int, StreamState] = {}
        self.counts: dict[str, int] = {}
        self.remote_settings: dict = {}
        self.settings_received = False
        self.bytes_received = 0
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder(max_header_list_size=16 * MiB)
        self.decoder.max_allowed_table_size = 1 << 20
        self._header_block: tuple[int, int, bytearray] | None = None  # sid, flags, fragments
        self.next_sid = 1
        if preface:
            self.queue(PREFACE + self.settings_frame(settings or {}))
            self.flush()

    # -- frame builders (bytes) --------------------------------------------------------------

    @staticmethod
    def settings_frame(settings: dict, ack: bool = False) -> bytes:
        f = hf.SettingsFrame(0)
        if ack:
            f.flags.add("ACK")
        else:
            f.settings = dict(settings)
        return f.serialize()

    def header_block(self, headers) -> bytes:
        return self.encoder.encode(headers)

    @staticmethod
    def headers_frame(sid: int, block: bytes, end_stream: bool = True,
                      end_headers: bool = True) -> bytes:
        f = hf.HeadersFrame(sid)
        f.data = block
        if end_stream:
            f.flags.add("END_STREAM")
        if end_headers:
            f.flags.add("END_HEADERS")
        return f.serialize()

    @staticmethod
    def continuation_frame(sid: int, block: bytes, end_headers: bool = False) -> bytes:
        f = hf.ContinuationFrame(sid)
        f.data = block
        if end_headers:
            f.flags.add("END_HEADERS")
        return f.serialize()

    @staticmethod
    def data_frame(sid: int, data: bytes, end_stream: bool = False) -> bytes:
        f = hf.DataFrame(sid)
        f.data = data
        if end_stream:
            f.flags.add("END_STREAM")
        return f.serialize()

    @staticmethod
    def rst_frame(sid: int, code: int = CANCEL) -> bytes:
        f = hf.RstStreamFrame(sid)
        f.error_code = code
        return f.serialize()

    @staticmethod
    def ping_frame(payload: bytes = b"\0" * 8, ack: bool = False) -> bytes:
        f = hf.PingFrame(0)
        f.opaque_data = payload
        if ack:
            f.flags.add("ACK")
        return f.serialize()

    @staticmethod
    def priority_frame(sid: int, depends_on: int = 0, weight: int = 15,
                       exclusive: bool = False) -> bytes:
        f = hf.PriorityFrame(sid)
        f.depends_on = depends_on
        f.stream_weight = weight
        f.exclusive = exclusive
        return f.serialize()

    @staticmethod
    def window_update_frame(sid: int, increment: int) -> bytes:
        f = hf.WindowUpdateFrame(sid)
        f.window_increment = increment
        return f.serialize()

    @staticmethod
    def unknown_frame(ftype: int = 0xFA, sid: int = 0, payload: bytes = b"junk") -> bytes:
        return (len(payload).to_bytes(3, "big") + bytes([ftype, 0]) + sid.to_bytes(4, "big")
                + payload)

    # -- requests ----------------------------------------------------------------------------

    def new_sid(self) -> int:
        sid = self.next_sid
        self.next_sid += 2
        self.streams[sid] = StreamState(sid)
        return sid

    def request(self, headers, end_stream: bool = True) -> int:
        """Queues and flushes HEADERS for a new stream; returns its id."""
        sid = self.new_sid()
        self.send(self.headers_frame(sid, self.header_block(headers), end_stream=end_stream))
        return sid

    # -- I/O -----------------------------------------------------------------------------------

    def queue(self, data: bytes):
        self.out += data

    def _recv_some(self) -> bool:
        """Reads what is available; False when nothing was (would block) or the peer closed."""
        if self.closed:
            return False
        try:
            data = self.sock.recv(1 << 18)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ssl.SSLError,
                OSError) as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return False
            self.closed = True
            self.close_error = repr(exc)
            return False
        if not data:
            self.closed = True
            return False
        self.bytes_received += len(data)
        self.buf += data
        self._parse()
        return True

    def _send_some(self) -> bool:
        if not self.out or self.closed:
            return False
        try:
            n = self.sock.send(self.out[:1 << 18])
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ssl.SSLError,
                OSError) as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return False
            self.closed = True
            self.close_error = repr(exc)
            return False
        del self.out[:n]
        return n > 0

    def _wait_io(self, want_write: bool, read: bool, left: float):
        if self.tls and read and self.sock.pending():
            return
        rl = [self.sock] if read else []
        wl = [self.sock] if want_write else []
        if not rl and not wl:
            time.sleep(min(left, 0.05))  # nothing to wait on: the caller polls a condition
            return
        select.select(rl, wl, [], max(0.0, min(left, 0.2)))

    def flush(self, read: bool = True, timeout: float | None = None) -> bool:
        """Writes everything queued (reading meanwhile unless read=False). True when all was
        written; False when the peer closed, or made no progress for `timeout` seconds (it
        stopped reading)."""
        stall = self.timeout if timeout is None else timeout
        last_progress = time.monotonic()
        while self.out and not self.closed:
            progressed = self._send_some()
            if read:
                while self._recv_some():
                    progressed = True
            now = time.monotonic()
            if progressed:
                last_progress = now
            elif now - last_progress > stall:
                return False
            if self.out and not self.closed:
                self._wait_io(True, read, max(0.01, stall - (now - last_progress)))
        return not self.out

    def send(self, data: bytes, read: bool = True, timeout: float | None = None) -> bool:
        self.queue(data)
        return self.flush(read=read, timeout=timeout)

    def pump(self, timeout: float = 0.0):
        """Reads what arrives (and flushes automatic answers); returns once something was read,
        the peer closed, or `timeout` seconds passed."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            self._send_some()
            got = False
            while self._recv_some():
                got = True
            if got:
                self._send_some()
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wait_io(bool(self.out), True, left)

    def wait(self, pred, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if pred():
                return True
            if self.closed:
                return bool(pred())
            left = deadline - time.monotonic()
            if left <= 0:
                return bool(pred())
            self.pump(min(left, 0.2))

    def wait_closed(self, timeout: float) -> bool:
        return self.wait(lambda: self.closed, timeout)

    def wait_settings(self, timeout: float = 10.0) -> dict:
        if not self.wait(lambda: self.settings_received, timeout):
            raise AssertionError("no SETTINGS from the server")
        return self.remote_settings

    def drain_all(self, timeout: float) -> int:
        """Reads until EOF or `timeout`; returns the bytes received so far."""
        self.wait_closed(timeout)
        return self.bytes_received

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- parsing -------------------------------------------------------------------------------

    def _count(self, name: str):
        self.counts[name] = self.counts.get(name, 0) + 1

    def _parse(self):
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                return
            head = bytes(self.buf[:9])
            body = bytes(self.buf[9:9 + length])
            del self.buf[:9 + length]
            try:
                f, _ = hf.Frame.parse_frame_header(memoryview(head))
                f.parse_body(memoryview(body))
            except Exception as exc:  # noqa: BLE001 - a frame hyperframe refuses
                self._count("unparsable")
                self.close_error = f"unparsable frame: {exc!r}"
                continue
            self._on_frame(f)

    def _stream(self, sid: int) -> StreamState:
        if sid not in self.streams:
            self.streams[sid] = StreamState(sid)
        return self.streams[sid]

    def _on_frame(self, f):
        name = type(f).__name__
        self._count(name)
        if isinstance(f, hf.SettingsFrame):
            if "ACK" not in f.flags:
                self.settings_received = True
                self.remote_settings.update(f.settings)
                if self.auto_ack:
                    self.queue(self.settings_frame({}, ack=True))
        elif isinstance(f, hf.PingFrame):
            if "ACK" not in f.flags and self.auto_ack:
                self.queue(self.ping_frame(f.opaque_data, ack=True))
        elif isinstance(f, hf.GoAwayFrame):
            if self.goaway is None:
                self.goaway = f
            self.goaways.append(f)
        elif isinstance(f, hf.RstStreamFrame):
            st = self._stream(f.stream_id)
            st.reset_code = f.error_code
            st.ended = True
        elif isinstance(f, (hf.HeadersFrame, hf.PushPromiseFrame)):
            self._header_block = (f.stream_id, "END_STREAM" in f.flags, bytearray(f.data))
            if "END_HEADERS" in f.flags:
                self._end_header_block()
        elif isinstance(f, hf.ContinuationFrame):
            if self._header_block is not None:
                self._header_block[2].extend(f.data)
                if "END_HEADERS" in f.flags:
                    self._end_header_block()
        elif isinstance(f, hf.DataFrame):
            st = self._stream(f.stream_id)
            st.data_len += len(f.data)
            if len(st.data) < 1 * MiB:
                st.data += f.data[:1 * MiB - len(st.data)]
            if "END_STREAM" in f.flags:
                st.ended = True
            if self.auto_window and f.flow_controlled_length:
                self.queue(self.window_update_frame(0, f.flow_controlled_length))
                if "END_STREAM" not in f.flags:
                    self.queue(self.window_update_frame(f.stream_id, f.flow_controlled_length))

    def _end_header_block(self):
        sid, end_stream, block = self._header_block
        self._header_block = None
        try:
            headers = [(k.decode("latin-1") if isinstance(k, bytes) else k,
                        v.decode("latin-1") if isinstance(v, bytes) else v)
                       for k, v in self.decoder.decode(bytes(block))]
        except Exception as exc:  # noqa: BLE001
            self.close_error = f"hpack: {exc!r}"
            headers = []
        st = self._stream(sid)
        if st.headers is None or (st.status is not None and 100 <= st.status < 200):
            st.headers = headers
        else:
            st.trailers = headers
        if end_stream:
            st.ended = True

    # -- outcome -------------------------------------------------------------------------------

    def describe(self) -> str:
        g = self.goaway
        gtxt = (f"GOAWAY {error_name(g.error_code)} last_stream={g.last_stream_id} "
                f"debug={bytes(g.additional_data)[:80]!r}" if g else "no GOAWAY")
        return (f"{gtxt}; closed={self.closed} ({self.close_error}); frames received="
                f"{self.counts}; bytes received={self.bytes_received}; unsent={len(self.out)}")


def h2_request_headers(method: str, authority: str, path: str, extra=(), scheme: str = "http"):
    return [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path),
            *extra]


# ---------------------------------------------------------------------------------------------
# targets: what to attack, and how a well-behaved client asks it something


class Target:
    """A proxy under attack plus the origin behind it. `h2_headers(method, path)` gives the
    request headers of a valid request (routing / Proxy-Authorization included), `h1_request`
    the bytes of a valid HTTP/1.1 request, `good_h2()` / `good_h1()` ask one question on a
    connection and check the answer."""

    name = "?"

    def __init__(self, proxy, origin):
        self.proxy = proxy
        self.origin = origin

    @property
    def host(self):
        return self.proxy.host

    @property
    def port(self):
        return self.proxy.port

    def raw_h2(self, **kwargs) -> RawH2:
        return RawH2(self.host, self.port, **kwargs)

    def h2_client(self, timeout: float = 10.0) -> harness.H2Client:
        return harness.H2Client(self.host, self.port, timeout=timeout)

    def h1_conn(self, timeout: float = 10.0) -> harness.HttpConn:
        return harness.HttpConn(self.host, self.port, timeout=timeout)


class CmuxTarget(Target):
    name = "cmux-proxy"

    def h2_headers(self, method: str, path: str, extra=()):
        return h2_request_headers(method, "app.example", path,
                                  [("x-cmux-port-internal", str(self.origin.port)), *extra])

    def h1_head(self, method: str, path: str, extra: bytes = b"") -> bytes:
        return (f"{method} {path} HTTP/1.1\r\nHost: app.example\r\n"
                f"X-Cmux-Port-Internal: {self.origin.port}\r\n").encode() + extra

    def h1_request(self, method: str, path: str, headers=(), body: bytes = b"") -> tuple:
        return method, path, [("Host", "app.example"),
                              ("X-Cmux-Port-Internal", str(self.origin.port)), *headers], body


class PreviewTarget(Target):
    """The preview proxy with an unrouted context (index 0): every request needs its
    Proxy-Authorization and names the origin as target (absolute-form / :authority)."""

    name = "cmux-preview-proxy"

    def __init__(self, proxy, origin, ctx: int = 0):
        super().__init__(proxy, origin)
        self.ctx = ctx

    @property
    def auth(self) -> str:
        return self.proxy.auth_header(self.ctx)[1]

    @property
    def origin_authority(self) -> str:
        return f"127.0.0.1:{self.origin.port}"

    def h2_headers(self, method: str, path: str, extra=()):
        return h2_request_headers(method, self.origin_authority, path,
                                  [("proxy-authorization", self.auth), *extra])

    def h1_head(self, method: str, path: str, extra: bytes = b"") -> bytes:
        return (f"{method} http://{self.origin_authority}{path} HTTP/1.1\r\n"
                f"Host: {self.origin_authority}\r\nProxy-Authorization: {self.auth}\r\n"
                ).encode() + extra

    def h1_request(self, method: str, path: str, headers=(), body: bytes = b"") -> tuple:
        return method, f"http://{self.origin_authority}{path}", [
            ("Host", self.origin_authority), ("Proxy-Authorization", self.auth), *headers], body


def start_origin(test_or_cls, name: str = "adversarial-origin", classwide: bool = False):
    if classwide:
        return test_or_cls.class_origin(name=name)
    return test_or_cls.origin(name=name)


def start_cmux(tc: ProxyTestCase, *args, **kwargs):
    """cmux-proxy on 127.0.0.1:0 with a metrics listener, stopped after the test."""
    return tc.proxy("--metrics-listen", "127.0.0.1:0", *args, expect_metrics=True, **kwargs)


def start_preview(tc: ProxyTestCase, *args, **kwargs):
    """cmux-preview-proxy on 127.0.0.1:0 with one unrouted context (plus any --route given)."""
    if not any(a == "--route" for a in args):
        args = ("--route", "none") + tuple(args)
    return tc.preview(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# the bystander: a well-behaved client on its own connection(s)


class Bystander:
    """Asks `target` a question again and again in a thread while an attack runs, and checks
    every answer (status 200, the origin's echo of exactly this request). `mode`: "h2" (one
    persistent h2c connection), "h1" (one persistent HTTP/1.1 keep-alive connection), "h1-new"
    (a fresh HTTP/1.1 connection per request: exercises accept while the attack runs), or
    "mixed" (h2 persistent and h1-new in turn). A connection that fails is reported as a
    failure, and the next request opens a new one."""

    def __init__(self, target: Target, mode: str = "mixed", request_timeout: float = 10.0 * SLOW):
        self.target = target
        self.mode = mode
        self.request_timeout = request_timeout
        self.ok = 0
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._h2 = None
        self._h1 = None
        self._lock = threading.Lock()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._thread.start()
        wait_until(lambda: self.ok >= 1 or self.failures, timeout=15 * SLOW,
                   message="the bystander got no answer before the attack")
        if self.failures:
            raise AssertionError(f"the bystander failed before the attack: {self.failures}")

    def stop(self):
        self._stop.set()
        self._thread.join(self.request_timeout + 5)
        for c in (self._h2, self._h1):
            if c is not None:
                c.close()

    def count(self) -> int:
        with self._lock:
            return self.ok

    def wait_more(self, n: int = 2, timeout: float = 15.0 * SLOW):
        """Waits until the bystander got n more correct answers (after the attack)."""
        start = self.count()
        wait_until(lambda: self.count() >= start + n or len(self.failures) > 0, timeout=timeout,
                   message=f"the bystander got no answers after the attack "
                           f"({self.ok} ok, failures {self.failures[-3:]})")

    def assert_unharmed(self, test, min_ok: int = 2):
        test.assertEqual(self.failures, [], f"a well-behaved client on another connection was "
                                            f"harmed by the attack ({self.ok} good answers)")
        test.assertGreaterEqual(self.ok, min_ok)

    def _run(self):
        i = 0
        while not self._stop.is_set():
            i += 1
            kind = self.mode
            if kind == "mixed":
                kind = "h2" if i % 2 else "h1-new"
            t0 = time.monotonic()
            try:
                self._ask(kind, i)
                with self._lock:
                    self.ok += 1
                self.latencies.append(time.monotonic() - t0)
            except Exception as exc:  # noqa: BLE001 - reported by assert_unharmed
                if self._stop.is_set():
                    break
                self.failures.append(f"#{i} {kind}: {exc!r}"[:500])
                for attr in ("_h2", "_h1"):
                    c = getattr(self, attr)
                    if c is not None:
                        c.close()
                        setattr(self, attr, None)
            self._stop.wait(0.02)  # pacing: a well-behaved client, not a second load generator

    @staticmethod
    def _check(status, header, body: bytes, i: int):
        # /headers?x-bystander=i: the origin answers with that header (and not /echo, so the
        # origin's echoCompleted counter stays meaningful for the tests' own requests).
        if status != 200:
            raise AssertionError(f"status {status}: {body[:200]!r}")
        if header != str(i) or body != b"headers\n":
            raise AssertionError(f"wrong answer to #{i}: x-bystander={header!r} body={body[:80]!r}")

    def _ask(self, kind: str, i: int):
        t = self.target
        path = f"/headers?x-bystander={i}"
        if kind == "h2":
            if self._h2 is None:
                self._h2 = t.h2_client(timeout=self.request_timeout)
            hdrs = t.h2_headers("GET", path)
            st = self._h2.start(hdrs, end_stream=True)
            s = self._h2.wait_end(st, timeout=self.request_timeout)
            if s.reset_code is not None:
                raise AssertionError(f"stream reset {error_name(s.reset_code)}")
            self._check(s.status, s.header("x-bystander"), bytes(s.data), i)
            del self._h2.streams[st]
        else:
            conn = self._h1 if kind == "h1" else None
            if conn is None:
                conn = t.h1_conn(timeout=self.request_timeout)
                if kind == "h1":
                    self._h1 = conn
            try:
                method, target, headers, body = t.h1_request("GET", path)
                resp = conn.request(method, target, headers, body)
                self._check(resp.status, resp.header("x-bystander"), resp.body, i)
            finally:
                if kind != "h1":
                    conn.close()


# ---------------------------------------------------------------------------------------------
# misc


def tls_client_context(ca_file) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


def raw_h1(host: str, port: int, data: bytes, timeout: float = 5.0 * SLOW,
           close_wait: float = 2.0 * SLOW):
    """Sends `data` on a fresh connection; returns (first response or None, closed) where
    closed says whether the peer closed the connection within `close_wait` after it."""
    conn = harness.HttpConn(host, port, timeout=timeout)
    try:
        try:
            conn.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may reject and close before reading everything
        try:
            resp = conn.read_response()
        except EOFError:
            return None, True
        closed, _ = socket_closed_within(conn.sock, close_wait)
        return resp, closed
    finally:
        conn.close()


def socket_closed_within(sock: socket.socket, timeout: float) -> tuple[bool, bytes]:
    """Reads until EOF/RST or `timeout`; returns (closed, bytes read)."""
    deadline = time.monotonic() + timeout
    got = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, bytes(got)
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return False, bytes(got)
        except (ConnectionResetError, ConnectionAbortedError):
            return True, bytes(got)
        if not data:
            return True, bytes(got)
        got += data
