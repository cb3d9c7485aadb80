"""The email parser over real mail shapes: one case per fixture, plus the cross-cutting rules."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.email.charsets import decode_text
from connectors.email.envelope import email_envelope
from connectors.email.parse import ParsedEmail, parse_email
from connectors.envelope import envelope_id

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (FIXTURES / "expected.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
MAILBOX = "cskh@congty.vn"


def parse(raw: bytes, **kwargs: Any) -> ParsedEmail | None:
    kwargs.setdefault("attachment_dir", None)
    kwargs.setdefault("max_attachment_bytes", 10 * 1024 * 1024)
    return parse_email(raw, mailbox=MAILBOX, received_at=NOW, **kwargs)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_there_are_enough_fixtures_and_each_has_an_expectation() -> None:
    files = {p.name for p in FIXTURES.glob("*.eml")}
    assert len(files) >= 40
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    want = EXPECTED[name]
    parsed = parse(fixture(name))
    if want.get("none"):
        assert parsed is None
        return
    assert parsed is not None
    if "subject" in want:
        assert parsed.subject == want["subject"]
    if "new_text" in want:
        assert want["new_text"] in parsed.new_text, parsed.new_text
        if not want["new_text"]:
            assert parsed.new_text == ""
    if "not_in_new_text" in want:
        assert want["not_in_new_text"] not in parsed.new_text, parsed.new_text
    if "quoted" in want:
        assert want["quoted"] in parsed.quoted_text, parsed.quoted_text
    if "signature" in want:
        assert want["signature"] in parsed.signature, parsed.signature
    if "thread_root" in want:
        assert parsed.thread_root == want["thread_root"]
    for key in ("from_name", "from_address", "message_id_generated", "date_from_header"):
        if key in want:
            assert getattr(parsed, key) == want[key], key
    flags = want.get("flags", {"auto_reply": False, "bulk": False, "bounce": False})
    assert (parsed.auto_reply, parsed.bulk, parsed.bounce) == (
        flags["auto_reply"], flags["bulk"], flags["bounce"])
    assert len(parsed.attachments) == want["attachments"]
    if "attachment_names" in want:
        assert [a.name for a in parsed.attachments] == want["attachment_names"]
    if "attachment_types" in want:
        assert [a.content_type for a in parsed.attachments] == want["attachment_types"]
    if "inline_images" in want:
        assert len(parsed.inline_images) == want["inline_images"]
    if "forwarded" in want:
        assert len(parsed.forwarded) == want["forwarded"]
    if "html" in want:
        assert bool(parsed.html) is want["html"]
    if "defect" in want:
        assert any(want["defect"] in d for d in parsed.defects), parsed.defects
    if "bounce_status" in want:
        assert parsed.bounce_report["status"] == want["bounce_status"]
        assert parsed.bounce_report["original_message_id"] == want["bounce_original"]
    for text in (parsed.subject or "", parsed.new_text, parsed.quoted_text, parsed.signature,
                 parsed.from_name or ""):
        assert unicodedata.is_normalized("NFC", text)
        assert "\r" not in text


def test_text_is_stored_composed_even_from_decomposed_or_windows_1258_input() -> None:
    for name in ("plain__nfd_text.eml", "reply__outlook_vi_cp1258.eml",
                 "header__cp1258_encoded_subject.eml"):
        parsed = parse(fixture(name))
        assert parsed is not None
        for text in (parsed.text, parsed.subject or ""):
            assert text == unicodedata.normalize("NFC", text)
            assert not any(unicodedata.combining(ch) for ch in text), (name, text)


def test_quoted_reply_and_signature_are_kept_apart_from_the_new_text() -> None:
    parsed = parse(fixture("reply__gmail_vi_utf8_base64.eml"))
    assert parsed is not None
    assert parsed.new_text == ("Chào chị Lan,\n\nĐơn hàng PO-2025-118 giao ngày 01/11 bị thiếu "
                               "2 thùng sơn. Nhờ chị kiểm tra giúp em.")
    assert parsed.signature.startswith("Trân trọng,\nNguyễn Văn An")
    assert parsed.quoted_text.startswith("Vào Th 6, 31 thg 10, 2025")
    assert parsed.quoted_text.endswith("> Dạ em chào anh, đơn hàng đã xuất kho hôm nay ạ.")


def test_attachments_are_stored_by_digest_and_the_size_limit_keeps_metadata_only(
        tmp_path: Path) -> None:
    raw = fixture("attachment__pdf.eml")
    parsed = parse(raw, attachment_dir=tmp_path)
    assert parsed is not None
    (pdf,) = parsed.attachments
    assert pdf.stored_at is not None
    stored = Path(pdf.stored_at)
    assert stored == tmp_path / pdf.sha256[:2] / pdf.sha256
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == pdf.sha256
    assert stored.stat().st_size == pdf.size
    again = parse(raw, attachment_dir=tmp_path)  # same bytes: same file, nothing new
    assert again is not None and again.attachments[0].stored_at == pdf.stored_at
    assert sum(1 for p in tmp_path.rglob("*") if p.is_file()) == 1

    small = parse(raw, attachment_dir=tmp_path / "limited", max_attachment_bytes=10)
    assert small is not None
    (meta,) = small.attachments
    assert (meta.size, meta.sha256, meta.stored_at) == (pdf.size, pdf.sha256, None)
    assert small.oversize_attachments == ("bien-ban.pdf",)
    assert not (tmp_path / "limited").exists()


def test_a_five_megabyte_attachment_is_described_but_not_stored_over_the_limit(
        tmp_path: Path) -> None:
    import base64

    payload = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)
    encoded = base64.encodebytes(payload).decode()
    raw = (
        "From: Kho <kho@abc.vn>\nTo: cskh@congty.vn\nSubject: Big scan\n"
        "Message-ID: <big5mb@abc.vn>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="big"\n\n'
        "--big\nContent-Type: text/plain; charset=utf-8\n\nBản scan chứng từ.\n"
        "--big\nContent-Type: application/pdf\n"
        'Content-Disposition: attachment; filename="scan.pdf"\n'
        f"Content-Transfer-Encoding: base64\n\n{encoded}--big--\n"
    ).replace("\n", "\r\n").encode()
    limited = parse(raw, attachment_dir=tmp_path, max_attachment_bytes=1024 * 1024)
    assert limited is not None
    (att,) = limited.attachments
    assert att.size == len(payload) and att.stored_at is None
    assert att.sha256 == hashlib.sha256(payload).hexdigest()
    assert limited.new_text == "Bản scan chứng từ."
    stored = parse(raw, attachment_dir=tmp_path, max_attachment_bytes=10 * 1024 * 1024)
    assert stored is not None and stored.attachments[0].stored_at is not None
    envelope = email_envelope(limited, mailbox=MAILBOX)
    assert len(envelope.model_dump_json()) < 20_000  # raw stays small


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n", bytes(range(256)) * 4,
                                 b"\x89PNG\r\n\x1a\n" + b"\x00" * 64])
def test_none_only_when_nothing_can_be_read(raw: bytes) -> None:
    assert parse(raw) is None


@pytest.mark.parametrize("raw", [
    b"Subject: only a subject\r\n\r\n",
    b"From: a@b.vn\r\n\r\n\xff\xfe\xfd",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi",
])
def test_anything_with_a_mail_header_is_read(raw: bytes) -> None:
    assert parse(raw) is not None


def test_missing_message_id_is_a_stable_digest_and_missing_date_is_received_at() -> None:
    raw = fixture("missing__no_message_id.eml")
    first, second = parse(raw), parse(raw)
    assert first is not None and second is not None
    assert first.message_id == second.message_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    nodate = parse(fixture("missing__no_date.eml"))
    assert nodate is not None and nodate.date == NOW


def test_envelope_fields() -> None:
    parsed = parse(fixture("reply__gmail_en_qp.eml"))
    assert parsed is not None
    env = email_envelope(parsed, mailbox=MAILBOX, source={"uid": 7})
    assert env.channel == "email"
    assert env.external_id == "CAB-qp2@mail.gmail.com"
    assert env.id == envelope_id("email", "CAB-qp2@mail.gmail.com")
    assert env.thread_key == "inv-root@congty.vn"
    assert env.in_reply_to == "inv-1234@congty.vn"
    assert env.sent_at == datetime(2025, 11, 3, 2, 15, tzinfo=UTC)
    assert env.sender.email == "john.pham@xyz.vn"
    assert env.text.startswith("Dear team,") and "Please find" not in env.text
    assert env.raw["auto"] is None and env.raw["bounce"] is None
    assert "Please find the invoice attached" in env.raw["quoted_text"]
    assert env.raw["source"] == {"uid": 7}


def test_envelope_flags_machine_mail() -> None:
    bounce = parse(fixture("bounce__delivery_status.eml"))
    auto = parse(fixture("auto__x_autoreply.eml"))
    assert bounce is not None and auto is not None
    assert email_envelope(bounce, mailbox=MAILBOX).raw["auto"] == "bounce"
    assert email_envelope(bounce, mailbox=MAILBOX).raw["bounce"]["status"] == "5.1.1"
    assert email_envelope(auto, mailbox=MAILBOX).raw["auto"] == "auto_reply"


def test_duplicates_have_one_envelope_id() -> None:
    a, b = parse(fixture("duplicate__a.eml")), parse(fixture("duplicate__b.eml"))
    assert a is not None and b is not None
    assert email_envelope(a, mailbox=MAILBOX).id == email_envelope(b, mailbox=MAILBOX).id


def test_a_long_references_header_keeps_its_root_and_newest_ids() -> None:
    parsed = parse(fixture("thread__long_references.eml"))
    assert parsed is not None
    kept = email_envelope(parsed, mailbox=MAILBOX).raw["headers"]["references"]
    assert len(kept) == 20
    assert kept[0] == "r0@abc.vn" and kept[-1] == "r29@abc.vn"  # the one a reply threads by


def test_encoded_word_local_parts_give_each_sender_their_own_address() -> None:
    """No internal placeholder leaks into an address: two such senders stay two contacts."""
    raw = fixture("header__encoded_word_local_part.eml")
    other = raw.replace(b"=?utf-8?Q?agent?=@", b"=?utf-8?B?c2FsZXM=?=@")
    first, second = parse(raw), parse(other)
    assert first is not None and second is not None
    assert (first.from_address, second.from_address) == ("agent@example.com",
                                                         "sales@example.com")


def test_a_mail_without_date_is_dated_when_the_server_received_it() -> None:
    arrived = datetime(2026, 11, 26, 22, 15, tzinfo=UTC)
    parsed = parse(fixture("missing__no_date.eml"), arrived_at=arrived)
    assert parsed is not None and parsed.date == arrived and not parsed.date_from_header
    dated = parse(fixture("plain__best_regards.eml"), arrived_at=arrived)
    assert dated is not None and dated.date != arrived  # its own Date wins


@pytest.mark.parametrize("raw", [
    b"From: a@b.vn\r\nnot a header\r\nSubject: x\r\n",  # no blank line: not repaired, kept
    b"From: a@b.vn\r\nHello,\r\nNote: call me\r\n\r\nThanks",  # body after headers, no gap
])
def test_a_body_that_follows_the_headers_without_a_blank_line_stays_body(raw: bytes) -> None:
    parsed = parse(raw)
    assert parsed is not None and parsed.from_address == "a@b.vn"
    assert "Hello" in parsed.text or "not a header" in parsed.text


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if "auth" in EXPECTED[n]))
def test_our_servers_dkim_and_dmarc_verdict_on_the_from(name: str) -> None:
    """Only our own server's Authentication-Results count (RFC 8601 authserv-id)."""
    parsed = parse(fixture(name), authserv_id="MX.congty.vn")
    assert parsed is not None
    assert parsed.auth["verdict"] == EXPECTED[name]["auth"], parsed.auth
    unset = parse(fixture(name))
    assert unset is not None and unset.auth == {"verdict": "unchecked"}
    envelope = email_envelope(parsed, mailbox=MAILBOX)
    assert envelope.raw["auth"]["verdict"] == EXPECTED[name]["auth"]


