"""What the care plan does on each occasion for each tier, and how often it calls or writes.

Values are in đồng; the defaults are the department's usual practice.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from storage.models_care import ACTIONS

TIERS = ("key", "standard", "small")


class Act(BaseModel):
    """One act of care: ``action`` (call, email, visit, gift), a gift and its planned value."""

    action: str
    gift: str | None = None
    value: int = 0

    @field_validator("action")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        return value


def _acts(key: Act, standard: Act, small: Act) -> dict[str, Act]:
    return {"key": key, "standard": standard, "small": small}


_EMAIL = Act(action="email")


def _default_occasions() -> dict[str, dict[str, Act]]:
    return {
        "tet": _acts(Act(action="gift", gift="Giỏ quà Tết", value=3_000_000),
                     Act(action="gift", gift="Giỏ quà Tết", value=1_500_000),
                     Act(action="gift", gift="Hộp quà Tết", value=500_000)),
        "founded": _acts(Act(action="gift", gift="Lẵng hoa kỷ niệm ngày thành lập",
                             value=2_000_000),
                         Act(action="gift", gift="Lẵng hoa kỷ niệm ngày thành lập",
                             value=1_000_000),
                         _EMAIL),
        "opened": _acts(Act(action="gift", gift="Hoa chúc mừng kỷ niệm khai trương",
                            value=1_000_000),
                        Act(action="call"), _EMAIL),
        "women_day": _acts(Act(action="gift", gift="Hoa 8/3", value=500_000), _EMAIL, _EMAIL),
        "vn_women_day": _acts(Act(action="gift", gift="Hoa 20/10", value=500_000), _EMAIL,
                              _EMAIL),
        "holiday": _acts(_EMAIL, _EMAIL, _EMAIL),
    }


class CarePolicy(BaseModel):
    """Per occasion (``tet``, ``founded``, ``opened``, ``women_day``, ``vn_women_day``, and
    ``holiday`` for every other public holiday) and tier, the act; per tier, a planned
    contact every so many months (0: none) and how (``contact_actions``)."""

    occasions: dict[str, dict[str, Act]] = Field(default_factory=_default_occasions)
    contact_months: dict[str, int] = Field(
        default_factory=lambda: {"key": 1, "standard": 3, "small": 6})
    contact_actions: dict[str, str] = Field(
        default_factory=lambda: {"key": "call", "standard": "call", "small": "email"})
    contact_day: int = Field(default=10, ge=1, le=28)

    def act(self, occasion: str, tier: str) -> Act | None:
        """The act for ``occasion`` (a holiday's own key falls back to ``holiday``)."""
        table = self.occasions.get(occasion)
        if table is None and occasion.startswith("holiday_"):
            table = self.occasions.get("holiday")
        return None if table is None else table.get(tier)
