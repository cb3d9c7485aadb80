"""A deterministic corpus of realistic Vietnamese B2B mail, for crash tests and benchmarks.

``corpus(n)`` returns ``n`` mails, each with a Message-ID unique to the run, in an order a
mailbox could hold them: every reply comes after the first message of its thread. Half the
new threads are written here (formal letters in utf-8, 8bit / quoted-printable / base64, some
with an HTML part, some with a scanned PDF attached); the other half reuse the bodies of the
fixture corpus (``tests/fixtures/email``: windows-1258, mislabelled charsets, broken MIME,
forwards…) under new headers. Replies quote their parent Gmail- or Outlook-style or reuse a
reply fixture; a few are out-of-office answers, which must be recorded on their thread's
ticket and never open one.

Each ``Mail`` says what the service must make of it: its Message-ID, the thread root that
names its ticket, and whether a machine wrote it.
"""

from __future__ import annotations

import email.policy
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
# Dovecot refuses NUL bytes in a plain APPEND; this is unreadable as mail all the same.
GARBAGE = b"\x89PNG\r\n\x1a garbage \xff\xfe\xfd that is no mail at all\r\n" * 20

SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
            "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
MIDDLE = ("Văn", "Thị", "Hữu", "Minh", "Thanh", "Ngọc", "Đức", "Thu", "Quốc", "Hoài")
GIVEN = ("An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hạnh", "Hiếu", "Hoa", "Hùng", "Khánh",
         "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm", "Thảo",
         "Trang", "Tuấn", "Việt", "Yến")
COMPANIES = ("Thép Việt", "Minh Phát", "Hưng Thịnh", "Sao Mai", "Phú Gia", "Đại Tín",
             "An Khang", "Tân Hòa", "Kim Long", "Hòa Bình", "Nam Sơn", "Bảo Tín", "Việt Úc",
             "Thành Công", "Đông Á", "Gia Phát", "Hoàng Long", "Trường Hải", "Sông Hồng",
             "Phương Nam")
TITLES = ("Kế toán trưởng", "Trưởng phòng mua hàng", "Nhân viên kho", "Giám đốc",
          "Phó phòng kỹ thuật", "Nhân viên kinh doanh")
