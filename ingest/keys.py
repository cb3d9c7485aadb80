"""Typed application state shared by the web app, its lifecycles and its handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.bus.base import Bus
from ingest.settings import Settings
from storage.db import SessionFactory

SETTINGS = web.AppKey("settings", Settings)
ROLES: web.AppKey[tuple[str, ...]] = web.AppKey("roles")
Clock = Callable[[], datetime]
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", SessionFactory)
BUS = web.AppKey("bus", Bus)


@dataclass(frozen=True)
class ModelState:
    """How the normalizer got its classifier: ``loaded`` or ``trained``, from where, how long."""

    path: str
    how: str
    seconds: float


MODEL_STATE = web.AppKey("model_state", ModelState)
