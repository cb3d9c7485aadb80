"""The fault suite's figures, and whether the run kept every promise."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Poisoned:
    """The poison mails: appended, found whole in ``cskh.dlq`` (and how many dead letters of
    them, a re-fetch after a kill may add one), those not found, dead letters of the mailbox
    that are none of them, poison mails stored as a message."""

    appended: int
    whole: int
    missing: tuple[str, ...]
    copies: int
    others: int
    made_message: int

    @property
    def ok(self) -> bool:
        return self.whole == self.appended and not self.others and not self.made_message


@dataclass
class Report:
    driven: int
    accepted: int
    retried: int
    refused_503: int
    failed_posts: int
    redelivered: int
    rejected: list[str]
    abandoned: int
    lost: list[tuple[str, str]]
    duplicated: int
    split_threads: int
    unsettled_tickets: int
    tickets: int
    assigned: int
    queued: int
    multi_assigned: int
    # (fault, messages driven when it began, its length or time to ready, time to routed)
    recoveries: list[tuple[str, int, float, float]]
    settled_after: float
    exits: dict[str, int]  # processes that exited by themselves (and were started again)
    # staff replies (with --replies): acknowledged by the API, given up after 2 min, posted
    # again with their key (after a 503 or a lost answer), refused otherwise, acknowledged but
    # never sent, sent more than once
    replies: int = 0
    replies_unknown: int = 0
    replies_retried: int = 0
    replies_refused: tuple[str, ...] = ()
    replies_missing: int = 0
    replies_twice: int = 0
    split_sent: int = 0  # threads as the driver sent them whose messages are on 2+ tickets
    unexpected: int = 0  # stored messages the driver never sent
    by_channel: dict[str, int] = field(default_factory=dict)  # accepted, per channel
    poison: Poisoned | None = None

    @property
    def ok(self) -> bool:
        if self.poison is not None and not self.poison.ok:
            return False
        return not (self.lost or self.duplicated or self.split_threads or self.unsettled_tickets
                    or self.split_sent or self.unexpected
                    or self.rejected or self.replies_refused or self.replies_missing
                    or self.replies_unknown or self.replies_twice)

    def lines(self) -> list[str]:
        out = [
            f"messages driven {self.driven}, accepted {self.accepted}, retried {self.retried} "
            f"({self.refused_503} answers 503, {self.failed_posts} resets/timeouts/failed "
            f"APPENDs), "
            f"delivered twice by the provider {self.redelivered}, never acknowledged "
            f"{self.abandoned}, refused with a 4xx {len(self.rejected)}",
            "accepted per channel: " + ", ".join(
                f"{c} {n}" for c, n in sorted(self.by_channel.items())),
            f"lost {len(self.lost)} (must be 0), duplicated {self.duplicated} (must be 0), "
            f"threads on more than one ticket {self.split_threads} by thread key, "
            f"{self.split_sent} as sent (must be 0), stored but never sent {self.unexpected} "
            f"(must be 0)",
            f"tickets {self.tickets}: assigned {self.assigned} (answered ones included), "
            f"queued {self.queued}, neither "
            f"{self.unsettled_tickets} (must be 0); tickets with more than one assignment "
            f"{self.multi_assigned}; settled {self.settled_after:.1f}s after the last 2xx",
        ]
        if self.replies or self.replies_unknown or self.replies_refused:
            out.append(f"staff replies acknowledged {self.replies} (posted again with "
                       f"their key after a 503 or a lost answer {self.replies_retried}, given up "
                       f"after 2 min {self.replies_unknown} (must be 0), refused "
                       f"{len(self.replies_refused)}): never sent {self.replies_missing} (must "
                       f"be 0), sent more than once {self.replies_twice} (must be 0)")
        if self.poison is not None:
            p = self.poison
            out.append(f"poison mails appended {p.appended}: in cskh.dlq byte for byte "
                       f"{p.whole} (must be {p.appended}; {p.copies} dead letters of them), "
                       f"stored as a message {p.made_message} (must be 0), other dead letters "
                       f"of the mailbox {p.others} (must be 0)")
            out += [f"  poison not dead-lettered: {name}" for name in p.missing]
        for what, at, took, routed in self.recoveries:
            when = f"at message {at} of {self.driven}" if at < self.driven else "after the drive"
            if what == "pg-restart":
                out.append(f"PostgreSQL restarted (fast shutdown), {when}: answering again after "
                           f"{took:.1f}s, a new message routed {routed:.1f}s after the stop "
                           f"began")
            elif what == "dovecot-restart":
                out.append(f"Dovecot restarted (master and sessions stopped), {when}: answering "
                           f"again after {took:.1f}s, a new mail routed {routed:.1f}s after the "
                           f"stop began")
            elif what == "kafka-restart":
                out.append(f"Kafka broker restarted, {when}: answering again after {took:.1f}s, "
                           f"a new message routed {routed:.1f}s after the stop began")
            elif what.startswith(("db-", "kafka-")):
                out.append(f"{what} for {took:.1f}s, {when}: a new message routed "
                           f"{routed:.1f}s after the fault began")
            else:
                out.append(f"kill -9 {what}, {when}: restarted and ready after {took:.1f}s, a "
                           f"new message routed {routed:.1f}s after the kill")
        exited = ", ".join(f"{name} {n}×" for name, n in sorted(self.exits.items()))
        out.append(f"processes that exited by themselves and were started again: "
                   f"{exited or 'none'}")
        out += [f"  rejected: {r}" for r in self.rejected[:10]]
        out += [f"  reply refused: {r}" for r in self.replies_refused[:10]]
        out += [f"  lost: {c} {e}" for c, e in self.lost[:10]]
        return out
