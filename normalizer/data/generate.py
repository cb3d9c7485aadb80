"""Build ``train.jsonl`` and ``test.jsonl`` from the hand-written sources in ``src/``.

Run ``python -m normalizer.data.generate`` to rewrite both files, or add ``--check`` to
only verify that the shipped files are what the sources produce. The output is fully
determined by the sources: the same sources always give byte-identical files.

Sources (all hand-written, UTF-8):

- ``src/<category>.txt``: one core message per line, ``[@channel] [[context]] <priority>
  <sentiment> text``, under a ``[train]`` or ``[test]`` header. ``[context]`` gives the
  message's context as written, comma-separated: ``tier=key``, ``repeat=2``,
  ``missed_call``; its labels are taken as written too. Priority codes are ``u h n l``
  (urgent, high, normal, low), sentiment codes ``- 0 +``. A line with an ``@channel`` is
  written in that channel's voice and kept as written; a line without one is dressed for a
  channel drawn at random (e-mail salutation, web form fields, chat opener, call note).
- ``src/wrappers.txt``: those openers and closings, per split and channel family.
- ``src/pools.txt``: values for ``{product}``, ``{order}``, ``{amount}``… per split.
- ``src/tails.txt``: sentences that raise priority or make the tone negative, with the
  label change each kind implies (see the comment at its top).

Train and test draw on disjoint core lines, wrappers, pools and tails, so the test split
measures generalisation rather than memorised templates. Labels follow the guideline in
``README.md`` next to this file (priority: urgent, high, normal, low; the context rules).

Each train core yields two lines (as written or dressed, and a variant that may lose its
diacritics, switch to chat abbreviations, gain emoji or a tail), and about half of the
cores without a written context a third line in a drawn context (a key, standard or small
account, or a repeated contact) with the labels the guideline gives that context; each
test core yields one line, a fifth of them in a drawn context.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from normalizer.classifier.labels import CATEGORIES, CHANNELS
from normalizer.classifier.signals import NO_CONTEXT, MessageContext

DATA_DIR = Path(__file__).resolve().parent
SRC_DIR = DATA_DIR / "src"
SPLITS = ("train", "test")
SEED = 20240613

_PRIORITY_CODES = {"u": "urgent", "h": "high", "n": "normal", "l": "low"}
_SENTIMENT_CODES = {"-": "negative", "0": "neutral", "+": "positive"}
_PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
_CORE_LINE = re.compile(r"^(?:@(\w+)\s+)?(?:\[([\w=,]+)\]\s+)?([uhnl])\s+([-0+])\s+(.+)$")

_CHAT = ("zalo", "facebook")
_MARKET = ("shopee", "lazada", "tiktok")
# Marketplace buyers do not write about receivables, paperwork or maintenance contracts.
_MARKET_CATEGORIES = frozenset({"quality", "price", "promotion", "discount", "quantity",
                                "delivery", "invoice", "payment_due", "warranty", "usage",
                                "other"})
# Problems that can stop a customer's operations (where an "urgent" tail is plausible).
_CAN_STOP_WORK = frozenset({"quality", "quantity", "delivery", "documents", "warranty",
                            "maintenance"})
_CHANNEL_WEIGHTS = {"email": 5, "webform": 2, "zalo": 5, "facebook": 3, "hotline": 2,
                    "shopee": 1, "lazada": 1, "tiktok": 1}

# Chat spellings a customer may use instead of the full word (see normalizer.text).
_TEENCODE: dict[str, tuple[str, ...]] = {
    "không": ("ko", "k", "hok", "hông", "kg"), "được": ("dc", "đc", "đk"),
    "hóa đơn": ("hđ", "hd"), "sản phẩm": ("sp",), "chiết khấu": ("ck",),
    "chuyển khoản": ("ck",), "số điện thoại": ("sđt", "sdt"), "số tài khoản": ("stk",),
    "bảo hành": ("bh",), "khách hàng": ("kh",), "công ty": ("cty",), "với": ("vs",),
    "gì": ("j",), "rồi": ("r",), "thanh toán": ("tt",), "anh": ("a",), "em": ("e",),
    "bao nhiêu": ("bn", "bnhieu"), "vậy": ("v", "z"), "biết": ("bít",), "cũng": ("cx",),
    "mình": ("mk", "mik"), "hôm nay": ("hnay",), "trước": ("trc",), "quá": ("wá",),
    "kỹ thuật viên": ("ktv",), "hướng dẫn sử dụng": ("hdsd",), "phiếu xuất kho": ("pxk",),
    "chương trình khuyến mãi": ("ctkm",), "khuyến mãi": ("km",), "số lượng": ("sl",),
}
_TEENCODE_RE = re.compile(
    r"(?<!\w)(" + "|".join(sorted(map(re.escape, _TEENCODE), key=len, reverse=True)) + r")(?!\w)",
    re.IGNORECASE,
)
_EMOJI = {"negative": ("😡", "😤", "😭", "🙁", "😒", ":((", "😩"),
          "neutral": ("🙏", "🤔", "🙂"),
          "positive": ("😊", "👍", "❤️", "🥰", "^^", "💯")}


@dataclass(frozen=True)
class Core:
    """One hand-written message with its labels."""

    category: str
    priority: str
    sentiment: str
    channel: str | None
    text: str
    context: MessageContext | None = None


@dataclass(frozen=True)
class Example:
    """One output line."""

    text: str
    channel: str
    category: str
    priority: str
    sentiment: str
    context: MessageContext = NO_CONTEXT

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "channel": self.channel, "category": self.category,
                           "priority": self.priority, "sentiment": self.sentiment,
                           **self.context.to_json()}, ensure_ascii=False)


def parse_context(spec: str) -> MessageContext:
    """``tier=key,repeat=2,missed_call`` as a context; ``ValueError`` if malformed."""
    tier: str | None = None
    repeat, missed = 0, False
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key == "tier" and value:
            tier = value
        elif key == "repeat" and value.isdigit():
            repeat = int(value)
        elif item == "missed_call":
            missed = True
        else:
            raise ValueError(f"bad context item {item!r}")
    return MessageContext(tier=tier, repeat=repeat, missed_call=missed)


def in_context(priority: str, context: MessageContext) -> str:
    """The priority the guideline gives a message labelled `priority` without context when
    it comes in `context`: a key account's or a repeated contact's *normal* message is
    *high*; a missed call is at least *high*; nothing else changes."""
    if context.missed_call:
        return max(priority, "high", key=_PRIORITY_RANK.__getitem__)
    if priority == "normal" and (context.tier == "key" or context.repeat >= 1):
        return "high"
    return priority


def read_sections(path: Path) -> dict[str, list[str]]:
    """Lines of `path` grouped under their ``[section]`` header; ``#`` comments, blank
    lines dropped, ``~`` read as an empty piece and ``\\n`` as a line break."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif current is None:
            raise ValueError(f"{path}:{number}: line outside a [section]")
        else:
            current.append("" if line == "~" else line.replace("\\n", "\n"))
    return sections


