"""The emulated phone's kernel confinement: one set of namespaces per domain, and a way in.

    python -I -S jail.py holder SPEC      start a domain's namespaces, print the holder's pid
    python -I -S jail.py enter SPEC       run the sync server (or one command) inside one

(SPEC: ``encode_spec`` of a mapping, made by ``domains.py``.)

This file runs with the standard library only (``-I -S``), by path, as the emulated device's
daemon does it: it must never import the project.

A *domain* is what a phone keeps apart: the shell user (uid 2000), and each app (uid 10xxx).
Each domain has a holder, the pid 1 of its own PID namespace, in its own mount, IPC and UTS
namespaces whose ``/`` is built from the sandbox folder (its top-level entries bound in, a
read-only tmpfs around them), with its own ``/proc`` (the domain's processes only), a ``/dev``
holding only a phone's device nodes, and the sandbox's emulated ``/sys``. ``enter`` joins a
holder's namespaces, forks (a PID namespace admits only new children), takes the domain's
credentials and execs the command. As root the domains are real uids; as any other user each
domain is a user namespace mapping that user to the domain's uid. Nothing outside the sandbox
is reachable from inside but what the spec binds read-only (shared libraries; an app's Python).
The daemon runs each shell command through ``native/qbenter.c``, which enters the same way
without starting Python; ``enter`` here serves the sync server, which is Python.
"""

from __future__ import annotations

import _signal  # the builtin beneath signal: it starts without importing enum
import contextlib
import ctypes
import marshal
import os
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NAME, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 1, 15, 38, 24
TIOCSCTTY = 0x540E
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, 155)
DEVICE_NODES = ("null", "zero", "full", "random", "urandom", "tty")
NAMESPACES = ("ipc", "uts", "pid", "mnt")  # the order setns takes them in (the user namespace first, when there is one)

_libc = ctypes.CDLL(None, use_errno=True)


class JailError(OSError):
    """A namespace, mount or credential step failed: the domain cannot start or be entered."""


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise JailError(code, f"{what}: {os.strerror(code)}")
    return result


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source and source.encode(),
            target.encode(),
            fstype and fstype.encode(),
            ctypes.c_ulong(flags),
            data and data.encode(),
        ),
        f"mount {source or fstype} on {target}",
    )


def _bind(source: str, target: str, readonly: bool) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (MS_RDONLY if readonly else 0)
    _mount(None, target, None, flags)


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


