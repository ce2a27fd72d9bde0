"""Which port each part listens on: its standard port when free, else any free port."""

from __future__ import annotations

import socket
from dataclasses import dataclass

HOST = "127.0.0.1"


def port_free(port: int, host: str = HOST) -> bool:
    """True if nothing listens on ``host:port`` and we may bind it."""
    with socket.socket() as sock:
        # As the servers do: a port in TIME_WAIT after the last run is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return True
    return False  # bound on another address (0.0.0.0 with SO_REUSEPORT, say) and answering


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Port:
    """A chosen port; ``preferred`` is the standard one, when it was busy."""

    name: str
    number: int
    preferred: int | None = None

    @property
    def note(self) -> str:
        if self.preferred is None or self.preferred == self.number:
            return ""
        return f" ({self.preferred} was in use)"


class PortPicker:
    """Hands out distinct ports: the standard one if free and not yet taken, else a free one."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def pick(self, name: str, preferred: int | None = None) -> Port:
        if preferred is not None and preferred not in self.taken and port_free(preferred):
            self.taken.add(preferred)
            return Port(name, preferred, preferred)
        while True:
            number = free_port()
            if number not in self.taken:
                self.taken.add(number)
                return Port(name, number, preferred)
