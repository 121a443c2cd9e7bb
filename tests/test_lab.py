"""JupyterLab works with this environment: the kernel ``make lab`` registers runs a notebook that uses
``analysis``, started through a headless Jupyter server's kernel API (REST and websocket), as JupyterLab
starts it.

Nothing global changes: the kernel is registered in a temporary prefix, and the server's data, config
and runtime folders are temporary too.
"""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nbformat
import numpy as np
import pytest

jupyter_server = pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (pip install -e '.[dev]')")
websocket = pytest.importorskip("websocket", reason="websocket-client is not installed (jupyter_server needs it)")

ROOT = Path(__file__).resolve().parents[1]
KERNEL, DISPLAY_NAME = "analysis", "Python (analysis)"
#: A small item set whose Cronbach's alpha the test works out by hand.
ITEMS = [[1, 2, 2], [2, 2, 3], [3, 4, 3], [4, 4, 5], [5, 4, 4], [2, 3, 2], [4, 5, 5]]
STARTUP_SECONDS = 90


def kernel_install_arguments() -> list[str]:
    """The Makefile's ``KERNEL_INSTALL`` line (what ``make lab`` runs with ``--sys-prefix``), split."""
    match = re.search(r"^KERNEL_INSTALL\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile has no KERNEL_INSTALL line"
    return shlex.split(match.group(1))


def cronbach_alpha(items: np.ndarray) -> float:
    """k / (k - 1) * (1 - sum of item variances / variance of the total)."""
    k = items.shape[1]
    return k / (k - 1) * (1 - items.var(axis=0, ddof=1).sum() / items.sum(axis=1).var(ddof=1))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A headless ``jupyter server`` on a free local port, with a token, and its REST API."""

    def __init__(self, root: Path, env: dict):
        self.port, self.token = free_port(), uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(root / "server.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        """HTTP status and body of one request to the server."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def api(self, method: str, path: str, body: dict | None = None):
        status, text = self.request(method, path, body)
        assert status < 300, f"{method} {path}: {status} {text[:500]!r}"
        return json.loads(text) if text else None

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server ended: {self.logged()}"
            try:
                if self.request("GET", "/api/status")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the server did not start in {STARTUP_SECONDS} s: {self.logged()}")

    def logged(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-3000:]

    def stop(self) -> None:
        """Shut the server down through its API, killing it if it does not end."""
        if self.process.poll() is None:
            try:
                self.request("POST", "/api/shutdown")
                self.process.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.log.close()


class KernelChannels:
    """A kernel's websocket (``/api/kernels/ID/channels``): execute code, collect what it printed."""

    def __init__(self, server: Server, kernel_id: str):
        self.session = uuid.uuid4().hex
        self.socket = websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels?session_id={self.session}",
            header=[f"Authorization: token {server.token}"], timeout=STARTUP_SECONDS)

    def execute(self, code: str) -> str:
        """Run one cell; its printed text and result, or AssertionError with the kernel's error."""
        msg_id = uuid.uuid4().hex
        self.socket.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": self.session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        text, replied, idle = [], None, False
        while replied is None or not idle:
            message = json.loads(self.socket.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                text.append(content["text"])
            elif kind == "execute_result":
                text.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                raise AssertionError(f"{content['ename']}: {content['evalue']}")
            elif kind == "execute_reply":
                replied = content
            elif kind == "status":
                idle = content["execution_state"] == "idle"
        assert replied["status"] == "ok", replied
        return "".join(text)

    def close(self) -> None:
        self.socket.close()


def short_notebook() -> nbformat.NotebookNode:
    """Imports ``analysis`` and prints which Python runs it and a reliability number."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import sys\nimport analysis\nprint(sys.executable)"),
        nbformat.v4.new_code_cell(f"import pandas as pd\nfrom analysis import scales\n"
                                  f"items = pd.DataFrame({ITEMS!r}, columns=['a', 'b', 'c'])"),
        nbformat.v4.new_code_cell("print(repr(float(scales.reliability(items).alpha)))"),
    ]
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": DISPLAY_NAME, "language": "python"}
    return nb


@pytest.fixture
def jupyter_env(tmp_path):
    """Environment with every Jupyter folder temporary and the temporary prefix's kernels on the path."""
    env = {**os.environ, "JUPYTER_DATA_DIR": str(tmp_path / "data"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "IPYTHONDIR": str(tmp_path / "ipython"),
           "JUPYTER_PATH": str(tmp_path / "prefix" / "share" / "jupyter")}
    env.pop("JUPYTER_ALLOW_INSECURE_WRITES", None)
    return env


def test_the_lab_kernel_runs_a_notebook_through_the_jupyter_server(tmp_path, jupyter_env):
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, *kernel_install_arguments(), "--prefix", str(prefix)],
                   env=jupyter_env, check=True, capture_output=True)
    spec = json.loads((prefix / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text())
    assert spec["display_name"] == DISPLAY_NAME and spec["argv"][0] == sys.executable

    (tmp_path / "work").mkdir()
    server = Server(tmp_path / "work", jupyter_env)
    try:
        server.wait_until_up()
        specs = server.api("GET", "/api/kernelspecs")["kernelspecs"]
        assert specs[KERNEL]["spec"]["display_name"] == DISPLAY_NAME, sorted(specs)
        assert server.request("GET", "/lab")[0] == 200  # JupyterLab's page is served by this server
        kernel = server.api("POST", "/api/kernels", {"name": KERNEL})
        assert kernel["name"] == KERNEL
        channels = KernelChannels(server, kernel["id"])
        try:
            printed = [channels.execute(cell.source) for cell in short_notebook().cells]
        finally:
            channels.close()
        server.api("DELETE", f"/api/kernels/{kernel['id']}")
        assert server.api("GET", "/api/kernels") == []
    finally:
        server.stop()
    assert server.process.returncode is not None
    assert printed[0].strip() == spec["argv"][0]  # the kernel runs this environment's Python
    assert float(printed[2]) == pytest.approx(cronbach_alpha(np.array(ITEMS, dtype=float)), rel=1e-12)
