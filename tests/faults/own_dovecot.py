"""A Dovecot of the fault suite's own, so it can be restarted.

The shared test server (``tests/services/services.sh``, ``write_dovecot_config``) is never
touched. This one is Debian's ``dovecot`` binary with a config generated the same way into a
folder of its own: plain IMAP on a free port of 127.0.0.1, one passwd-file user, Maildir.
Root runs the master and the mail belongs to the package's ``dovecot`` user (Dovecot never
touches mail as root); anyone else runs it all as themselves. ``restart`` is what an
operator's ``systemctl restart dovecot`` does: the master stopped (SIGTERM: every session
closed) and started again on the same mail.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from imapclient import IMAPClient

from tests.support.service import free_port

USER, PASSWORD = "cskh", "cskh-faults"


def binary() -> str | None:
    """Debian's ``dovecot`` (package ``dovecot-imapd``), or ``None``."""
    found = shutil.which("dovecot") or "/usr/sbin/dovecot"
    return found if Path(found).is_file() and Path("/usr/lib/dovecot/imap").is_file() else None


class OwnDovecot:
    """One throwaway Dovecot; ``append`` puts mail into its user's INBOX."""

    def __init__(self) -> None:
        bin_path = binary()
        if bin_path is None:
            raise RuntimeError("no dovecot binary (Debian's dovecot-imapd)")
        self.bin = bin_path
        # not under the suite's work folder: that one is root's (0700) and the mail is
        # dovecot's
        self.dir = Path(tempfile.mkdtemp(prefix="cskh-faults-dovecot-"))
        self.dir.chmod(0o755)
        self.conf = self.dir / "dovecot.conf"
        self.host, self.port = "127.0.0.1", free_port()
        self.user, self.password = USER, PASSWORD
        self.restarts = 0
        self._client: IMAPClient | None = None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        if os.geteuid() == 0:
            mail_user, internal, login = "dovecot", "dovecot", "dovenull"
        else:
            mail_user = internal = login = pwd.getpwuid(os.geteuid()).pw_name
        entry = pwd.getpwnam(mail_user)
        uid, gid = entry.pw_uid, entry.pw_gid
        run, mail, state = self.dir / "run", self.dir / "mail", self.dir / "state"
        for folder in (run, mail, state):
            folder.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(mail, uid, gid)
        passwd = self.dir / "passwd"
        passwd.write_text(f"{self.user}:{{PLAIN}}{self.password}:{uid}:{gid}::"
                          f"{mail / self.user}::\n")
        passwd.chmod(0o644)
        self.conf.write_text(f"""\
# Written by tests/faults/own_dovecot.py: the fault suite's own Dovecot, plain IMAP on loopback.
instance_name = cskh-faults-{self.port}
base_dir = {run}
state_dir = {state}
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {self.dir / "dovecot.log"}
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = 0
mail_location = maildir:{mail}/%u
mail_uid = {uid}
mail_gid = {gid}
mailbox_list_index = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
""")

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def start(self, timeout: float = 60.0) -> float:
        """Start the master (in the foreground, a process group of its own) and wait until it
        greets; the seconds it took."""
        began = time.monotonic()
        with (self.dir / "start.out").open("ab") as sink:
            self._proc = subprocess.Popen([self.bin, "-F", "-c", str(self.conf)],
                                          stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                                          start_new_session=True)
        while not self._answers():
            if self._proc.poll() is not None:
                tail = (self.dir / "start.out").read_text()[-2000:]
                raise RuntimeError(f"dovecot exited {self._proc.returncode}: {tail}")
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"dovecot does not answer on {self.host}:{self.port}")
            time.sleep(0.05)
        return time.monotonic() - began

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the master and every process it started (its process group, as
        systemd's control group would be), then SIGKILL to whatever is left."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
        # the sessions (imap processes) outlive a master that was told to stop
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def restart(self) -> float:
        """Stop and start on the same mail; the seconds until it greets again."""
        began = time.monotonic()
        self.stop()
        self.start()
        self.restarts += 1
        return time.monotonic() - began

    def append(self, raw: bytes) -> None:
        """APPEND ``raw`` to the INBOX over one kept connection (opened again after a
        failure); raises ``OSError`` or an IMAP error when the server is not there."""
        with self._lock:
            try:
                if self._client is None:
                    client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
                    client.login(self.user, self.password)
                    self._client = client
                self._client.append("INBOX", raw)
            except Exception:
                client, self._client = self._client, None
                if client is not None:
                    with contextlib.suppress(Exception):  # already broken
                        client.shutdown()
                raise

    def remove(self) -> None:
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):  # the server may be gone already
                    self._client.logout()
                self._client = None
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
