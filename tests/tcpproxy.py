"""A TCP forwarder between the service and the real PostgreSQL, that a test can cut: the store
becomes unreachable (`stop`: every connection closed, the port refused) and then comes back (`start`
on the same port), or the link stalls (`stall`: connections stay open, nothing goes through, as
when a network drops packets) until `resume`."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stalled = threading.Event()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(listener,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listener and every forwarded connection (the peers see them end)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def stall(self) -> None:
        self._stalled.set()

    def resume(self) -> None:
        self._stalled.clear()

    def _run(self, listener: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ)
        peers: dict[socket.socket, socket.socket] = {}
        try:
            while not self._stopping.is_set():
                if self._stalled.wait(0) and not self._stopping.wait(0.02):
                    continue  # nothing read, nothing accepted: the bytes wait in the kernel's buffers
                for ready, _ in selector.select(timeout=0.05):
                    sock = ready.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is listener:
                        client, _ = listener.accept()
                        server = socket.create_connection(self.target)
                        for a, b in ((client, server), (server, client)):
                            a.setblocking(True)
                            peers[a] = b
                            selector.register(a, selectors.EVENT_READ)
                        continue
                    data = b""
                    with contextlib.suppress(OSError):
                        data = sock.recv(65536)
                    other = peers.get(sock)
                    if data and other is not None:
                        with contextlib.suppress(OSError):
                            other.sendall(data)
                        continue
                    for end in (sock, other):  # one side closed: close both
                        if end is not None and end in peers:
                            selector.unregister(end)
                            peers.pop(end)
                            end.close()
        finally:
            for sock in list(peers):
                sock.close()
            selector.unregister(listener)
            listener.close()
            selector.close()