@pytest.mark.parametrize(("data", "label", "text"), [
    ("見積書".encode("iso2022_jp"), "iso-2022-jp", "見積書"),
    ("見積書".encode("iso2022_jp"), "us-ascii", "見積書"),  # mislabelled 7-bit: still read
    ("見積書".encode("iso2022_jp"), "iso-8859-1", "見積書"),
    ("見積書".encode("iso2022_jp"), None, "見積書"),
    ("견적서".encode("iso2022_kr"), "iso-2022-kr", "견적서"),
    ("견적서".encode("iso2022_kr"), "us-ascii", "견적서"),
    (b"\x1b[31mred\x1b[0m", "us-ascii", "\x1b[31mred\x1b[0m"),  # a terminal colour: ASCII
])
def test_iso_2022_text_is_read_by_its_escapes_under_any_seven_bit_label(
        data: bytes, label: str | None, text: str) -> None:
    assert decode_text(data, label)[0] == text


@pytest.mark.parametrize("address", ["cskhencodedword9x@example.com",
                                     "CSKHENCODEDWORD0x@example.com"])
def test_an_address_that_looks_like_our_placeholder_is_read_as_written(address: str) -> None:
    raw = (f"From: =?utf-8?Q?An?= <{address}>\r\nCc: =?utf-8?Q?b?=@example.com\r\n"
           "Subject: s\r\n\r\nhi").encode()
    parsed = parse(raw)
    assert parsed is not None
    assert (parsed.from_name, parsed.from_address) == ("An", address.lower())
    assert parsed.cc == ("b@example.com",)


@pytest.mark.parametrize("date", ["Fri, 31 Dec 9999 23:59:59 -1200",
                                  "Thu, 1 Jan 2099 00:00:00 +0000",
                                  "Wed, 31 Dec 1969 23:00:00 +0000"])
def test_an_impossible_date_gives_way_to_when_the_server_received_the_mail(date: str) -> None:
    arrived = datetime(2026, 11, 26, 22, 15, tzinfo=UTC)
    raw = f"From: a@b.vn\r\nDate: {date}\r\nSubject: s\r\n\r\nhi".encode()
    parsed = parse(raw, arrived_at=arrived)
    assert parsed is not None and parsed.date == arrived and not parsed.date_from_header
    envelope = email_envelope(parsed, mailbox=MAILBOX)
    assert envelope.sent_at == arrived
