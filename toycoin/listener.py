"""Listener: the port a node listens on, picked free at first and taken back on a restart.

    listen(on_connection, host, port)   an asyncio.Server on (host, port); port 0: a free one
    released(host, port)                wait until a closed port refuses connections
    someone_listens(host, port)         does anything accept connections there?

A node asked for "any free port" (port 0) picks one at random below the range
the system lends to outgoing connections (params.LISTEN_PORTS), and keeps it:
stopped and started again, it listens where its peers knew it. Taking that port
back meets two things that are no other server:

- connections of the old run that are still closing, or the port lent for a
  moment to another program's outgoing connection: the port is "in use" while
  nothing listens; ``listen`` waits up to RELISTEN_TIMEOUT;
- a child process that another thread of this process was starting at the
  moment the port closed (graphviz's dot drawing a diagram, for one): from its
  fork until it closes the files it inherited, it holds a copy of the listening
  socket, and the port still accepts. ``released`` waits that out when a node
  stops (so a stopped node's port refuses before ``stop()`` returns), and
  ``listen`` takes a listener for another server only once it has lasted
  PORT_RELEASE_TIMEOUT.

Every failure is a NodeError that says what to do (another node on the port,
too many open files, an address of another machine, a host name that is none).
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
from collections.abc import Callable
from typing import Any

from toycoin import params
from toycoin.errors import NodeError
from toycoin.peer import open_frames, serve_frames
from toycoin.runtime import raise_open_file_limit

OnConnection = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]

# Which free port a node picks: a generator of its own, so no node's rng draws change with it.
_PORT_CHOICE = random.Random()


async def listen(on_connection: OnConnection, host: str, port: int) -> asyncio.Server:
    """Listen on (host, port), port 0 meaning a free one (see the module's text)."""
    if port == 0:
        return await _listen_on_a_free_port(on_connection, host)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + params.RELISTEN_TIMEOUT
    listened_since: float | None = None
    while True:
        try:
            return await serve_frames(on_connection, host, port)
        except OSError as error:
            now = loop.time()
            if error.errno != errno.EADDRINUSE or now >= deadline:
                raise NodeError(listen_error(host, port, error)) from None
            if not await someone_listens(host, port):
                listened_since = None
            elif listened_since is None:
                listened_since = now
            elif now - listened_since >= params.PORT_RELEASE_TIMEOUT:
                raise NodeError(listen_error(host, port, error)) from None
            await asyncio.sleep(0.05)


async def _listen_on_a_free_port(on_connection: OnConnection, host: str) -> asyncio.Server:
    """A free port of params.LISTEN_PORTS; the system's choice if none of a few tries is free."""
    low, high = params.LISTEN_PORTS
    for port in _PORT_CHOICE.sample(range(low, high), params.LISTEN_PORT_TRIES):
        try:
            return await serve_frames(on_connection, host, port)
        except OSError as error:
            if error.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise NodeError(listen_error(host, port, error)) from None
    try:
        return await serve_frames(on_connection, host, 0)
    except OSError as error:
        raise NodeError(listen_error(host, 0, error)) from None


async def released(host: str, port: int) -> None:
    """Wait (up to PORT_RELEASE_TIMEOUT) until the closed port (host, port) refuses connections."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + params.PORT_RELEASE_TIMEOUT
    while await someone_listens(host, port) and loop.time() < deadline:
        await asyncio.sleep(0.01)


async def someone_listens(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(open_frames(host, port), 1.0)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    return True


def listen_error(host: str, port: int, error: OSError) -> str:
    where = f"cannot listen on {host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"{where}: address already in use (is another node on that port?)"
    if error.errno == errno.EMFILE:
        return (f"{where}: too many open files: this process may open {raise_open_file_limit()} "
                "(every node holds one per connection); raise it with `ulimit -n 65536` before starting")
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {host} is not an address of this machine"
    if isinstance(error, socket.gaierror):
        return f"{where}: {host!r} is not a valid host name or IP address"
    return f"{where}: {error.strerror or error}"