# -- the holder ------------------------------------------------------------------------------
def _build_root(spec: dict, new_root: str) -> None:
    """The domain's ``/``: a tmpfs holding the sandbox's top-level entries (bound), /proc, /dev,
    the read-only binds of the spec, and the spec's masks over what the domain may not see."""
    sandbox = spec["sandbox"]
    _mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for name in sorted(os.listdir(sandbox)):
        source, target = os.path.join(sandbox, name), os.path.join(new_root, name)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        elif os.path.isdir(source) and name not in ("proc", "dev"):
            os.mkdir(target)
            _bind(source, target, readonly=name in spec["readonly"])
    os.mkdir(os.path.join(new_root, "proc"))
    _mount("proc", os.path.join(new_root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _build_dev(spec, os.path.join(new_root, "dev"))
    for source, target in spec["binds"]:
        path = new_root + target
        if os.path.isdir(source):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _bind(source, path, readonly=True)
    for link, target in spec["links"]:
        os.makedirs(os.path.dirname(new_root + link), exist_ok=True)
        if not os.path.lexists(new_root + link):
            os.symlink(target, new_root + link)
    for path in spec["masks"]:
        _mount("tmpfs", new_root + path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "mode=000,size=4k")


def _build_dev(spec: dict, dev: str) -> None:
    os.mkdir(dev)
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755,size=64k")
    for name in DEVICE_NODES:
        open(os.path.join(dev, name), "a").close()
        _mount(f"/dev/{name}", os.path.join(dev, name), None, MS_BIND)
    os.mkdir(os.path.join(dev, "pts"))
    _mount("devpts", os.path.join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    os.mkdir(os.path.join(dev, "shm"))
    _mount("tmpfs", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m")
    os.mkdir(os.path.join(dev, "socket"))
    _bind(spec["socket_dir"], os.path.join(dev, "socket"), readonly=False)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, os.path.join(dev, name))
    _mount(None, dev, None, MS_REMOUNT | MS_NOSUID | MS_RDONLY, "mode=0755,size=64k")


def _pivot(new_root: str) -> None:
    os.chdir(new_root)
    os.mkdir(".oldroot")
    _check(_libc.syscall(SYS_PIVOT_ROOT, b".", b".oldroot"), "pivot_root")
    _check(_libc.umount2(b"/.oldroot", MNT_DETACH), "umount the old root")
    os.rmdir("/.oldroot")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_RDONLY, "mode=0755,size=1m")


def _map_user(spec: dict, outer_uid: int, outer_gid: int) -> None:
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{spec['uid']} {outer_uid} 1\n")
    _write("/proc/self/gid_map", f"{spec['gid']} {outer_gid} 1\n")


def holder(spec: dict) -> int:
    """Start the domain: print the holder's pid (as this machine sees it) once its root is ready."""
    ready_r, ready_w = os.pipe()
    first = os.fork()
    if first:
        os.close(ready_w)
        with os.fdopen(ready_r) as ready:
            said = ready.read()
        os.waitpid(first, 0)
        if not said.startswith("ok "):
            print(said.strip() or "the domain's holder died while starting", file=sys.stderr)
            return 1
        print(said.split()[1], flush=True)
        return 0
    os.close(ready_r)
    try:
        os.setsid()
        outer_uid, outer_gid = os.getuid(), os.getgid()
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | (CLONE_NEWUSER if spec["userns"] else 0)
        _check(_libc.unshare(flags), "unshare")
        if spec["userns"]:
            _map_user(spec, outer_uid, outer_gid)
        pid = os.fork()
        if pid:
            os.write(ready_w, b"")  # the holder itself says when it is ready
            os._exit(0)
        _init(spec, ready_w)
    except BaseException as e:  # the reason goes back to the caller; nothing here may raise further
        os.write(ready_w, f"cannot start the {spec['domain']} domain: {e}\n".encode())
        os._exit(1)
    os._exit(1)


def _init(spec: dict, ready_w: int) -> None:
    """PID 1 of the domain: build its root, say ready with this machine's view of its pid, exec init."""
    outer_pid = _outer_pid()  # before this domain's own /proc hides this machine's view
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    new_root = spec["mountpoint"]
    os.makedirs(new_root, exist_ok=True)
    _build_root(spec, new_root)
    _pivot(new_root)
    _check(_libc.sethostname(b"localhost", 9), "sethostname")
    os.write(ready_w, f"ok {outer_pid}\n".encode())
    os.close(ready_w)
    os.closerange(3, 1 << 16)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.execve("/system/bin/init", ["/system/bin/init"], {"PATH": "/system/bin"})


def _outer_pid() -> int:
    """This process's pid as the parent namespace sees it (``NSpid`` in its status: outer first)."""
    with open("/proc/self/status") as status:  # the domain's own /proc is not mounted yet over the host's
        for line in status:
            if line.startswith("NSpid:"):
                return int(line.split()[1])
    raise JailError(0, "this kernel does not report NSpid")


# -- entering ----------------------------------------------------------------------------------
def _join(spec: dict) -> None:
    pid = spec["holder"]
    fds = {}
    kinds = (("user",) if spec["userns"] else ()) + NAMESPACES
    for kind in kinds:
        fds[kind] = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY)
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
    for kind in kinds:
        _check(_libc.setns(fds[kind], 0), f"setns {kind}")
        os.close(fds[kind])
    os.fchdir(root)
    os.chroot(".")
    os.close(root)


def _credentials(spec: dict) -> None:
    if not spec["userns"]:
        os.setgroups(spec["groups"])
        os.setresgid(spec["gid"], spec["gid"], spec["gid"])
        os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    else:
        for capability in range(64):  # the user namespace gave this process every capability in it
            _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _as_the_user(spec: dict) -> None:
    """In the forked child: the domain's user, in its folder, with its terminal."""
    _libc.prctl(PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0)
    if spec.get("tty") and not spec["userns"]:
        os.fchown(0, spec["uid"], spec["gid"])  # the terminal is the user's, as adbd's chown makes it
    _credentials(spec)
    os.umask(0o022)
    os.chdir(spec["cwd"])
    if spec.get("tty"):
        os.setsid()
        _check(_libc.ioctl(0, TIOCSCTTY, 0), "controlling terminal")


def enter(spec: dict) -> int:
    """Run ``spec["argv"]`` in the domain with its credentials; exit as it exits.

    ``sync``: instead of a command, serve ADB's sync protocol on stdin/stdout as the domain's
    user (the server is imported before the namespaces are joined: nothing of this machine's
    files is reachable after)."""
    sync_server = None
    if spec.get("sync"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import syncd  # stdlib only, beside this file

        sync_server = syncd.serve
    _join(spec)
    child = os.fork()
    if child == 0:
        try:
            _as_the_user(spec)
            if sync_server is not None:
                _libc.prctl(PR_SET_NAME, b"adbd", 0, 0, 0)
                os._exit(sync_server(0, 1))
            os.execvpe(spec["argv"][0], spec["argv"], spec["env"])  # PATH as the domain's environment has it
        except OSError as e:
            name = spec["argv"][0] if spec.get("argv") else "sync"
            os.write(2, f"{name}: {e.strerror or e}\n".encode())
            os._exit(127 if isinstance(e, FileNotFoundError) else 126)
        os._exit(1)
    for signum in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        _signal.signal(signum, lambda number, _frame: _forward(child, number))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _forward(child: int, number: int) -> None:
    for target in (-child, child):
        with contextlib.suppress(OSError):
            os.kill(target, number)


def encode_spec(spec: dict) -> str:
    """A spec as one argument: marshal (builtin, so decoding it costs no import) in hex."""
    return marshal.dumps(spec).hex()


def decode_spec(text: str) -> dict:
    spec = marshal.loads(bytes.fromhex(text))
    if not isinstance(spec, dict):
        raise JailError(0, "the spec is not a mapping")
    return spec


def main(argv: list[str]) -> int:
    verb, spec = argv[1], decode_spec(argv[2])
    if verb == "holder":
        return holder(spec)
    if verb == "enter":
        return enter(spec)
    print(f"usage: jail.py holder|enter SPEC (not {verb!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