SUBJECTS = (
    "Hóa đơn VAT số {n} ghi sai mã số thuế",
    "Đề nghị đối chiếu công nợ quý {q}/2026",
    "Đơn hàng PO-2026-{n} giao thiếu {k} thùng",
    "Giao hàng chậm đơn {n}",
    "Xin báo giá {k} tấn thép cuộn",
    "Chương trình khuyến mãi tháng {q}",
    "Chiết khấu thương mại năm 2026",
    "Bảo hành máy nén khí serial {n}",
    "Yêu cầu bảo trì định kỳ thiết bị",
    "Bổ sung phiếu xuất kho và biên bản giao nhận đơn {n}",
    "Gia hạn thanh toán hóa đơn {n}",
    "Hướng dẫn cài đặt phần mềm quản lý kho",
)
BODIES = (
    "Công ty chúng tôi đã nhận được hóa đơn GTGT số {n} ngày {d}. Tuy nhiên hóa đơn ghi sai "
    "mã số thuế của bên mua ({tax}) và sai địa chỉ xuất hóa đơn. Đề nghị Quý Công ty kiểm tra, "
    "lập biên bản điều chỉnh và xuất lại hóa đơn điện tử thay thế trong tuần này để chúng tôi "
    "kịp kê khai thuế tháng {q}.",
    "Theo sổ sách của chúng tôi, công nợ đến hết ngày {d} là {money} đồng, chênh lệch so với "
    "biên bản đối chiếu Quý Công ty gửi. Đề nghị hai bên đối chiếu lại từng hóa đơn và khoản "
    "chiết khấu đã cấn trừ, gửi lại biên bản có ký xác nhận.",
    "Lô hàng theo đơn PO-2026-{n} giao ngày {d} thiếu {k} thùng so với phiếu xuất kho, kho "
    "chúng tôi đã lập biên bản có chữ ký của tài xế. Đề nghị Quý Công ty giao bù số lượng còn "
    "thiếu hoặc điều chỉnh hóa đơn tương ứng.",
    "Đơn hàng số {n} hẹn giao ngày {d} đến nay vẫn chưa nhận được, công trình đang phải tạm "
    "dừng. Đề nghị kiểm tra tình trạng vận chuyển và báo lại thời gian giao cụ thể trong hôm "
    "nay. Nếu tiếp tục chậm chúng tôi buộc phải hủy đơn.",
    "Chúng tôi có nhu cầu mua {k} tấn thép cuộn cán nóng và 200 bao xi măng PCB40 giao tại "
    "kho Bình Dương. Kính đề nghị Quý Công ty gửi báo giá tốt nhất kèm điều kiện thanh toán và "
    "thời gian giao hàng.",
    "Nhân viên kinh doanh có thông báo chương trình khuyến mãi tháng {q}: mua 100 thùng tặng "
    "5 thùng. Đơn hàng {n} của chúng tôi đủ điều kiện nhưng hóa đơn chưa thể hiện hàng tặng. "
    "Đề nghị kiểm tra và áp dụng.",
    "Theo hợp đồng nguyên tắc, chúng tôi được hưởng chiết khấu 3% khi doanh số quý đạt trên "
    "{money} đồng. Quý {q} doanh số đã đạt nhưng chưa thấy khoản chiết khấu được cấn trừ vào "
    "công nợ. Đề nghị xem xét.",
    "Máy nén khí mua ngày {d} (serial {n}) bị rò dầu và kêu to sau 3 tháng sử dụng. Máy vẫn "
    "còn trong thời hạn bảo hành 12 tháng. Đề nghị cử kỹ thuật viên xuống kiểm tra và sửa chữa "
    "sớm, nhà máy đang cần máy chạy ca đêm.",
    "Theo hợp đồng bảo trì, thiết bị tại xưởng số 2 cần bảo trì định kỳ vào tháng {q}. Đề "
    "nghị Quý Công ty sắp xếp kỹ thuật viên và báo lịch trước 3 ngày làm việc.",
    "Để hoàn tất hồ sơ thanh toán đơn hàng {n}, phòng kế toán cần bản gốc phiếu xuất kho, "
    "biên bản bàn giao và hóa đơn có chữ ký số. Đề nghị Quý Công ty gửi bổ sung chứng từ qua "
    "đường bưu điện.",
    "Do dòng tiền cuối năm khó khăn, chúng tôi đề nghị gia hạn thanh toán hóa đơn số {n} "
    "({money} đồng) thêm 15 ngày, đến ngày {d}. Chúng tôi cam kết chuyển khoản đúng hạn mới.",
    "Nhân viên kho chưa biết cách cài đặt phần mềm quản lý kho trên máy tính mới. Đề nghị "
    "hướng dẫn các bước cài đặt và cấu hình kết nối máy in mã vạch.",
)
REPLIES = (
    "Dạ em cảm ơn anh chị đã phản hồi. Bên em bổ sung thêm: {extra} Mong anh chị xử lý sớm.",
    "Đến hôm nay ({d}) bên em vẫn chưa nhận được phản hồi. Đề nghị xử lý gấp. {extra}",
    "Em gửi lại thông tin theo yêu cầu: {extra} Anh chị kiểm tra giúp em.",
    "Cảm ơn Quý Công ty. Chúng tôi đã nhận được, tuy nhiên {extra}",
)
EXTRAS = ("số lượng thực nhận là 95 thùng.", "mã số thuế đúng là {tax}.",
          "hóa đơn điều chỉnh vẫn ghi sai địa chỉ.", "xe giao hàng đến trễ 2 ngày.",
          "kỹ thuật viên hẹn nhưng chưa đến.", "số tiền chênh lệch là {money} đồng.")


@dataclass(frozen=True, slots=True)
class Mail:
    """One mail of the corpus and what the service must make of it."""

    raw: bytes
    message_id: str
    thread_root: str
    machine: bool = False  # an auto-reply: kept on its thread's ticket, never a new one
    # A new conversation by the sender of the earlier one named here, with its subject, that
    # does not present itself as a reply: a ticket of its own, never merged by subject.
    repeats: str | None = None


@dataclass
class _Thread:
    root: str
    last: str
    subject: str
    text: str
    sender: tuple[str, str, str] | None = None