def read_cores(category: str) -> dict[str, list[Core]]:
    """The core lines of one category, per split."""
    path = SRC_DIR / f"{category}.txt"
    cores: dict[str, list[Core]] = {}
    for split, lines in read_sections(path).items():
        if split not in SPLITS:
            raise ValueError(f"{path}: unknown split [{split}]")
        for line in lines:
            m = _CORE_LINE.match(line)
            if m is None or (m.group(1) is not None and m.group(1) not in CHANNELS):
                raise ValueError(f"{path}: malformed line: {line!r}")
            try:
                context = parse_context(m.group(2)) if m.group(2) else None
            except ValueError as e:
                raise ValueError(f"{path}: {e}: {line!r}") from e
            cores.setdefault(split, []).append(Core(
                category, _PRIORITY_CODES[m.group(3)], _SENTIMENT_CODES[m.group(4)],
                m.group(1), m.group(5), context))
    return cores


def strip_marks(text: str) -> str:
    """`text` typed without diacritics (khong dau), case kept."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Renderer:
    """Turns core lines of one split into output lines, drawing from `rng`."""

    def __init__(self, split: str, rng: random.Random) -> None:
        self.split = split
        self.rng = rng
        self.wrappers = read_sections(SRC_DIR / "wrappers.txt")
        self.pools = read_sections(SRC_DIR / "pools.txt")
        self.tails = read_sections(SRC_DIR / "tails.txt")

    def pick(self, section: str) -> str:
        return self.rng.choice(self.wrappers.get(f"{self.split}:{section}", [""]))

    def fill(self, text: str) -> str:
        def value(m: re.Match[str]) -> str:
            key = m.group(1)
            if key == "digits":
                return str(self.rng.randrange(100000, 999999))
            if key == "qty2":
                return str(self.rng.randrange(5, 80))
            return self.rng.choice(self.pools[f"{self.split}:{key}"])
        return re.sub(r"\{(\w+)\}", value, text)

    def channel_for(self, core: Core, avoid: str | None = None) -> str:
        if core.channel is not None:
            return core.channel
        names = [c for c in CHANNELS if c != avoid and
                 (c not in _MARKET or core.category in _MARKET_CATEGORIES)]
        return self.rng.choices(names, weights=[_CHANNEL_WEIGHTS[c] for c in names])[0]

    def dress(self, text: str, channel: str) -> str:
        """Wrap an untagged core line the way `channel` would carry it."""
        if channel == "email":
            parts = [self.pick("email:open"), text, self.pick("email:close")]
            return "\n".join(p for p in parts if p)
        if channel == "webform":
            return f"{self.pick('webform:open')} {text}".strip()
        if channel == "hotline":
            return f"{self.pick('hotline:note')} {text}"
        family = "chat" if channel in _CHAT else "market"
        body = text.rstrip(".")
        if self.rng.random() < 0.6:
            body = body[:1].lower() + body[1:]
        opener = self.pick(f"{family}:open")
        if opener and not opener.endswith(",") and self.rng.random() < 0.5:
            opener += ","
        return " ".join(p for p in (opener, body, self.pick(f"{family}:close")) if p)

    def teencode(self, text: str) -> str:
        def swap(m: re.Match[str]) -> str:
            if self.rng.random() < 0.3:
                return m.group(0)
            return self.rng.choice(_TEENCODE[m.group(0).lower()])
        return _TEENCODE_RE.sub(swap, text)

    def tail_kind(self, core: Core) -> str | None:
        """Which tail, if any, fits `core`: none on thanks or idle questions; a
        stopped-operations tail only where a problem can stop operations; frustration
        only where the customer is already unhappy."""
        if core.sentiment == "positive" or core.priority == "low" or core.category == "other":
            return None
        roll = self.rng.random()
        if roll < 0.07 and core.category in _CAN_STOP_WORK:
            return "urgent"
        if roll < 0.14:
            return "high"
        if roll < 0.2:
            return "chase"
        if roll < 0.3 and core.sentiment == "negative":
            return "negative"
        return None

    def add_tail(self, ex: Example, kind: str) -> Example:
        """`ex` with a tail sentence of `kind` put before any closing formula, and the
        labels that sentence implies."""
        tail = self.rng.choice(self.tails[f"{self.split}:{kind}"])
        body, sep, closing = ex.text.partition(" Trân trọng")
        text = f"{body.rstrip()} {tail}{sep}{closing}"
        if kind == "urgent":
            return replace(ex, text=text, priority="urgent", sentiment="negative")
        if kind in ("high", "chase"):
            priority = max(ex.priority, "high", key=_PRIORITY_RANK.__getitem__)
            sentiment = "negative" if kind == "chase" else ex.sentiment
            return replace(ex, text=text, priority=priority, sentiment=sentiment)
        priority = max(ex.priority, "normal", key=_PRIORITY_RANK.__getitem__)
        return replace(ex, text=text, priority=priority, sentiment="negative")

    def drawn_context(self, core: Core) -> MessageContext | None:
        """A context for another line of `core`, or ``None`` (about half the time). Never on
        a core with a written context."""
        if core.context is not None or self.rng.random() < 0.5:
            return None
        roll = self.rng.random()
        if roll < 0.4:
            return MessageContext(tier="key")
        if roll < 0.7:
            return MessageContext(repeat=self.rng.choice((1, 1, 2, 3)),
                                  tier=self.rng.choice((None, "standard", "key")))
        return MessageContext(tier=self.rng.choice(("standard", "small")))

    def render_in(self, core: Core, context: MessageContext, channel: str, *,
                  no_marks: float) -> Example:
        """A line of `core` in `context`, labelled as the guideline says."""
        ex = self.render(core, channel, plain=False, no_marks=no_marks)
        return replace(ex, context=context, priority=in_context(ex.priority, context))

    def render(self, core: Core, channel: str, *, plain: bool, no_marks: float) -> Example:
        """One output line for `core` on `channel`; `plain` keeps it close to the source."""
        ex = Example(core.text, channel, core.category, core.priority, core.sentiment,
                     core.context or NO_CONTEXT)
        chatty = channel in _CHAT or channel in _MARKET
        if not plain and (kind := self.tail_kind(core)) is not None:
            ex = self.add_tail(ex, kind)
        if core.channel is None:
            ex = replace(ex, text=self.dress(ex.text, channel))
        ex = replace(ex, text=self.fill(ex.text))
        if not plain:
            if chatty and self.rng.random() < 0.6:
                ex = replace(ex, text=self.teencode(ex.text))
            if chatty and self.rng.random() < 0.35:
                ex = replace(ex, text=f"{ex.text} {self.rng.choice(_EMOJI[ex.sentiment])}")
        if self.rng.random() < no_marks:
            ex = replace(ex, text=strip_marks(ex.text))
        return ex


def build(split: str) -> list[Example]:
    """All output lines of `split`, in category order then source order."""
    out: list[Example] = []
    seen: set[str] = set()
    for category in CATEGORIES:
        rng = random.Random(SEED + zlib.crc32(f"{split}:{category}".encode()))  # noqa: S311
        renderer = Renderer(split, rng)
        for core in read_cores(category).get(split, []):
            first = renderer.channel_for(core)
            if split == "train":
                wanted = [renderer.render(core, first, plain=True, no_marks=0.12),
                          renderer.render(core, renderer.channel_for(core, avoid=first),
                                          plain=False, no_marks=0.55)]
                context = renderer.drawn_context(core)
                if context is not None:
                    wanted.append(renderer.render_in(core, context, renderer.channel_for(core),
                                                     no_marks=0.4))
            else:
                wanted = [renderer.render(core, first, plain=False, no_marks=0.38)]
                context = renderer.drawn_context(core)
                if context is not None and renderer.rng.random() < 0.4:
                    wanted = [replace(wanted[0], context=context,
                                      priority=in_context(wanted[0].priority, context))]
            for ex in wanted:
                if ex.text not in seen:
                    seen.add(ex.text)
                    out.append(ex)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` verify) ``train.jsonl`` and ``test.jsonl``."""
    parser = argparse.ArgumentParser(prog="python -m normalizer.data.generate")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the shipped files differ from what the sources give")
    args = parser.parse_args(argv)
    stale = []
    for split in SPLITS:
        content = "".join(ex.to_json() + "\n" for ex in build(split))
        path = DATA_DIR / f"{split}.jsonl"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(path.name)
        else:
            path.write_text(content, encoding="utf-8")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
