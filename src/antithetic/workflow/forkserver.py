"""Fork servers for the workflow's jobs: heavy packages are imported once per run, not once per job.

Every Snakemake job is a new Python process, and a job that runs a network spends seconds importing
torch and diffusers (which imports its transformer models, torch's compiler stack and ``transformers``)
before the fraction of a second of work it does on the small models of the default run; a table or
plot job spends a second importing pandas, SciPy and matplotlib. So a local run starts one server per
pool of :data:`POOLS` (the Snakefile's ``onstart``): ``network`` for the jobs that run a network,
``table`` (no torch) for the table, figure and claim jobs. A server binds a Unix socket, imports its
pool's third-party packages, and waits. A job's script hands itself over (:func:`handoff`, called by
``workflow/scripts/_job.py``): it sends its argument vector, import path, working directory and
environment, and passes its standard input, output and error as file descriptors. The server forks;
the child becomes the job (those descriptors, that directory, that environment) and runs the job's
script from its first line, while the job's own process waits for the child's exit status and
forwards SIGINT, SIGTERM and SIGHUP to it. If the job's process dies, the child is killed.

What a job computes does not change: the child is a fork of a process that imported packages and ran
nothing else (no torch operation, so no thread pool exists before the fork; on a machine with a CUDA
device the ``network`` server takes no job, since CUDA does not survive a fork), and
it imports this project's own modules afresh, so an edit of ``src/`` between two jobs takes effect as
it would without the server. The end-to-end tests compare samples made with and without it bit for bit.

A job runs in its own process instead (the fallback, exactly as without a server) whenever its pool's
server is not running, runs on another host (cluster jobs), was started from another Python executable
(a ``--sdm conda`` environment), is owned by another user, or has an environment that differs from the
job's in anything but :data:`PER_JOB_VARIABLES`. Set ``ANTITHETIC_FORKSERVER=0`` to start no server.

Snakemake's ``benchmark:`` files still time each job's wall clock, but their memory and CPU columns
then cover only the waiting process: run with ``ANTITHETIC_FORKSERVER=0`` to measure those.

Prior art: the preload option of Python's ``multiprocessing`` fork server, ``gunicorn --preload``.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from importlib import import_module
from pathlib import Path
from typing import NamedTuple

__all__ = ["ENV_ADDRESS", "PER_JOB_VARIABLES", "POOLS", "Handoff", "Server", "handoff", "in_child", "main", "serve", "server_bootstrap", "start_server"]

#: where jobs find the servers: ``"<hostname>:<directory of one socket per pool>"``; ``0`` (or empty) starts none
ENV_ADDRESS = "ANTITHETIC_FORKSERVER"
#: set in a child of the server, so that its script does not hand itself over again
ENV_CHILD = "ANTITHETIC_FORKSERVER_CHILD"

#: the third-party modules the workflow's network jobs import (any that is not installed is skipped)
NETWORK_PRELOAD = (
    "numpy",
    "torch",
    "diffusers.models.unets.unet_2d",
    "diffusers.schedulers.scheduling_ddim",
    "diffusers.schedulers.scheduling_ddpm",
    "diffusers.pipelines.ddpm.pipeline_ddpm",
    "diffusers.training_utils",
    "diffusers.optimization",
    "scipy.stats",
    "scipy.special",
    "sklearn.datasets",
    "sklearn.model_selection",
    "pandas",
    "matplotlib.pyplot",
    "tqdm.auto",
    "torchmetrics.functional.image",
    "yaml",
    "snakemake.script",
)
#: what table, figure and claim jobs import: never torch, so their logs still show that they need none
TABLE_PRELOAD = ("numpy", "pandas", "scipy.stats", "matplotlib.pyplot", "tabulate", "yaml", "snakemake.script")
#: pool name -> the modules its server imports before it takes jobs
POOLS = {"network": NETWORK_PRELOAD, "table": TABLE_PRELOAD}

#: environment variables that may differ between the server and a job: the thread counts Snakemake sets
#: for each job (the job applies its own with ``torch.set_num_threads`` and ``threadpoolctl``, see
#: ``workflow/scripts/_job.py``), the job's temporary directory and what the shell that Snakemake starts a
#: job in sets for itself. The child gets the job's values of these; any other difference makes the job
#: run in its own process, since a module imported by the server may have read the variable already
#: (``HF_HUB_OFFLINE``, ``PYTHONHASHSEED``, ...).
PER_JOB_VARIABLES = frozenset({
    "OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS", "TMPDIR", "TMP", "TEMPDIR", "TEMP", "_", "SHLVL", "PWD", "OLDPWD",
})

_HEADER = struct.Struct("!I")  # length of the JSON request that follows
_FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# ------------------------------------------------------------------------------------ the job's side
class Handoff(NamedTuple):
    """What :func:`handoff` did: ``status`` is the child's exit status, or ``None`` if no server ran the job."""

    status: int | None
    reason: str


def in_child() -> bool:
    """Whether this process is a child of the fork server (a job the server took)."""
    return bool(os.environ.get(ENV_CHILD))


