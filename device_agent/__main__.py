"""``python -m device_agent serve --root DIR --port P --token T`` (also the zipapp's entry)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from device_agent.serving import forking

PR_SET_DUMPABLE = 4


def _not_dumpable() -> None:
    """Mark this process non-dumpable before it holds the token: its /proc files (mem, maps,
    environ) then belong to root, so another process of the same uid (anyone who reaches the
    phone through adb and ``run-as`` the debuggable app) cannot read the token out of its memory
    or attach to it. Best effort where the C library has no prctl (not Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _read_token(from_stdin: bool) -> str:
    """The session token from stdin's first line (then stdin is let go) or the environment."""
    if not from_stdin:
        return os.environ.pop("QUANTBENCH_AGENT_TOKEN", "")
    token = sys.stdin.readline().strip()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # a detached agent must not hold the launching shell's input open
    os.close(devnull)
    return token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="device_agent")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gRPC agent")
    serve.add_argument("--root", type=Path, required=True, help="the agent's folder; nothing outside it is touched")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default: loopback only)")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument(
        "--token-stdin",
        action="store_true",
        help="read the session token from the first line of standard input (else $QUANTBENCH_AGENT_TOKEN); "
        "a token is never taken from the command line, where other users could read it",
    )
    serve.add_argument("--max-upload-bytes", type=int, help="the largest file the host may upload (default: 1 GiB)")
    serve.add_argument(
        "--incoming", type=Path, help="folder the host pushes files into over ADB (read only by AdoptFile)"
    )
    serve.add_argument("--gpu-delegate", default="", help="GPU delegate library path or name")
    serve.add_argument("--nnapi-delegate", default="", help="NNAPI delegate library path or name")
    serve.add_argument(
        "--idle-exit",
        type=float,
        default=900.0,
        help="exit after this many seconds without a call from the host (0: never)",
    )
    args = parser.parse_args(argv)
    _not_dumpable()
    token = _read_token(args.token_stdin)
    if len(token) < 16:
        parser.error("a session token of at least 16 characters is required (--token-stdin or $QUANTBENCH_AGENT_TOKEN)")
    forking.start_workers()  # before this process imports numpy and gRPC: the forkserver imports its own meanwhile
    from device_agent.serving.server import Activity, AgentConfig, create_server
    from device_agent.storage.store import DEFAULT_MAX_UPLOAD

    upload = DEFAULT_MAX_UPLOAD if args.max_upload_bytes is None else args.max_upload_bytes
    config = AgentConfig(args.root, token, upload, args.gpu_delegate, args.nnapi_delegate, args.incoming)
    activity = Activity()
    server, port = create_server(config, f"{args.host}:{args.port}", activity)
    print(f"LISTENING {port}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopped.set())
    while not stopped.wait(timeout=min(5.0, args.idle_exit) if args.idle_exit > 0 else None):
        if args.idle_exit > 0 and activity.idle_seconds() > args.idle_exit:
            print(f"no call from the host for {args.idle_exit:g} s: exiting", flush=True)
            break
    server.stop(grace=0.5).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
