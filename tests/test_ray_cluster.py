"""Joining a Ray cluster started with ``ray start --head``: the same numbers as an in-process run.

Slow (a cluster start and a second set of worker processes): run with
``python -m pytest -m slow``. The cluster is started by this test in its own
process group, with its own temporary folder, and stopped by signalling that
group only (``ray stop`` would stop every Ray on the machine).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweep_support import TINY, numbers
from unlearnkit.cli.main import main

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"the Ray head did not listen on port {port} within {seconds} s")


@pytest.fixture
def cluster() -> Iterator[str]:
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="ukray", dir="/tmp")  # short: Ray's socket paths live under it
    ray_cli = str(Path(sys.executable).with_name("ray"))
    command = [ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=2", f"--temp-dir={folder}",
               "--include-dashboard=false", "--disable-usage-stats"]
    # `ray start` turns Ray's token authentication on; Ray reads RAY_AUTH_MODE once, when it is imported, and this
    # process imported Ray already: so this loopback-only test cluster runs without it.
    environment = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    try:
        _wait_for(port, 120)
        time.sleep(2)  # the raylet registers after the GCS listens
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_run_on_a_cluster_gives_the_numbers_of_a_run_in_process(cluster: str, tmp_path: Path, capsys) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    local, remote = tmp_path / "local.sqlite", tmp_path / "cluster.sqlite"
    assert main(["run", str(config), "--store", str(local), "--quiet"]) == 0
    assert main(["run", str(config), "--store", str(remote), "--quiet", "--address", cluster]) == 0
    assert f"units of work on the Ray cluster at {cluster}" in capsys.readouterr().err
    assert not ray.is_initialized()  # the command left the cluster, and the cluster is still up for others
    assert numbers(str(remote)) == numbers(str(local))