def handoff(script: str | os.PathLike, *, pool: str = "network") -> Handoff:
    """Run ``script`` (the running job's own script file) in a child of the fork server of ``pool``.

    Returns once the child has finished, with its exit status, or at once with ``status=None`` and the
    reason when no server can take the job (then the caller goes on in its own process). Imports
    nothing beyond the standard library.
    """
    if pool not in POOLS:
        raise ValueError(f"fork-server pool {pool!r} does not exist; the pools are {sorted(POOLS)}")
    address = os.environ.get(ENV_ADDRESS, "")
    if in_child():
        return Handoff(None, "running in a child of the fork server")
    if address in ("", "0") or sys.platform != "linux":
        return Handoff(None, "no fork server in this run")
    host, _, directory = address.partition(":")
    if not directory:
        raise ValueError(f"{ENV_ADDRESS}={address!r} is neither 0 (no fork server) nor the address a run sets; "
                         f"unset it or set it to 0")
    if host != socket.gethostname():
        return Handoff(None, f"the fork server runs on {host}, not here")
    path = os.path.join(directory, pool)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # a signal that arrives while the server forks waits until it can be forwarded (or, if the server
    # refuses the job, takes its default action once this process goes on with the job)
    signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED_SIGNALS)
    try:
        conn.connect(path)
        request = {
            "script": str(Path(script).resolve()),
            "argv": sys.argv,
            "path": sys.path,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "executable": sys.executable,
        }
        payload = json.dumps(request).encode()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        socket.send_fds(conn, [_HEADER.pack(len(payload)) + payload], [0, 1, 2])
        replies = conn.makefile("rb")
        reply = replies.readline().decode().strip()
    except OSError as err:
        conn.close()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED_SIGNALS)
        return Handoff(None, f"the {pool!r} fork server cannot be reached ({err})")
    if reply != "accepted":
        conn.close()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED_SIGNALS)
        return Handoff(None, reply or "the fork server closed the connection")

    # the child runs the job now: forward the signals Snakemake and the terminal send, wait for its status
    def forward(signum, _frame):
        try:
            conn.sendall(bytes([signum]))
        except OSError:
            pass

    for signum in _FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED_SIGNALS)
    status = replies.readline().decode().strip()
    conn.close()
    if status.startswith("exit "):
        return Handoff(int(status.split()[1]), f"ran in a child of the {pool!r} fork server")
    print("fork server: the job's child ended without an exit status (killed?)", file=sys.stderr)
    return Handoff(1, "the job's child ended without an exit status")