def _fixtures() -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(bodies for new threads, bodies for replies, out-of-office answers) from the corpus."""
    expected: dict[str, dict[str, object]] = json.loads(
        (FIXTURES / "expected.json").read_text(encoding="utf-8"))
    roots, replies, auto = [], [], []
    for name, want in sorted(expected.items()):
        flags = want.get("flags") or {}
        raw = (FIXTURES / name).read_bytes()
        if name.startswith("auto__"):
            auto.append(raw)
        elif want.get("none") or (isinstance(flags, dict) and any(flags.values())):
            continue
        elif name.startswith(("reply__", "thread__", "html_only__gmail_quote")):
            replies.append(raw)
        else:
            roots.append(raw)
    return roots, replies, auto


def with_headers(raw: bytes, headers: dict[str, str | None]) -> bytes:
    """``raw`` with every field named in ``headers`` replaced by its value (``None``: removed)."""
    at = raw.find(b"\r\n\r\n")
    head, body = (raw[:at], raw[at + 4:]) if at >= 0 else (raw.rstrip(b"\r\n"), b"")
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    drop = {name.lower().encode() for name in headers}
    kept = [f for f in fields if f.split(b":", 1)[0].strip().lower() not in drop]
    added = [f"{name}: {value}".encode() for name, value in headers.items() if value is not None]
    return b"\r\n".join([*added, *kept]) + b"\r\n\r\n" + body


def _encoded(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode(linesep="\r\n")


class _Writer:
    def __init__(self, rng: random.Random, run: str) -> None:
        self.rng = rng
        self.run = run
        self.roots, self.replies, self.auto = _fixtures()
        self.start = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)

    def person(self) -> tuple[str, str, str]:
        """(display name, address, company) of a customer's employee."""
        r = self.rng
        company = r.choice(COMPANIES)
        domain = "".join(c for c in company.lower() if c.isascii() and c.isalnum()) or "cty"
        name = f"{r.choice(SURNAMES)} {r.choice(MIDDLE)} {r.choice(GIVEN)}"
        return name, f"kh{r.randrange(400)}@{domain}{r.randrange(30)}.vn", company

    def fill(self, template: str) -> str:
        r = self.rng
        return template.format(
            n=r.randrange(1000, 99999), q=r.randrange(1, 5), k=r.randrange(2, 60),
            d=f"{r.randrange(1, 29):02d}/{r.randrange(1, 13):02d}/2026",
            tax=f"03{r.randrange(10**7, 10**8)}", money=f"{r.randrange(10, 900) * 1_000_000:,}",
            extra=self.fill(r.choice(EXTRAS)) if "{extra}" in template else "")

    def headers(self, i: int, mid: str, sender: tuple[str, str, str], subject: str | None,
                parent: _Thread | None, *, encode: bool) -> dict[str, str | None]:
        """New header fields; ``encode``: RFC 2047 words (for raw bytes), else Unicode."""
        when = self.start + timedelta(minutes=7 * i)
        out: dict[str, str | None] = {
            "Message-ID": f"<{mid}>", "Date": format_datetime(when),
            "From": formataddr(sender[:2], charset="utf-8") if encode else formataddr(sender[:2])}
        if subject is not None:
            out["Subject"] = _encoded(subject) if encode else subject
        if parent is not None:
            out["In-Reply-To"] = f"<{parent.last}>"
            refs = [parent.root] if parent.last == parent.root else [parent.root, parent.last]
            out["References"] = " ".join(f"<{r}>" for r in refs)
        else:
            out["In-Reply-To"] = out["References"] = None
        return out

    def written(self, i: int, mid: str, text: str, subject: str, parent: _Thread | None,
                attach: bool, sender: tuple[str, str, str] | None = None) -> tuple[
                    bytes, tuple[str, str, str]]:
        r = self.rng
        drawn = self.person()
        name, _, company = sender = sender or drawn
        signature = (f"\n\nTrân trọng,\n{name}\n{r.choice(TITLES)}\nCông ty TNHH {company}\n"
                     f"MST: 03{r.randrange(10**7, 10**8)} - ĐT: 09{r.randrange(10**7, 10**8)}")
        body = f"Kính gửi Phòng Chăm sóc Khách hàng,\n\n{text}{signature}\n"
        if parent is not None:
            quoted = "\n".join(f"> {line}" for line in parent.text.splitlines())
            body = (f"{text}{signature}\n\nVào {self.fill('{d}')}, CSKH <cskh@congty.vn> "
                    f"đã viết:\n{quoted}\n" if r.random() < 0.5 else
                    f"{text}{signature}\n\n-----Original Message-----\nFrom: CSKH\n"
                    f"Subject: {parent.subject}\n\n{parent.text}\n")
        msg = EmailMessage()
        for key, value in self.headers(i, mid, sender, subject, parent, encode=False).items():
            if value is not None:
                msg[key] = value
        msg["To"] = "CSKH <cskh@congty.vn>"
        msg.set_content(body, charset="utf-8",
                        cte=r.choice(("8bit", "quoted-printable", "base64")))
        if r.random() < 0.3:
            paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
            msg.add_alternative(f"<html><body>{paragraphs}</body></html>", subtype="html")
        if attach:
            size = r.randrange(20_000, 200_000)
            msg.add_attachment(r.randbytes(size), maintype="application", subtype="pdf",
                               filename=f"Hóa đơn {r.randrange(1000, 9999)}.pdf")
        return msg.as_bytes(policy=email.policy.SMTP), sender

    def reused(self, i: int, mid: str, raw: bytes, parent: _Thread | None,
               subject: str | None, sender: tuple[str, str, str] | None = None) -> tuple[
                   bytes, tuple[str, str, str]]:
        drawn = self.person()
        sender = sender or drawn
        return with_headers(raw, self.headers(i, mid, sender, subject, parent, encode=True)), \
            sender


