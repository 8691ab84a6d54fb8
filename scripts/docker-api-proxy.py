#!/usr/bin/env python3
"""Docker API version shim: a unix-socket proxy in front of dockerd.

Debian's dockerd (20.10 in bookworm, API 1.41; even sid's 28.x, API 1.51)
rejects clients that ask for a newer API version than it knows ("client
version 1.52 is too new"). testcontainers 0.27 (bollard 0.20) pins API 1.52
and never negotiates, so it cannot talk to those daemons directly.

This proxy listens on LISTEN (normally /var/run/docker.sock), forwards every
connection to UPSTREAM (the real dockerd socket) and rewrites the version
prefix of each request path ("/v1.52/containers/create") down to the
daemon's maximum ("/v1.41/containers/create") when it is newer. Everything
else is passed through byte for byte.

So that only the first request of each connection has to be parsed, plain
requests get "Connection: close" (the client opens a new connection for the
next request); upgraded requests (attach/exec hijacking) are left as they are
and become raw two-way pipes.

Usage: docker-api-proxy.py LISTEN_SOCKET UPSTREAM_SOCKET
"""

import asyncio
import os
import re
import stat
import sys

LISTEN, UPSTREAM = sys.argv[1], sys.argv[2]
REQUEST_LINE = re.compile(rb"^([A-Z]+) /v(\d+)\.(\d+)(/\S*) (HTTP/1\.[01])$")
HEAD_LIMIT = 1 << 20
max_version = None  # (major, minor) of the daemon, learnt from /_ping


async def daemon_max_version():
    global max_version
    if max_version is None:
        reader, writer = await asyncio.open_unix_connection(UPSTREAM)
        try:
            writer.write(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        finally:
            writer.close()
        m = re.search(rb"(?im)^api-version:\s*(\d+)\.(\d+)\s*$", head)
        if not m:
            raise RuntimeError("dockerd /_ping sent no API-Version header")
        max_version = (int(m.group(1)), int(m.group(2)))
    return max_version


def rewrite_head(head, maxv):
    lines = head.split(b"\r\n")
    m = REQUEST_LINE.match(lines[0])
    if m and (int(m.group(2)), int(m.group(3))) > maxv:
        lines[0] = b"%s /v%d.%d%s %s" % (m.group(1), maxv[0], maxv[1], m.group(4), m.group(5))
    upgrade = any(l.lower().startswith(b"upgrade:") for l in lines[1:])
    if not upgrade:
        lines = [l for l in lines if not l.lower().startswith(b"connection:")]
        # head ends with "\r\n\r\n": the split leaves two empty strings last
        lines.insert(len(lines) - 2, b"Connection: close")
    return b"\r\n".join(lines)


async def pipe(reader, writer, half_close):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if half_close and writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def handle(creader, cwriter):
    global max_version
    uwriter = None
    try:
        head = await creader.readuntil(b"\r\n\r\n")
        maxv = await daemon_max_version()
        try:
            ureader, uwriter = await asyncio.open_unix_connection(UPSTREAM, limit=HEAD_LIMIT)
        except OSError:
            max_version = None  # dockerd restarting: ask its version again
            raise
        uwriter.write(rewrite_head(head, maxv))
        await uwriter.drain()
        up = asyncio.ensure_future(pipe(creader, uwriter, True))
        down = asyncio.ensure_future(pipe(ureader, cwriter, False))
        # The daemon closing its side ends the exchange.
        await down
        up.cancel()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
        pass
    except Exception as e:  # keep serving other connections
        print(f"docker-api-proxy: {e!r}", file=sys.stderr, flush=True)
    finally:
        for w in (cwriter, uwriter):
            if w is not None:
                w.close()


async def main():
    try:
        if stat.S_ISSOCK(os.lstat(LISTEN).st_mode):
            os.unlink(LISTEN)
    except FileNotFoundError:
        pass
    server = await asyncio.start_unix_server(handle, LISTEN, limit=HEAD_LIMIT)
    os.chmod(LISTEN, 0o660)
    try:
        import grp
        os.chown(LISTEN, 0, grp.getgrnam("docker").gr_gid)
    except (KeyError, PermissionError):
        pass
    print(f"docker-api-proxy: {LISTEN} -> {UPSTREAM}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
