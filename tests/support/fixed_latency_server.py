"""A loopback HTTP server that answers every request after exactly DELAY seconds.

epoll wakes asyncio timers up to a millisecond late, so the server sleeps until just before
the deadline and spins the rest: the delay is then a known time, to the tenth of a
millisecond, to measure loadkit's latency capture against. Usage: python fixed_latency_server.py DELAY
(prints the port, then serves until killed).
"""

import asyncio
import sys
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            deadline = time.perf_counter() + delay
            await asyncio.sleep(max(0.0, delay - 0.003))
            while time.perf_counter() < deadline:
                pass
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(delay: float) -> None:
    server = await asyncio.start_server(lambda r, w: handle(r, w, delay), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
