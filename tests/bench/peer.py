"""django-helpdesk 2.6.1 as the mailbox benchmark's peer, in a venv of its own.

``peer_python()`` makes (once) a venv with ``pip install django-helpdesk==2.6.1`` under
``$CSKH_BENCH_CACHE`` (default ``~/.cache/cskh-bench``) and returns its interpreter, or the
reason it could not. ``run_peer`` writes the benchmark's mails to a local directory queue and
times django-helpdesk's ``get_email`` local-directory loop on them (``peer_helpdesk.py``:
its own ``extract_email_metadata`` per mail, a mail it fails on counted instead of ending the
run) in a fresh process, stock SQLite or WAL: wall seconds, CPU seconds and peak RSS from the
kernel's accounting of that process (``wait4``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.mail_corpus import Mail

VERSION = "2.6.1"
SCRIPT = Path(__file__).with_name("peer_helpdesk.py")


@dataclass(frozen=True)
class PeerRun:
    mode: str
    seconds: float
    cpu: float
    peak_mib: float
    tickets: int
    followups: int
    failed: int
    left: int
    transcoded: int

    def line(self, count: int) -> str:
        return (f"[django-helpdesk {VERSION}, {self.mode}] {count / self.seconds:,.1f} mails/s "
                f"({self.seconds:.1f} s), peak {self.peak_mib:.0f} MiB (one process), CPU "
                f"{self.cpu * 1000 / count:.1f} ms per mail; {self.tickets:,} tickets, "
                f"{self.followups:,} follow-ups; {self.failed} mails it failed on, "
                f"{self.left} left in the directory")


def peer_python() -> Path | str:
    """The peer venv's interpreter, made on first use; a string says why there is none."""
    cache = Path(os.environ.get("CSKH_BENCH_CACHE") or Path.home() / ".cache" / "cskh-bench")
    venv = cache / f"helpdesk-{VERSION}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.exists():
        return python
    cache.mkdir(parents=True, exist_ok=True)
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              f"django-helpdesk=={VERSION}"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            return f"`{' '.join(step[-2:])}` failed: {(done.stderr or done.stdout)[-600:]}"
    stamp.touch()
    return python


def readable(raw: bytes) -> tuple[bytes, bool]:
    """``raw`` as django-helpdesk's local queue can open it. It reads each file as text in the
    locale's encoding (``open(m, "r")``) before its own ``force_str(errors="replace")``, so a
    mail that is not UTF-8 (windows-1258, raw ISO-2022-JP, 8bit Latin) raises
    UnicodeDecodeError and stops the whole queue: such a mail is handed over the way its
    ``errors="replace"`` means to read it."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace").encode("utf-8"), True
    return raw, False


def run_peer(python: Path, mails: list[Mail], mode: str) -> PeerRun:
    """``mails`` into a fresh django-helpdesk (``mode``: ``stock`` or ``wal``), timed."""
    with tempfile.TemporaryDirectory(prefix=f"cskh-bench-helpdesk-{mode}-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYTHONUTF8": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run([str(python), str(SCRIPT), "setup", str(work), mode], env=env,
                       check=True, timeout=600)
        transcoded = 0
        for i, mail in enumerate(mails):
            raw, changed = readable(mail.raw)
            transcoded += changed
            (work / "mail" / f"{i:07d}.eml").write_bytes(raw)
        out = work / "ingest.json"
        with out.open("wb") as sink:
            began = time.perf_counter()
            proc = subprocess.Popen([str(python), str(SCRIPT), "ingest", str(work), mode],
                                    env=env, stdout=sink)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"django-helpdesk get_email exited {proc.returncode}")
        counts = json.loads(out.read_text())
        return PeerRun(mode, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                       counts["tickets"], counts["followups"], counts["failed"],
                       counts["left_in_directory"],
                       transcoded)
