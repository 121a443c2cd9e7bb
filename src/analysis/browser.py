"""Open a report folder in headless Chromium, as a reader would, and find what is broken.

``check_reports(folder)`` starts the system's Chromium (Debian's ``chromium``), opens
``index.html`` and every page it links within the folder, and lists what a reader would
find wrong:

* broken links (local files that do not exist, anchors that no element carries) and
  broken images (not loaded: ``naturalWidth`` 0);
* requests for anything that is not local (a script or style sheet from a CDN): a report
  must read the same offline, and load nothing from the internet;
* raw LaTeX in the visible text (``$...$`` that was not rendered as a formula);
* warning boxes: visible ``stderr`` output cells (a library's warning with its file path,
  or a traceback).

Links to other hosts are counted, not followed: the browser gets no network, so the
check gives the same answer offline. On a problem a screenshot of the page is saved
under ``FOLDER/browser-check/``.

From the command line, on a whole report folder (exit 0: no problem, 1: problems, 2:
no folder or no browser)::

    python -m analysis.browser reports/

The browser is driven over the Chrome DevTools protocol on a pipe
(``--remote-debugging-pipe``): no port, no driver, no extra package.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

#: Executables tried, in order, when none is given.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SCREENSHOTS = "browser-check"

# Runs in a small Python process between us and Chromium: puts the two pipe ends on the
# file descriptors 3 (commands in) and 4 (replies out) that --remote-debugging-pipe uses.
_ON_FDS_3_AND_4 = ("import fcntl, os, sys\n"
                   "r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD_CLOEXEC, 10) for fd in sys.argv[1:3])\n"
                   "os.dup2(r, 3)\nos.dup2(w, 4)\nos.execv(sys.argv[3], sys.argv[3:])\n")

#: URL schemes a page may load from: its own files and what it carries inline.
LOCAL_SCHEMES = ("file", "data", "about", "blob")

# What a reader would notice on a page: images that did not load, where links lead, anchors there are,
# the text shown, and the first line of each visible stderr output (a warning or a traceback).
_PAGE_FACTS = """(() => ({
  images: Array.from(document.images).map(img => ({src: img.currentSrc || img.src,
                                                   ok: img.complete && img.naturalWidth > 0})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  anchors: Array.from(document.querySelectorAll('[id], a[name]')).map(el => el.id || el.getAttribute('name')),
  text: document.body ? document.body.innerText : '',
  stderr: Array.from(document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]'))
               .filter(el => el.getClientRects().length > 0)
               .map(el => el.innerText.trim().split('\\n')[0]),
}))()"""

#: LaTeX a reader would see as source where a formula should be: ``$$...$$``, or ``$...$`` whose content
#: neither starts nor ends with a space (TeX's rule, so that "from $5 to $10" is not taken for a formula).
RAW_LATEX = re.compile(r"\$\$.+?\$\$|(?<![\\$\w])\$(?=\S)[^$\n]+?(?<=\S)\$(?![\w$])", re.DOTALL)
SHOWN_CHARACTERS = 80  # of a raw formula or a stderr line in a problem


class BrowserError(RuntimeError):
    """Chromium could not be found or started, or stopped answering."""


def find_chromium(executable: str | None = None) -> str:
    """Path of the Chromium to use: ``executable`` if given, else the first of :data:`CHROMIUM_NAMES` on PATH.

    Raises
    ------
    BrowserError
        None found; the message says how to install it.
    """
    for name in [executable] if executable else CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    wanted = executable or " or ".join(CHROMIUM_NAMES)
    raise BrowserError(f"no Chromium found ({wanted}); install Debian's package: apt-get install chromium")


class Chromium:
    """A headless Chromium started for a check, with one page, driven over the DevTools protocol.

    Use as a context manager; the browser and its temporary profile are gone afterwards.

    Parameters
    ----------
    executable : str, optional
        Browser executable; see :func:`find_chromium`.
    timeout : float, default 60
        Seconds to wait for any one answer or page load.
    size : tuple of int, default (1280, 900)
        Window size in pixels.
    """

    def __init__(self, executable: str | None = None, timeout: float = 60.0, size: tuple[int, int] = (1280, 900)):
        self.executable = find_chromium(executable)
        self.timeout, self.size = timeout, size
        self._id, self._buffer, self._events = 0, b"", []

    def __enter__(self) -> Chromium:
        self._profile = tempfile.TemporaryDirectory(prefix="analysis-chromium-", ignore_cleanup_errors=True)
        self._log = open(Path(self._profile.name) / "chromium.log", "w+b")
        commands_in, self._commands = os.pipe()
        self._replies, replies_out = os.pipe()
        flags = ["--headless", "--remote-debugging-pipe", "--disable-gpu", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
                 f"--user-data-dir={self._profile.name}", f"--window-size={self.size[0]},{self.size[1]}",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost"]
        flags += ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses its sandbox to root
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _ON_FDS_3_AND_4, str(commands_in), str(replies_out), self.executable, *flags],
                pass_fds=(commands_in, replies_out), stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                start_new_session=True)
        finally:
            os.close(commands_in)
            os.close(replies_out)
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.call("Page.enable", session=self._session)
            self.call("Network.enable", session=self._session)
        except BrowserError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        with suppress(BrowserError, OSError):
            self.call("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with suppress(ProcessLookupError):  # Chromium's helper processes, in the session it was started in
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        for fd in (self._commands, self._replies):
            os.close(fd)
        self._log.close()
        self._profile.cleanup()

    def call(self, method: str, session: str | None = None, **params) -> dict:
        """Send one DevTools command and return its result; events that arrive meanwhile are kept."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params, **({"sessionId": session} if session else {})}
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._commands, data):]
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message', reply['error'])}")
                return reply.get("result", {})
            self._events.append(reply)

    def _receive(self, deadline: float, waiting_for: str) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready = select.select([self._replies], [], [], max(remaining, 0))[0] if remaining > 0 else []
            if not ready:
                raise BrowserError(f"Chromium gave no answer to {waiting_for} within {self.timeout:g} s")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium stopped while waiting for {waiting_for}: {self._log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _log_tail(self) -> str:
        self._log.flush()
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) or "no message"

    def _wait_for(self, event: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, message in enumerate(self._events):
                if message.get("method") == event and message.get("sessionId") == self._session:
                    return self._events.pop(i)
            self._events.append(self._receive(deadline, event))

    def open(self, url: str) -> None:
        """Load a page and wait for its load event (images included)."""
        self._events.clear()
        result = self.call("Page.navigate", session=self._session, url=url)
        if result.get("errorText"):
            raise BrowserError(f"{url}: {result['errorText']}")
        self._wait_for("Page.loadEventFired")

    def requests(self) -> list[str]:
        """URLs the open page has requested so far (itself, scripts, styles, images, fetches ...)."""
        return [event["params"]["request"]["url"] for event in self._events
                if event.get("method") == "Network.requestWillBeSent" and event.get("sessionId") == self._session]

    def evaluate(self, expression: str):
        """Value of a JavaScript expression in the open page (promises awaited)."""
        result = self.call("Runtime.evaluate", session=self._session, expression=expression,
                           returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"JavaScript error: {details.get('exception', {}).get('description', details)}")
        return result["result"].get("value")

    def screenshot(self, path: str | Path, max_height: int = 10000) -> Path:
        """Save a PNG of the open page, whole (up to ``max_height`` pixels)."""
        height = min(int(self.evaluate("document.documentElement.scrollHeight")), max_height)
        clip = {"x": 0, "y": 0, "width": self.size[0], "height": max(height, 1), "scale": 1}
        data = self.call("Page.captureScreenshot", session=self._session, format="png",
                         captureBeyondViewport=True, clip=clip)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


@dataclass(frozen=True)
class Problem:
    """Something wrong on a page.

    ``kind`` is "broken link", "broken anchor", "broken image", "external request" (the
    page asked for a URL that is not local), "raw LaTeX" (a formula shown as source) or
    "stderr output" (a warning box); ``target`` says which.
    """

    page: str
    kind: str
    target: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind} {self.target}"


