"""Running a stand-in WSGI app on a free loopback port, in a thread or as a process."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response


class StandIn:
    """Base for a stand-in: subclasses implement `handle(request)`; state is shared under a lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.server: BaseWSGIServer | None = None
        self.thread: threading.Thread | None = None

    # -- subclasses -------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """What `/_standin/state` reports."""
        return {}

    def configure(self, settings: dict[str, Any]) -> None:
        """What `/_standin/configure` changes."""
        with self.lock:
            for key, value in settings.items():
                if not hasattr(self, key):
                    raise KeyError(key)
                setattr(self, key, value)

    # -- serving ----------------------------------------------------------------------------
    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "/_standin/state":
            response = Response(json.dumps(self.state()), mimetype="application/json")
        elif request.path == "/_standin/configure" and request.method == "POST":
            self.configure(request.get_json(force=True))
            response = Response("{}", mimetype="application/json")
        else:
            response = self.handle(request)
        return response(environ, start_response)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self, port: int = 0) -> StandIn:
        self.server = make_server("127.0.0.1", port, self, threaded=True)
        # Polled often, so that stopping (which waits for the next poll) takes no half second.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json", headers=headers)


def serve_forever(standin: StandIn, description: str) -> None:
    """Command-line entry: serve one stand-in on a given port until killed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = make_server("127.0.0.1", args.port, standin, threaded=True)
    print(f"{description} on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
