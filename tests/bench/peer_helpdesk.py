"""The peer for ``python -m tests.bench email``: django-helpdesk's ``get_email`` on a local
directory queue. Run by the interpreter of the venv the bench makes (Django and
django-helpdesk only; nothing of cskh-inbox is importable there).

    python peer_helpdesk.py setup WORKDIR stock|wal    # migrate, one queue on WORKDIR/mail
    python peer_helpdesk.py ingest WORKDIR stock|wal   # get_email's loop; prints JSON counts

``stock`` is Django's SQLite as it comes (rollback journal); ``wal`` adds
``PRAGMA journal_mode=WAL`` (Django's ``init_command``). Mail notifications are rendered by
django-helpdesk as usual and dropped by Django's dummy e-mail backend (nothing leaves the
machine).
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

URLS = """from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
"""


def configure(work: Path, mode: str) -> None:
    (work / "peer_urls.py").write_text(URLS)
    sys.path.insert(0, str(work))
    options = {"init_command": "PRAGMA journal_mode=WAL;"} if mode == "wal" else {}
    conf: Any = importlib.import_module("django.conf")
    conf.settings.configure(
        DEBUG=False, SECRET_KEY="bench-only", USE_TZ=True, TIME_ZONE="Asia/Ho_Chi_Minh",
        SITE_ID=1, ROOT_URLCONF="peer_urls", ALLOWED_HOSTS=["*"],
        DEFAULT_FROM_EMAIL="helpdesk@congty.vn", SERVER_EMAIL="helpdesk@congty.vn",
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        MEDIA_ROOT=str(work / "media"), STATIC_URL="/static/",
        INSTALLED_APPS=[
            "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
            "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
            "django.contrib.sites", "django.contrib.humanize", "rest_framework", "helpdesk"],
        MIDDLEWARE=[],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "APP_DIRS": True, "OPTIONS": {"context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages"]}}],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                               "NAME": str(work / "helpdesk.sqlite3"), "OPTIONS": options}},
        HELPDESK_TEAMS_MODE_ENABLED=False, LOGGING_CONFIG=None)
    importlib.import_module("django").setup()


def setup(work: Path) -> None:
    management: Any = importlib.import_module("django.core.management")
    management.call_command("migrate", verbosity=0, interactive=False)
    models: Any = importlib.import_module("helpdesk.models")
    (work / "mail").mkdir(exist_ok=True)
    models.Queue.objects.create(
        title="CSKH", slug="cskh", email_address="cskh@congty.vn",
        allow_email_submission=True, email_box_type="local",
        email_box_local_dir=str(work / "mail"), email_box_interval=0, logging_type="none")


def ingest(work: Path) -> dict[str, int]:
    """``get_email``'s local-directory loop (``helpdesk.email.process_queue``) over every file,
    calling its own ``extract_email_metadata`` per mail as it does, except that a mail it fails
    on (an unknown charset such as ``x-unknown-vn``) is counted and left in the directory
    instead of ending the queue's whole run."""
    email: Any = importlib.import_module("helpdesk.email")
    models: Any = importlib.import_module("helpdesk.models")
    encoding: Any = importlib.import_module("django.utils.encoding")
    logger = logging.getLogger("django.helpdesk.queue.cskh")
    logger.handlers, logger.propagate = [], False  # the queue's logging_type "none"
    queue = models.Queue.objects.get(slug="cskh")
    ignored = (email.IgnoreTicketException, email.DeleteIgnoredTicketException)
    failed = 0
    for path in sorted((work / "mail").iterdir()):
        with path.open() as f:
            full_message = encoding.force_str(f.read(), errors="replace")
        try:
            ticket = email.extract_email_metadata(message=full_message, queue=queue,
                                                  logger=logger)
        except ignored:
            continue
        except Exception:
            failed += 1
            continue
        if ticket:
            path.unlink()
    return {"tickets": models.Ticket.objects.count(),
            "followups": models.FollowUp.objects.count(), "failed": failed,
            "left_in_directory": sum(1 for _ in (work / "mail").iterdir())}


def main(argv: list[str]) -> int:
    step, work, mode = argv[0], Path(argv[1]), argv[2]
    configure(work, mode)
    if step == "setup":
        setup(work)
    else:
        print(json.dumps(ingest(work)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