# ------------------------------------------------------------------------------------ the server's side
class Server:
    """The fork servers started by :func:`start_server`: their address, processes (one per pool) and :meth:`stop`."""

    def __init__(self, address: str, processes: dict, directory: str):
        self.address, self.processes, self.directory = address, processes, directory

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the servers (a running job is its own process's business) and remove their sockets."""
        import subprocess

        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_server(*, pools: dict[str, tuple[str, ...]] = POOLS, python: str | None = None, env: dict[str, str] | None = None) -> Server | None:
    """Start one fork server per pool in the background, for the jobs started afterwards with ``env``.

    ``env`` (default: this process's ``os.environ``, which every job started afterwards inherits) is
    the servers' environment and gets their address, :data:`ENV_ADDRESS`. Returns the :class:`Server`, or
    ``None`` when that environment asks for none (``ANTITHETIC_FORKSERVER=0``) or the platform has no
    ``fork`` with descriptor passing (only Linux is supported). A server binds its socket before it
    imports anything, so a job that connects early waits for the imports instead of doing its own.
    """
    import subprocess

    env = os.environ if env is None else env
    if env.get(ENV_ADDRESS, "") == "0" or sys.platform != "linux":
        return None
    # a short path: a Unix socket's path is limited to about 100 bytes
    directory = tempfile.mkdtemp(prefix="antithetic-fs-")
    env[ENV_ADDRESS] = f"{socket.gethostname()}:{directory}"
    code = server_bootstrap() + "server.main()"
    processes = {
        pool: subprocess.Popen([python or sys.executable, "-c", code, os.path.join(directory, pool), str(os.getpid()), *preload],
                               stdin=subprocess.DEVNULL, env=dict(env))
        for pool, preload in pools.items()
    }
    # wait (briefly) until the sockets are bound, so that the first jobs find them
    for _ in range(500):
        if all(os.path.exists(os.path.join(directory, pool)) or p.poll() is not None for pool, p in processes.items()):
            break
        time.sleep(0.01)
    return Server(env[ENV_ADDRESS], processes, directory)


def server_bootstrap(src: str | os.PathLike | None = None) -> str:
    """Python code that imports this module as ``server`` from ``src`` (default: the ``src/`` this file lies in).

    A server imports this package from this checkout, installed or not: ``src`` goes first on its
    ``sys.path``, ahead of ``PYTHONPATH`` and of an editable install of another clone in site-packages.
    """
    src = str(Path(__file__).resolve().parents[2] if src is None else Path(src).resolve())
    return f"import sys; sys.path.insert(0, {src!r}); import antithetic.workflow.forkserver as server; "


def serve(path: str, *, parent_pid: int, preload: tuple[str, ...]) -> None:
    """The server's loop: bind ``path``, import ``preload``, then fork a child per accepted job.

    Returns when the process that started it (``parent_pid``) has gone, or on SIGTERM.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(128)

    # the environment the server was started with (imports may add to it: sklearn sets KMP_* variables)
    environment = _comparable(os.environ)
    # torch's CUDA check through NVML leaves the CUDA driver uninitialised (the server must not touch it)
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    for name in preload:
        try:
            import_module(name)
        except ImportError:
            pass
    refuse_all = None
    torch = sys.modules.get("torch")
    if torch is not None and (torch.cuda.is_initialized() or torch.cuda.is_available()):
        # CUDA does not survive a fork of a process that may have initialised its driver (an import may
        # have asked torch.cuda.is_available() without NVML): GPU jobs start their own processes
        refuse_all = "refused: this machine has a CUDA device, and network jobs that may use it run in their own processes"

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while os.getppid() == parent_pid:
            _reap()
            ready, _, _ = select.select([listener], [], [], 1.0)
            if not ready:
                continue
            conn, _ = listener.accept()
            conn.settimeout(30)  # a client that connects and sends nothing must not stall the server
            try:
                _dispatch(conn, listener, environment=environment, refuse_all=refuse_all)
            except Exception:  # a broken request: that job runs in its own process, the server goes on
                pass
            finally:
                conn.close()
    finally:
        listener.close()
        try:
            os.unlink(path)
            if os.path.basename(os.path.dirname(path)).startswith("antithetic-fs-"):
                os.rmdir(os.path.dirname(path))  # the directory start_server made, once its last socket is gone
        except OSError:
            pass


def _comparable(env) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in PER_JOB_VARIABLES and k != ENV_CHILD}


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _dispatch(conn: socket.socket, listener: socket.socket, *, environment: dict[str, str], refuse_all: str | None) -> None:
    """Read one request; refuse it, or fork the child that runs it."""
    msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    try:
        (length,) = _HEADER.unpack(msg[: _HEADER.size])
        payload = msg[_HEADER.size :]
        while len(payload) < length:
            chunk = conn.recv(length - len(payload))
            if not chunk:
                return
            payload += chunk
        request = json.loads(payload)
        reason = refuse_all or _refusal(conn, request, environment, fds)
        if reason:
            conn.sendall(f"{reason}\n".encode())
            return
        conn.sendall(b"accepted\n")
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        if os.fork() == 0:  # the child: becomes the job, never returns
            listener.close()
            _run_job(conn, request, fds)
    finally:
        for fd in fds:
            os.close(fd)


def _refusal(conn: socket.socket, request: dict, environment: dict[str, str], fds: list[int]) -> str | None:
    uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[1]
    if uid != os.getuid():
        return "refused: the job runs as another user"
    if len(fds) != 3:
        return "refused: the job passed no standard streams"
    if os.path.realpath(request["executable"]) != os.path.realpath(sys.executable):
        return f"refused: the job runs {request['executable']}, the server {sys.executable}"
    differs = sorted(k for k in set(environment) | set(_comparable(request["env"]))
                     if environment.get(k) != request["env"].get(k))
    if differs:
        return f"refused: the environment differs in {', '.join(differs[:5])}"
    return None


def _run_job(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: take over the job's streams, directory and environment; run its script."""
    import atexit
    import logging
    import runpy
    import traceback

    code = 1
    try:
        conn.settimeout(None)  # the job may run for hours; the watcher waits on this connection
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        atexit._clear()  # the server's exit handlers are the server's
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[ENV_CHILD] = "1"
        tempfile.tempdir = None  # read the job's TMPDIR afresh
        sys.argv[:] = request["argv"]
        sys.path[:] = request["path"]
        # this project's modules are imported afresh by the job (an edit of src/ takes effect)
        for name in [n for n in sys.modules if n == "antithetic" or n.startswith("antithetic.")]:
            del sys.modules[name]
        threading.Thread(target=_watch, args=(conn,), daemon=True).start()
        try:
            runpy.run_path(request["script"], run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            if not isinstance(exit_.code, (int, type(None))):
                print(exit_.code, file=sys.stderr)
        except BaseException:
            # as in an own process: the job's excepthook (workflow/scripts/_job.py) logs it to the rule's log file
            try:
                sys.excepthook(*sys.exc_info())
            except BaseException:
                traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
        logging.shutdown()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            conn.sendall(f"exit {code}\n".encode())
        finally:
            os._exit(code)


def _watch(conn: socket.socket) -> None:
    """In the child: re-raise each signal the job's process forwards; die with it if it dies."""
    while True:
        try:
            data = conn.recv(16)
        except OSError:
            data = b""
        if not data:
            os.kill(os.getpid(), signal.SIGKILL)
        for signum in data:
            os.kill(os.getpid(), signum)


def main() -> None:
    """``<socket path> <parent pid> [module ...]``: what :func:`start_server` runs."""
    serve(sys.argv[1], parent_pid=int(sys.argv[2]), preload=tuple(sys.argv[3:]))


if __name__ == "__main__":
    main()
