"""Drive a real JupyterLab in Debian's Chromium: start the server, launch the browser, work a notebook.

Everything here waits for a state (kernel idle, an output, an image decoded) instead of sleeping.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
from playwright.sync_api import BrowserContext, Locator, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from support import NOTEBOOKS

ASSIGNMENTS = sorted(NOTEBOOKS)
# The graded submission: every function right except weighted_upstream, which weights the first
# *column* of out instead of its first row (a typical mistake with a named diagnosis).
STUDENT = {"id": "bitdiddle", "first_name": "Ben", "last_name": "Bitdiddle"}
SUBMITTED_MISTAKE = "weighted_upstream"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 950}
TIMEOUT_MS = 60_000            # default for every Playwright wait
RUN_TIMEOUT_MS = 240_000       # a "Run All" or a Validate on a slow, busy machine

# Variables of the grading machinery that must not leak from a test run into a student's kernel.
_SCRUBBED_ENV = ("NBGRADER_EXECUTION", "AUTOGRADER_PROBE", "JUPYTER_TOKEN", "JUPYTER_CONFIG_PATH")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(extra)
    return env


_LISTENING = re.compile(rb"http://127\.0\.0\.1:(\d+)/")  # the URL the server prints once it listens


class LabServer:
    """``jupyter lab`` started in ``root`` (the course directory), exactly as the docs tell people to.

    Only the per-user state is redirected into ``home`` (config, data, runtime, settings, workspaces,
    IPython), so nothing from ``~/.jupyter`` changes what the test sees and nothing is written there.
    The one setting it adds silences JupyterLab's "get notified about Jupyter news?" toast, which
    would cover part of every screenshot.
    """

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        self.token = secrets.token_hex(24)
        self.port: int | None = None          # chosen by the server itself (--ServerApp.port=0)
        self.base = ""
        self.log_path = home / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        dirs = {name: self.home / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
        return clean_env(JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_DATA_DIR=str(dirs["data"]),
                         JUPYTER_RUNTIME_DIR=str(dirs["runtime"]), JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
                         JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]), IPYTHONDIR=str(dirs["ipython"]),
                         PYTHONUNBUFFERED="1")

    def _prepare_home(self) -> None:
        for name in ("config", "data", "runtime", "settings", "workspaces", "ipython"):
            (self.home / name).mkdir(parents=True, exist_ok=True)
        settings = self.home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    def start(self, timeout: float = 120, attempts: int = 3) -> LabServer:
        """Start on a port the server picks itself and wait until it answers.

        jupyter_server chooses a free port, announces it, then binds it once its event loop runs; in
        that instant another process could take the port, and the server then exits saying so: only
        in that case is it started again."""
        self._prepare_home()
        for _ in range(attempts):
            if self._start(timeout):
                return self
        raise RuntimeError(f"jupyter lab found no free port in {attempts} attempts:\n{self.log_tail()}")

    def _start(self, timeout: float) -> bool:
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               "--ServerApp.port=0", "--ServerApp.port_retries=0",
               "--ServerApp.allow_root=True",          # harmless for other users; CI runs as root
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        self.port = None
        self.proc = subprocess.Popen(cmd, cwd=self.root, env={**self.env, "JUPYTER_TOKEN": self.token},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        announced = threading.Event()
        threading.Thread(target=self._copy_log, args=(announced,), daemon=True).start()
        deadline = time.monotonic() + timeout
        if not announced.wait(timeout) or self.port is None:
            self.stop()
            raise RuntimeError(f"jupyter lab did not start (exit code {self.proc.poll()}):\n{self.log_tail()}")
        while True:  # announced: the port opens as soon as the server's event loop runs
            if self.proc.poll() is not None:
                if "already in use" in self.log_tail():
                    return False
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if self.api("api/status").get("started"):
                    return True
            except (OSError, urllib.error.URLError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"jupyter lab did not answer within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def _copy_log(self, announced: threading.Event) -> None:
        """Copy the server's output into its log file; set ``announced`` once it names its URL (or ends)."""
        with self.log_path.open("wb") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                found = _LISTENING.search(line)
                if found and self.port is None:
                    self.port = int(found.group(1))
                    self.base = f"http://127.0.0.1:{self.port}"
                    announced.set()
        announced.set()  # the server exited: start() reports it

    def api_text(self, path: str, method: str = "GET", data: bytes | None = None, timeout: float = 30) -> str:
        request = urllib.request.Request(f"{self.base}/{path}", method=method, data=data,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read().decode()

    def api(self, path: str, method: str = "GET", data: bytes | None = None, timeout: float = 30):
        body = self.api_text(path, method, data, timeout)
        return json.loads(body) if body else None

    def url(self, path: str, **query: str) -> str:
        """A URL that logs the browser in, like the one ``jupyter lab`` prints."""
        params = "&".join([*(f"{k}={v}" if v else k for k, v in query.items()), f"token={self.token}"])
        return f"{self.base}/{path}?{params}"

    def shutdown_kernels(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for session in self.api("api/sessions") or []:
                self.api(f"api/sessions/{session['id']}", method="DELETE")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.api("api/shutdown", method="POST", data=b"")   # shuts the kernels down too
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


# ---------------------------------------------------------------------------------------------- browser

def _local_only(route) -> None:
    """Requests to anywhere but this machine are refused (the pages reference e.g. a MathJax CDN)."""
    url = urlsplit(route.request.url)
    if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in ("127.0.0.1", "localhost"):
        route.abort("blockedbyclient")
    else:
        route.fallback()


def launch_chromium(playwright: Playwright, user_data_dir: Path) -> BrowserContext:
    """Debian's Chromium with a fresh profile; Playwright never downloads a browser here."""
    context = playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport=VIEWPORT, device_scale_factor=1, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    context.route(re.compile(r"^(https?|wss?)://"), _local_only)
    return context


def next_frames(page: Page, n: int = 2) -> None:
    """Let the browser lay out and paint (after a scroll) before a screenshot."""
    page.evaluate("n => new Promise(done => { const step = k => k ? requestAnimationFrame(() => step(k - 1)) "
                  ": done(); step(n); })", n)


def scroll_to_top(page: Page, locator: Locator) -> None:
    """Scroll ``locator`` to the top of its scrolling container (twice: cells above may change size)."""
    for _ in range(2):
        locator.evaluate("el => el.scrollIntoView({block: 'start'})")
        next_frames(page)


def shot(page: Page, folder: Path, name: str, locator: Locator | None = None) -> Path:
    path = folder / f"{name}.png"
    if locator is not None:
        locator.screenshot(path=str(path), animations="disabled")
    else:
        page.screenshot(path=str(path), animations="disabled")
    return path


# ---------------------------------------------------------------------------------------------- notebook

_PROMPTS_JS = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell'))
    .map(cell => (cell.querySelector('.jp-InputPrompt') || {}).textContent || '')"""

_KERNEL_READY_JS = """() => {
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const items = Array.from(document.querySelectorAll('.jp-StatusBar-Item')).map(e => e.textContent.trim());
    const kernelIdle = items.some(t => / \\| Idle$/.test(t) && !t.startsWith('No Kernel'));
    return Boolean(status && status.dataset.status === 'idle' && kernelIdle);
}"""

_RUN_DONE_JS = """(before) => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    if (!panel) return false;
    const prompts = Array.from(panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(p => p.textContent);
    if (!prompts.length || prompts.some(p => p.includes('*'))) return false;
    const first = parseInt((prompts[0].match(/\\[(\\d+)\\]/) || [0, '0'])[1]);
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return first > before && (!status || status.dataset.status === 'idle');
}"""


class NotebookUI:
    """One notebook open in JupyterLab; cells are addressed by their index in the .ipynb file."""

    def __init__(self, page: Page, path: Path, relpath: str):
        self.page, self.path, self.relpath = page, path, relpath
        self.nb = nbformat.read(path, as_version=4)

    # -- finding cells
    def index(self, grade_id: str) -> int:
        for i, cell in enumerate(self.nb.cells):
            if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                return i
        raise KeyError(grade_id)

    def index_containing(self, text: str) -> int:
        found = [i for i, c in enumerate(self.nb.cells) if c.cell_type == "code" and text in c.source]
        assert len(found) == 1, f"{len(found)} code cells contain {text!r}"
        return found[0]

    def cell(self, index: int) -> Locator:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)

    def outputs(self, index: int) -> Locator:
        return self.cell(index).locator(".jp-OutputArea")

    def output_text(self, index: int) -> str:
        """The text of a cell's outputs (textContent: cells out of view are not rendered, innerText is empty)."""
        area = self.outputs(index)
        return area.evaluate("el => el.textContent") if area.count() else ""

    def code_prompts(self) -> list[str]:
        return [p.strip() for p in self.page.evaluate(_PROMPTS_JS)]

    # -- actions
    def open(self, lab: LabServer) -> NotebookUI:
        self.page.goto(lab.url(f"lab/tree/{self.relpath}", reset=""))   # reset: no tabs left from earlier tests
        self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for()
        # The kernel connected and idle: before that, Run All silently skips every cell. (The toolbar's
        # execution indicator says "idle" already while the status bar still says "No Kernel".)
        self.page.wait_for_function(_KERNEL_READY_JS, timeout=RUN_TIMEOUT_MS)
        # JupyterLab adds the cells in batches; all of them are in the page once the notebook is ready
        # (the default windowing mode hides cells out of view with CSS, it does not remove them).
        self.page.wait_for_function(
            "n => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')"
            ".length === n", arg=len(self.nb.cells))
        return self

    def menu(self, menu: str, command: str) -> None:
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
        self.page.locator(f".lm-Menu-item[data-command='{command}']").click()

    def run_all(self, timeout: float = RUN_TIMEOUT_MS) -> None:
        """Run ▸ Run All Cells, then wait until no cell is queued or running and the kernel is idle."""
        counts = [int(m.group(1)) for p in self.code_prompts() if (m := re.search(r"\[(\d+)\]", p))]
        before = max(counts, default=0)
        self.menu("Run", "runmenu:run-all")
        try:
            self.page.wait_for_function(_RUN_DONE_JS, arg=before, timeout=timeout)
        except PlaywrightTimeout as err:
            status = self.page.locator(".jp-Notebook-ExecutionIndicator").first.get_attribute("data-status")
            raise AssertionError(f"Run All did not finish within {timeout / 1000:.0f}s (kernel {status}, "
                                 f"prompts before: up to [{before}], now: {self.code_prompts()})") from err

    def type_code(self, index: int, code: str) -> None:
        """Replace a cell's code through its editor, as a student would (select all, then type).

        The text arrives as one input event, like a paste: typed key by key, CodeMirror would
        auto-indent every new line on top of the indentation the text already has.
        """
        editor = self.cell(index).locator(".cm-content")
        editor.click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.insert_text(code)
        shown = editor.evaluate("el => Array.from(el.querySelectorAll('.cm-line')).map(l => l.textContent)"
                                ".join('\\n')")
        assert shown == code, f"the editor shows\n{shown}\ninstead of\n{code}"
        self.page.keyboard.press("Escape")    # back to command mode, like clicking outside

    def wait_for_image(self, index: int) -> Locator:
        """The first image output of a cell, scrolled into view and decoded.

        Scrolled first: cells out of view are not laid out (CSS content-visibility), so their
        outputs never count as visible.
        """
        scroll_to_top(self.page, self.cell(index))
        image = self.cell(index).locator(".jp-OutputArea-output img").first
        image.wait_for(state="attached")
        self.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        return image

    def saved(self):
        return nbformat.read(self.path, as_version=4)