@dataclass(frozen=True)
class BrowserCheck:
    """What :func:`check_reports` saw: pages opened, links and images checked, problems, screenshots."""

    pages: list[str]
    links: int
    images: int
    external: int
    problems: list[Problem] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        verdict = "no problems" if self.ok else f"{len(self.problems)} problem(s)"
        return (f"opened {len(self.pages)} pages: {self.links} local links, {self.images} images checked, "
                f"{self.external} links to other hosts not followed; {verdict}")


def check_reports(folder: str | Path, executable: str | None = None, screenshots: bool = True,
                  timeout: float = 60.0) -> BrowserCheck:
    """Open ``folder/index.html`` and every page it links within ``folder``; find what is wrong on them.

    Broken links, anchors and images, requests for URLs that are not local, raw LaTeX in
    the visible text and visible stderr outputs (see :class:`Problem`).

    Parameters
    ----------
    folder : str or Path
        Report folder (``reports/``), holding ``index.html``.
    executable : str, optional
        Chromium executable; see :func:`find_chromium`.
    screenshots : bool, default True
        Save a screenshot of each page with a problem as ``folder/browser-check/PAGE.png``
        (earlier screenshots there are removed first).
    timeout : float, default 60
        Seconds to wait for a page to load.

    Returns
    -------
    BrowserCheck

    Raises
    ------
    FileNotFoundError
        No ``index.html`` in ``folder``.
    BrowserError
        Chromium not found, or it failed.
    """
    root = Path(folder).resolve()
    index = root / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"{folder}: no index.html")
    shots = root / SCREENSHOTS
    if screenshots:
        shutil.rmtree(shots, ignore_errors=True)
    queue, seen, anchors, wanted = [index], {index}, {}, []
    problems, saved, counts = [], [], {"links": 0, "images": 0, "external": 0}
    with Chromium(executable, timeout=timeout) as browser:
        while queue:
            page = queue.pop(0)
            browser.open(page.as_uri())
            facts = browser.evaluate(_PAGE_FACTS)
            anchors[page] = set(facts["anchors"])
            found = _broken_images(root, page, facts["images"], counts)
            found += _page_problems(_relative(root, page), facts, browser.requests())
            for target, fragment in _local_links(root, page, facts["links"], found, counts):
                wanted += [(page, target, fragment)] if fragment else []
                if target.suffix == ".html" and target.is_relative_to(root) and target not in seen:
                    seen.add(target)
                    queue.append(target)
            if found and screenshots:
                saved.append(_relative(root, browser.screenshot(shots / (_relative(root, page).replace("/", "__")
                                                                         + ".png"))))
            problems += found
    problems += [Problem(_relative(root, page), "broken anchor", f"{_relative(root, target)}#{unquote(fragment)}")
                 for page, target, fragment in wanted
                 if target in anchors and not {fragment, unquote(fragment)} & anchors[target]]
    return BrowserCheck(sorted(_relative(root, page) for page in seen), counts["links"], counts["images"],
                        counts["external"], problems, saved)


