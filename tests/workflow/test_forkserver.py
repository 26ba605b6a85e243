"""The fork server runs a job's script as the job would run itself: same streams, status, signals, numbers."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from antithetic.workflow import forkserver

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the fork server runs on Linux only")

# what every job script does first (workflow/scripts/_job.py): offer itself to the server, else run here
PREAMBLE = f"""
import os, sys
sys.path.insert(0, {str(ROOT / "src")!r})
from antithetic.workflow.forkserver import handoff, in_child
handed = handoff(sys.argv[0])
if handed.status is not None:
    os._exit(handed.status)
print("where:", "child" if in_child() else "own process", "|", handed.reason, flush=True)
"""


#: the environment of the test's fork server, and so of the jobs it takes
SERVER_ENV = {}


@pytest.fixture(scope="module")
def server():
    """A fork server preloading torch and diffusers' UNet, as a workflow run starts it."""
    SERVER_ENV.clear()
    SERVER_ENV.update({k: v for k, v in os.environ.items() if k != forkserver.ENV_ADDRESS})
    started = forkserver.start_server(pools={"network": ("numpy", "torch", "diffusers.models.unets.unet_2d")}, env=SERVER_ENV)
    yield started
    started.stop()


def job(tmp_path, body, *, env=None, **kwargs):
    """Run a job script (the preamble, then ``body``) as Snakemake would: a new Python process."""
    script = tmp_path / "job.py"
    script.write_text(PREAMBLE + textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script), "an-argument"], capture_output=True, text=True,
                          env={**(SERVER_ENV or os.environ), **(env or {})}, cwd=tmp_path, timeout=120, **kwargs)


def test_a_job_runs_in_a_child_with_its_own_streams_directory_arguments_and_status(server, tmp_path):
    (tmp_path / "own-tmp").mkdir()
    result = job(tmp_path, """
        import tempfile
        import torch  # imported by the server already
        print("argv", sys.argv[1:], "cwd", os.getcwd(), "tmp", tempfile.gettempdir())
        print("to stderr", file=sys.stderr)
        sys.exit(3)
    """, env={"TMPDIR": str(tmp_path / "own-tmp")})
    assert result.returncode == 3, result.stderr
    assert "where: child | running in a child of the fork server" in result.stdout
    assert f"argv ['an-argument'] cwd {tmp_path} tmp {tmp_path / 'own-tmp'}" in result.stdout
    assert "to stderr" in result.stderr


def test_an_exception_in_the_child_gives_status_1_and_its_traceback(server, tmp_path):
    result = job(tmp_path, "raise ValueError('config key x: bad')\n")
    assert result.returncode == 1
    assert "ValueError: config key x: bad" in result.stderr


def test_per_job_thread_variables_reach_the_child_and_torch_uses_two_threads(server, tmp_path):
    # the server ran no torch operation, so a child can start a thread pool of any size (no fork deadlock)
    result = job(tmp_path, """
        import torch
        torch.set_num_threads(2)
        x = torch.randn(600, 600)
        print("threads", torch.get_num_threads(), os.environ["OMP_NUM_THREADS"], float((x @ x).abs().sum()) > 0)
    """, env={"OMP_NUM_THREADS": "2"})
    assert result.returncode == 0, result.stderr
    assert "where: child" in result.stdout and "threads 2 2 True" in result.stdout


def test_a_job_with_another_environment_runs_in_its_own_process(server, tmp_path):
    result = job(tmp_path, "print('ran')\n", env={"HF_HUB_OFFLINE": "0" if os.environ.get("HF_HUB_OFFLINE") == "1" else "1"})
    assert result.returncode == 0
    assert "where: own process | refused: the environment differs in HF_HUB_OFFLINE" in result.stdout
    assert "ran" in result.stdout


def test_no_server_no_handoff(tmp_path):
    result = job(tmp_path, "print('ran')\n", env={forkserver.ENV_ADDRESS: "0"})
    assert result.returncode == 0 and "where: own process | no fork server in this run" in result.stdout
    result = job(tmp_path, "print('ran')\n", env={forkserver.ENV_ADDRESS: "another-host:/tmp/nowhere"})
    assert "where: own process | the fork server runs on another-host" in result.stdout


def test_a_job_can_run_and_wait_for_subprocesses(server, tmp_path):
    result = job(tmp_path, """
        import subprocess
        print("sub", subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True, check=True).stdout.strip())
    """)
    assert result.returncode == 0, result.stderr
    assert "where: child" in result.stdout and "sub 42" in result.stdout


