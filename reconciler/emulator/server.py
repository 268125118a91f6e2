"""The emulator's HTTP shell: sockets, threads, keep-alive, latency and signals.

The only module of the emulator subpackage that touches the network, threads or signals.
It turns HTTP into `messages.Request` values, hands them to `app.Emulator` (pure logic behind
one lock) and writes its `Response` back with a Content-Length, keeping the connection alive.
One daemon thread per connection; latency is slept in that thread, outside the lock, so a
slow answer never holds up another connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from reconciler.emulator.app import Emulator
from reconciler.emulator.auth import Credentials
from reconciler.emulator.chaos import Chaos, check_rates
from reconciler.emulator.errors import CorError, validation_error
from reconciler.emulator.messages import Request, Response, error_response
from reconciler.emulator.store import DeletedIds, Store, check_deleted_ids

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
JOIN_TIMEOUT = 5.0  # seconds stop() waits for each connection thread (they end at once)


@dataclass(frozen=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8787  # 0 = pick a free port
    token: str | None = "demo-token"  # a static bearer token always accepted (None = only issued)
    api_key: str = "demo-key"  # client-credentials pair accepted by /v1/oauth/token
    client_secret: str = "demo-secret"
    token_ttl: int = 3600  # seconds an issued access token lives
    latency_ms: float = 0.0  # added to every answer (slept in the connection's thread)
    # random faults for rehearsals (docs/emulator.md), on /v2/integrations requests only
    fail_rate: float = 0.0  # share answered 500/502/503 without processing
    rate_limit: float | None = None  # requests/s (a token bucket); over it: 429 + Retry-After
    lost_response_rate: float = 0.0  # share processed, then the connection closed unanswered
    seed: int | None = None  # seeds the one random generator: a reproducible run
    throttle_rate: float = 0.0  # share answered 429 + Retry-After at random, unprocessed
    throttle_retry_after: int = 1  # the Retry-After of those 429s, in whole seconds
    # a deletion in COR itself (/_emulator/mutate) frees the external id, or keeps it mapped
    deleted_ids: DeletedIds = "freed"

    def __post_init__(self) -> None:
        check_deleted_ids(self.deleted_ids)
        check_rates(
            self.fail_rate,
            self.rate_limit,
            self.lost_response_rate,
            self.throttle_rate,
            self.throttle_retry_after,
        )
        if self.token_ttl < 1:
            raise ValueError("token_ttl must be at least 1 second")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "COR-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers and body leave in one send, at the flush after each request
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        # request lines carry paths and external ids, never a token
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s", self.address_string(), format % args)

    def _answer(self) -> None:
        body = self._read_body()
        if body is None:
            return
        target = urlsplit(self.path)
        query: dict[str, str] = {}
        for key, value in parse_qsl(target.query, keep_blank_values=True):
            query.setdefault(key, value)
        request = Request(self.command, target.path, query, self.headers.get("Authorization"), body)
        self.server.delay()
        try:
            response = self.server.emulator.handle(request)
        except Exception:  # the edge: a bug in the emulator answers 500, it does not hang up
            logger.exception("emulator failure on %s %s", self.command, target.path)
            response = error_response(CorError(500, "InternalServerError", "emulator failure"))
        if response.drop:
            self.close_connection = True
            return
        self._send(response)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400/413 (and closing) when unreadable."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse(validation_error("chunked bodies are not supported"))
            return None
        raw = self.headers.get("Content-Length", "0").strip()
        if not (raw.isascii() and raw.isdigit()):
            self._refuse(validation_error("invalid Content-Length"))
            return None
        length = int(raw)
        if length > MAX_BODY_BYTES:
            self._refuse(CorError(413, "PayloadTooLargeError", "body too large"))
            return None
        return self.rfile.read(length)

    def _refuse(self, error: CorError) -> None:
        self.close_connection = True  # the rest of the stream cannot be trusted
        self._send(error_response(error))

    def _send(self, response: Response) -> None:
        payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    """A thread per connection, each tracked so that stop() can end them all."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator, latency: float) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        self.latency = latency
        self.stopping = threading.Event()
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall for seconds
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def delay(self) -> None:
        if self.latency > 0:
            self.stopping.wait(self.latency)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        if not isinstance(request, socket.socket):  # only datagram servers get a tuple
            raise TypeError("stream sockets only")
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="cor-emulator-connection",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[thread] = request
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except OSError:
            pass  # the client went away, or stop() closed the connection
        except Exception:  # the edge of a connection thread: log it, never kill the server
            logger.exception("emulator connection failed")
        finally:
            self.shutdown_request(request)
            with self._connections_lock:
                self._connections.pop(threading.current_thread(), None)

    def close_connections(self) -> None:
        """End every open connection (idle keep-alive ones included) and wait for its thread."""
        with self._connections_lock:
            open_connections = list(self._connections.items())
        for _, connection in open_connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                connection.shutdown(socket.SHUT_RDWR)
        for thread, _ in open_connections:
            thread.join(JOIN_TIMEOUT)


class EmulatorServer:
    """The COR emulator on a real socket, bound as soon as it is made."""

    def __init__(self, config: EmulatorConfig) -> None:
        credentials = Credentials(
            config.token, config.api_key, config.client_secret, config.token_ttl
        )
        chaos = Chaos(
            config.fail_rate,
            config.rate_limit,
            config.lost_response_rate,
            config.seed,
            throttle_rate=config.throttle_rate,
            throttle_retry_after=config.throttle_retry_after,
        )
        self._emulator = Emulator(credentials, chaos=chaos, deleted_ids=config.deleted_ids)
        self._server = _Server((config.host, config.port), self._emulator, config.latency_ms / 1000)
        self._state_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def store(self) -> Store:
        return self._emulator.store

    def start(self) -> None:
        """Serve in a background daemon thread."""
        with self._state_lock:
            if self._thread is not None or self._stopped:
                raise RuntimeError("the emulator was already started or stopped")
            self._thread = threading.Thread(
                target=self.serve_forever, name="cor-emulator", daemon=True
            )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in this thread until stop() is called from another one."""
        with self._state_lock:
            if self._stopped or self._serving:
                return
            self._serving = True
        self._server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        """Stop serving, close the socket and every connection, join the threads. Idempotent."""
        with self._state_lock:
            if self._stopped:
                return
            self._stopped = True
            serving = self._serving
        if serving:
            self._server.shutdown()
        self._server.stopping.set()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT)

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(config: EmulatorConfig, announce: Callable[[str], None]) -> None:
    """Blocking entry point for `reconciler emulator`: serve until SIGINT or SIGTERM.

    Must run in the main thread (signal handlers); the previous handlers are restored.
    """
    server = EmulatorServer(config)
    signalled: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signalled.append(signum)  # no locks in a signal handler: the loop below polls

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        announce(f"COR emulator listening on {server.url}")
        while not signalled:
            time.sleep(0.1)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
