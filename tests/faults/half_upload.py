"""A UE process that starts an upload, sends part of the body, says so, and then hangs until killed.

``python -m tests.faults.half_upload PORT PATH TOKEN SAMPLES BODY_FILE SEND_BYTES`` (stdlib only, so it
starts in milliseconds). The full Content-Length is declared; only SEND_BYTES of the body are sent.
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path


def main(argv: list[str]) -> int:
    port, path, token, samples, body_file, send = argv[1:7]
    body = Path(body_file).read_bytes()
    n = int(send)
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/vnd.safetensors\r\n"
        f"Fl5g-Num-Samples: {samples}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", int(port)))
    sock.sendall(head + body[:n])
    sys.stdout.write(f"sent {n} of {len(body)}\n")
    sys.stdout.flush()
    threading.Event().wait()  # hang, the connection open, until the test kills this process
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