def _wait_for(path, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists()


def test_signals_are_forwarded_to_the_child_and_it_dies_with_the_job(server, tmp_path):
    # SIGTERM sent to the job (as Snakemake does) reaches the child
    (tmp_path / "a").mkdir()
    script = tmp_path / "a" / "job.py"
    script.write_text(PREAMBLE + textwrap.dedent("""
        import signal, time
        from pathlib import Path
        signal.signal(signal.SIGTERM, lambda *_: (Path("terminated").write_text(str(os.getpid())), sys.exit(143)))
        Path("pid").write_text(str(os.getpid()))
        time.sleep(60)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=script.parent, env=SERVER_ENV)
    _wait_for(script.parent / "pid")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 143
    assert (script.parent / "terminated").read_text() == (script.parent / "pid").read_text()

    # SIGKILL of the job (kill -9, a lost session) kills the child too
    (tmp_path / "b").mkdir()
    script = tmp_path / "b" / "job.py"
    script.write_text(PREAMBLE + "import time; from pathlib import Path; Path('pid').write_text(str(os.getpid())); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=script.parent, env=SERVER_ENV)
    _wait_for(script.parent / "pid")
    child = int((script.parent / "pid").read_text())
    assert child != proc.pid
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_unet_samples_are_bitwise_equal_in_a_child_and_in_an_own_process(server, tiny_unet_dir, tmp_path):
    import torch

    from antithetic.generate import generate
    from antithetic.models import load_unet_model
    from antithetic.noise import make_design

    def samples():
        model = load_unet_model(tiny_unet_dir, name="tiny")
        return generate(model, design=make_design("antithetic", seed=3), num_samples=8, sampler="ddpm",
                        sampler_options={"num_steps": 4}, batch_size=8, progress=False).samples

    result = job(tmp_path, f"""
        import numpy as np, torch
        torch.set_num_threads(1)
        sys.path.insert(0, {str(ROOT / "src")!r})
        from antithetic.models import load_unet_model
        from antithetic.noise import make_design
        from antithetic.generate import generate
        model = load_unet_model({str(tiny_unet_dir)!r}, name="tiny")
        out = generate(model, design=make_design("antithetic", seed=3), num_samples=8, sampler="ddpm",
                       sampler_options={{"num_steps": 4}}, batch_size=8, progress=False)
        np.save("samples.npy", out.samples)
    """)
    assert result.returncode == 0 and "where: child" in result.stdout, result.stderr
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        own = samples()  # in this (never forked) process
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(np.load(tmp_path / "samples.npy"), own)


def test_the_server_exits_when_its_parent_does(tmp_path):
    code = f"""
import sys; sys.path.insert(0, {str(ROOT / "src")!r})
from antithetic.workflow import forkserver
server = forkserver.start_server(pools={{"network": ("json",)}})
print(server.processes["network"].pid, server.address.split(":", 1)[1], flush=True)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout.split()
    pid, directory = int(out[0]), out[1]
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid) and not os.path.exists(directory)


def test_on_a_machine_with_a_cuda_device_network_jobs_run_in_their_own_process(tmp_path):
    """CUDA does not survive a fork: the network server takes no job where torch sees a CUDA device."""
    (tmp_path / "pretend_cuda.py").write_text("import torch\ntorch.cuda.is_available = lambda: True\n")
    env = {k: v for k, v in os.environ.items() if k != forkserver.ENV_ADDRESS}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *filter(None, [env.get("PYTHONPATH")])])
    started = forkserver.start_server(pools={"network": ("torch", "pretend_cuda")}, env=env)
    try:
        script = tmp_path / "job.py"
        script.write_text(PREAMBLE + "print('ran')\n")
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    finally:
        started.stop()
    assert result.returncode == 0, result.stderr
    assert "where: own process | refused: this machine has a CUDA device" in result.stdout and "ran" in result.stdout


def test_an_unknown_pool_or_a_malformed_address_is_an_error_naming_it(monkeypatch):
    with pytest.raises(ValueError, match="pool 'tabel' does not exist; the pools are \\['network', 'table'\\]"):
        forkserver.handoff("job.py", pool="tabel")
    monkeypatch.setenv(forkserver.ENV_ADDRESS, "yes")
    monkeypatch.delenv(forkserver.ENV_CHILD, raising=False)
    with pytest.raises(ValueError, match="ANTITHETIC_FORKSERVER='yes' is neither 0 .* unset it or set it to 0"):
        forkserver.handoff("job.py")
