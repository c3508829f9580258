"""A static server for a web folder on 127.0.0.1, with the headers onnxruntime-web needs for threads: the page
must be cross-origin isolated (COOP same-origin, COEP require-corp) for SharedArrayBuffer. For tests, timing and
trying a folder out; not a production server.

    >>> with serve(Path("web-out")) as url:
    ...     print(url)                                  # http://127.0.0.1:PORT/
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
    }

    def end_headers(self) -> None:
        for name, value in ISOLATION.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serve(folder: Path, port: int = 0) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port unless given) in a thread; yields the base URL."""
    handler = functools.partial(_Handler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    """`python -m edgebert.web.serve FOLDER [PORT]`: serve a web folder until Ctrl-C."""
    import sys
    import time

    args = sys.argv[1:] if argv is None else argv
    if not args or not Path(args[0]).is_dir():
        sys.exit("usage: python -m edgebert.web.serve FOLDER [PORT]  (FOLDER: what `edgebert web` wrote)")
    with serve(Path(args[0]), int(args[1]) if len(args) > 1 else 8000) as url:
        print(f"serving {args[0]} at {url} (cross-origin isolated: WASM threads on); Ctrl-C stops", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