def corpus(count: int, *, run: str = "c", seed: int = 7, reply_share: float = 0.3,
           auto_share: float = 0.02, attachment_share: float = 0.1,
           repeat_share: float = 0.05) -> list[Mail]:
    """``count`` distinct mails (Message-IDs ``<run>.<i>@…``), replies after their roots.

    ``repeat_share`` of the new conversations are written by the sender of an earlier one,
    under its very subject, without any reply prefix or header (a monthly "Hóa đơn tháng 10"):
    drawn from a generator of their own, so the rest of the corpus is the same with or
    without them."""
    rng = random.Random(seed)
    repeats = random.Random(seed + 1)
    w = _Writer(rng, run)
    threads: list[_Thread] = []
    mails: list[Mail] = []
    for i in range(count):
        mid = f"{run}.{i}@mail{i % 13}.vn"
        draw = rng.random()
        parent = rng.choice(threads[-200:]) if threads and draw < reply_share else None
        if parent is not None and draw < auto_share:
            raw, _ = w.reused(i, mid, rng.choice(w.auto), parent, None)
            mails.append(Mail(raw, mid, parent.root, machine=True))
            continue
        if parent is not None:
            subject = f"Re: {parent.subject}"
            if rng.random() < 0.5:
                raw, _ = w.reused(i, mid, rng.choice(w.replies), parent, subject)
            else:
                raw, _ = w.written(i, mid, w.fill(rng.choice(REPLIES)), subject, parent, False)
            parent.last = mid
            mails.append(Mail(raw, mid, parent.root))
            continue
        pick = rng.randrange(len(SUBJECTS))
        subject = w.fill(SUBJECTS[pick])
        text = w.fill(BODIES[pick])
        known = [t for t in threads[-200:] if t.sender is not None]  # their subject is theirs
        earlier = (repeats.choice(known) if known and repeats.random() < repeat_share
                   else None)
        sender = earlier.sender if earlier is not None else None
        if earlier is not None:
            subject = earlier.subject
        if rng.random() < 0.5:
            raw, sender = w.written(i, mid, text, subject, None,
                                    rng.random() < attachment_share * 2, sender)
        else:  # keep the fixture's own subject now and then (RFC 2047, windows-1258…)
            keep = rng.random() < 0.7 or earlier is not None
            raw, sender = w.reused(i, mid, rng.choice(w.roots), None,
                                   subject if keep else None, sender)
            text = subject
            sender = sender if keep else None
        threads.append(_Thread(mid, mid, subject, text, sender))
        mails.append(Mail(raw, mid, mid, repeats=earlier.root if earlier is not None else None))
    return mails