def _broken_images(root: Path, page: Path, images: list[dict], counts: dict) -> list[Problem]:
    counts["images"] += len(images)
    return [Problem(_relative(root, page), "broken image", _shorten(root, image["src"]))
            for image in images if not image["ok"]]


def _page_problems(page: str, facts: dict, requests: list[str]) -> list[Problem]:
    """Requests for URLs that are not local, raw LaTeX in the visible text, and visible stderr outputs."""
    external = dict.fromkeys(url for url in requests if urlsplit(url).scheme not in LOCAL_SCHEMES)
    latex = dict.fromkeys(_shown(match.group(0)) for match in RAW_LATEX.finditer(facts["text"]))
    stderr = dict.fromkeys(_shown(line) for line in facts["stderr"])
    return ([Problem(page, "external request", url) for url in external]
            + [Problem(page, "raw LaTeX", formula) for formula in latex]
            + [Problem(page, "stderr output", line or "(empty)") for line in stderr])


def _shown(text: str) -> str:
    """``text`` on one line, cut to :data:`SHOWN_CHARACTERS`."""
    line = " ".join(text.split())
    return line if len(line) <= SHOWN_CHARACTERS else line[:SHOWN_CHARACTERS - 3] + "..."


def _local_links(root: Path, page: Path, links: list[str], found: list[Problem], counts: dict):
    """Yield (file, fragment) for each link to an existing local file; note the missing ones in ``found``."""
    for href in links:
        parts = urlsplit(href)
        if parts.scheme != "file":
            counts["external"] += parts.scheme in ("http", "https", "ftp", "mailto")
            continue
        counts["links"] += 1
        target = Path(url2pathname(parts.path))
        if not target.exists():
            found.append(Problem(_relative(root, page), "broken link", _relative(root, target)))
        else:
            yield target, parts.fragment  # browsers match the id as written, then percent-decoded


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _shorten(root: Path, src: str) -> str:
    if src.startswith("data:"):
        return src[:40] + "..."
    parts = urlsplit(src)
    return _relative(root, Path(url2pathname(parts.path))) if parts.scheme == "file" else src


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.browser [FOLDER]``: check a report folder; exit 0 when nothing is broken."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis.browser",
        description="Open index.html and every report it links in headless Chromium; fail on broken "
                    "links or images, requests for anything not local, raw LaTeX or stderr output cells "
                    "(screenshots in FOLDER/browser-check/).")
    parser.add_argument("folder", nargs="?", default="reports", help="report folder (default: reports)")
    parser.add_argument("--chromium", default=None, help="Chromium executable (default: chromium on PATH)")
    args = parser.parse_args(argv)
    try:
        check = check_reports(args.folder, executable=args.chromium)
    except (FileNotFoundError, BrowserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in check.problems:
        print(problem)
    print(check.summary())
    if check.screenshots:
        print("screenshots: " + ", ".join(check.screenshots))
    return 0 if check.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
