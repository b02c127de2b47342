"""Demo data: a deterministic generator of realistic support traffic, as normalized ``TicketRecord``s.

A pure library (no ORM): ``demo_records(count=, seed=, today=)`` yields the same records for the same
three arguments, and ``demo_truth`` returns, for each ticket id, the problem keys it really raises, so
the theming engine can be scored against it. The truth is never in the records themselves: tags are
the coarse, inconsistent kind agents type, and subjects and bodies are only what a customer would say.

What the data holds, so dashboards have something to find:

* organizations on free / starter / pro / enterprise plans with plausible ARR, a few customers each;
* emails, web forms and multi-turn chats (bot, agent and customer turns) over the ``HISTORY_DAYS``
  before ``today``, with fewer on weekends and gentle growth;
* the granular problems of ``tickets.demo_catalog`` with a long-tailed popularity, each said many ways
  (templates, slots, greetings, typos, signatures, quoted replies, "Sent from my iPhone"); some tickets
  raise two problems, some none ("thanks!");
* ``SPIKE_PROBLEM`` jumps ``SPIKE_DAYS_AGO`` days before today (a bad app release) and
  ``FADING_PROBLEM`` fades after ``FADE_DAYS_AGO`` (a shipped fix);
* resolution times, reopens and CSAT that differ by problem.

Every date is anchored on ``today`` (midnight UTC is "now"), never on the clock: re-running on the same
day gives identical records, and a later day shifts the whole timeline forward (each ticket is then
re-imported as updated). Customer domains are ``.example`` so no demo email can reach a real mailbox.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate

from tickets import demo_catalog as catalog
from tickets.demo_catalog import AREAS, PROBLEMS, PROBLEMS_BY_KEY, DemoProblem
from tickets.records import CustomerRecord, MessageRecord, OrganizationRecord, TicketRecord

DEFAULT_TICKETS = 3000
DEFAULT_SEED = 7
HISTORY_DAYS = 180
SPIKE_PROBLEM = "app_crash_on_startup"
SPIKE_DAYS_AGO = 21
FADING_PROBLEM = "zapier_disconnects"
FADE_DAYS_AGO = 100
FIRST_TICKET_ID = 10001

PLANS = ("free", "starter", "pro", "enterprise")
_PLAN_SHARES = (35, 30, 24, 11)
# Bigger customers have more users, so more tickets per organization.
_PLAN_TICKET_FACTOR = {"free": 0.5, "starter": 1.0, "pro": 1.8, "enterprise": 3.5}
_PLAN_PEOPLE = {"free": (1, 2), "starter": (1, 3), "pro": (2, 5), "enterprise": (3, 8)}
_PLANS_OF_PROFILE = {
    "any": set(PLANS), "paid": {"starter", "pro", "enterprise"}, "business": {"pro", "enterprise"}
}
_WEEKDAY_FACTOR = (1.15, 1.1, 1.05, 1.0, 0.9, 0.3, 0.25)
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 10, 9, 10, 11, 11, 10, 9, 7, 6, 5, 4, 3, 2)
_NOISE_SHARE = 0.07
_TWO_PROBLEM_SHARE = 0.07
_CHANNELS = ("email", "chat", "web")
_CHANNEL_WEIGHTS = (52, 36, 12)
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")


@dataclass(frozen=True, slots=True)
class DemoTimeline:
    """The window the demo covers: ``start`` up to ``today`` (exclusive; its midnight UTC is "now")."""

    start: date
    today: date
    spike_date: date
    fade_date: date

    @property
    def now(self) -> datetime:
        return datetime(self.today.year, self.today.month, self.today.day, tzinfo=UTC)


def demo_timeline(today: date) -> DemoTimeline:
    return DemoTimeline(
        start=today - timedelta(days=HISTORY_DAYS),
        today=today,
        spike_date=today - timedelta(days=SPIKE_DAYS_AGO),
        fade_date=today - timedelta(days=FADE_DAYS_AGO),
    )


def demo_records(
    *, count: int = DEFAULT_TICKETS, seed: int = DEFAULT_SEED, today: date
) -> Iterator[TicketRecord]:
    """Yield ``count`` tickets, oldest first; the same arguments always give equal records."""
    world = _world(count, seed, today)
    for plan in world.plans:
        yield _render(world, plan)


def demo_truth(
    *, count: int = DEFAULT_TICKETS, seed: int = DEFAULT_SEED, today: date
) -> dict[str, tuple[str, ...]]:
    """Map each ticket id of ``demo_records(count, seed, today)`` to the problem keys it raises.

    Keys are ``tickets.demo_catalog`` problem keys; an empty tuple means the ticket raises no product
    problem (a thank-you, a call-me request, an auto-reply). Cheap: no text is rendered.
    """
    return {plan.external_id: plan.problems for plan in _world(count, seed, today).plans}


# --- the world: organizations, people, and which ticket happens when --------------------------------


@dataclass(frozen=True, slots=True)
class _Person:
    record: CustomerRecord
    first: str
    phone: str
    typo_rate: float
    lowercase_chat: bool
    mail_client: str
    sign_off: str
    signature: str


@dataclass(frozen=True, slots=True)
class _Org:
    record: OrganizationRecord
    domain: str
    people: tuple[_Person, ...]
    weight: float


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything decided about a ticket before its text is written; ``text_seed`` drives the text."""

    external_id: str
    created_at: datetime
    problems: tuple[str, ...]
    channel: str
    org: int
    person: int
    text_seed: int


@dataclass(frozen=True, slots=True)
class _World:
    timeline: DemoTimeline
    orgs: list[_Org]
    plans: list[_Plan]


def _world(count: int, seed: int, today: date) -> _World:
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    timeline = demo_timeline(today)
    # Organizations come first and do not depend on today, so they stay the same from day to day.
    orgs = _organizations(rng, max(10, min(5000, round(count / 10))))
    moments = _moments(rng, timeline, count)
    org_weights = {
        profile: list(accumulate(o.weight if o.record.plan in plans else 0.0 for o in orgs))
        for profile, plans in _PLANS_OF_PROFILE.items()
    }
    plans = []
    for index, (created_at, key) in enumerate(moments):
        problems = _problems_of(rng, key)
        profile = PROBLEMS_BY_KEY[key].plans if key else "any"
        org = rng.choices(range(len(orgs)), cum_weights=org_weights[profile])[0]
        people = len(orgs[org].people)
        person = 0 if rng.random() < 0.35 else rng.randrange(people)  # the admin writes in most often
        channel = rng.choices(_CHANNELS, weights=_CHANNEL_WEIGHTS)[0]
        plans.append(_Plan(str(FIRST_TICKET_ID + index), created_at, problems, channel, org, person,
                           rng.getrandbits(64)))
    return _World(timeline, orgs, plans)


def _moments(rng: random.Random, timeline: DemoTimeline, count: int) -> list[tuple[datetime, str]]:
    """When each ticket is created and its main problem ("" for noise), sorted by time.

    Drawn from one joint distribution over (day, problem), so the spike and the fade change both the
    problem's share and the day's total, as they would in a real help desk.
    """
    keys = [problem.key for problem in PROBLEMS] + [""]
    problem_total = sum(problem.weight for problem in PROBLEMS)
    base = [problem.weight for problem in PROBLEMS] + [problem_total * _NOISE_SHARE / (1 - _NOISE_SHARE)]
    cells: list[float] = []
    for offset in range(HISTORY_DAYS):
        day = timeline.start + timedelta(days=offset)
        volume = (1 + 0.35 * offset / HISTORY_DAYS) * _WEEKDAY_FACTOR[day.weekday()]
        volume *= rng.lognormvariate(0, 0.12)  # no two Mondays are alike
        cells.extend(
            volume * weight * _trend(key, day, timeline) for key, weight in zip(keys, base, strict=True)
        )
    draws = rng.choices(range(len(cells)), cum_weights=list(accumulate(cells)), k=count)
    moments = []
    for cell in draws:
        day = timeline.start + timedelta(days=cell // len(keys))
        hour = rng.choices(range(24), weights=_HOUR_WEIGHTS)[0]
        seconds = hour * 3600 + rng.randrange(3600)
        moments.append((datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds),
                        keys[cell % len(keys)]))
    moments.sort()
    return moments


def _trend(key: str, day: date, timeline: DemoTimeline) -> float:
    """How much more (or less) often a problem comes up on ``day`` than usual."""
    if key == SPIKE_PROBLEM and day >= timeline.spike_date:
        return 1 + 40 * math.exp(-(day - timeline.spike_date).days / 14)
    if key == FADING_PROBLEM and day >= timeline.fade_date:
        return max(0.05, math.exp(-(day - timeline.fade_date).days / 12))
    return 1.0


def _problems_of(rng: random.Random, key: str) -> tuple[str, ...]:
    if not key:
        return ()
    if rng.random() >= _TWO_PROBLEM_SHARE:
        return (key,)
    # The spike and the fade keep their own time profile, so they never come along as a second problem.
    area = PROBLEMS_BY_KEY[key].area
    candidates = [
        p for p in PROBLEMS
        if p.key not in (key, SPIKE_PROBLEM, FADING_PROBLEM) and (p.area == area or rng.random() < 0.5)
    ]
    second = rng.choices(candidates, weights=[p.weight for p in candidates])[0]
    return (key, second.key)


def _organizations(rng: random.Random, count: int) -> list[_Org]:
    taken: set[str] = set()
    orgs = []
    user_ids = iter(range(1, 10**9))
    for index in range(count):
        # The first four cover every plan, so even a tiny demo has someone on each.
        plan = PLANS[index] if index < len(PLANS) else rng.choices(PLANS, weights=_PLAN_SHARES)[0]
        name, slug = _company_name(rng, taken)
        domain = f"{slug}.example"
        record = OrganizationRecord(f"org-{index + 1:04d}", name, plan, _arr(rng, plan))
        low, high = _PLAN_PEOPLE[plan]
        convention = rng.choice(("first.last", "first", "flast", "firstl"))
        people = _people(rng, rng.randint(low, high), name, domain, convention, user_ids)
        weight = _PLAN_TICKET_FACTOR[plan] * min(8.0, rng.paretovariate(1.8))
        orgs.append(_Org(record, domain, people, weight))
    return orgs


def _company_name(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    for _ in range(50):
        style = rng.random()
        if style < 0.6:
            core = rng.choice(catalog.COMPANY_PREFIXES) + rng.choice(catalog.COMPANY_NOUNS)
        elif style < 0.85:
            core = f"{rng.choice(catalog.COMPANY_PREFIXES)} {rng.choice(catalog.COMPANY_NOUNS).capitalize()}"
        else:
            core = f"{rng.choice(catalog.LAST_NAMES)} & {rng.choice(catalog.LAST_NAMES)}"
        name = core + rng.choice(catalog.COMPANY_SUFFIXES)
        slug = _ascii(core).lower()
        if slug not in taken:
            taken.add(slug)
            return name, slug
    slug = f"{slug}{len(taken)}"  # word lists exhausted: a numbered twin, still unique
    taken.add(slug)
    return name, slug


def _arr(rng: random.Random, plan: str) -> Decimal:
    """Seats x list price x 12, with enterprise discounts; free pays nothing."""
    if plan == "free":
        yearly = 0
    elif plan == "starter":
        yearly = rng.randint(2, 15) * 15 * 12
    elif plan == "pro":
        yearly = rng.randint(5, 80) * 39 * 12
    else:
        yearly = int(round(rng.randint(50, 1200) * 65 * 12 * rng.uniform(0.7, 0.9), -2))
    return Decimal(yearly).quantize(Decimal("0.01"))


def _people(
    rng: random.Random, count: int, company: str, domain: str, convention: str, user_ids: Iterator[int]
) -> tuple[_Person, ...]:
    people: list[_Person] = []
    emails: set[str] = set()
    for _ in range(count):
        first, last = rng.choice(catalog.FIRST_NAMES), rng.choice(catalog.LAST_NAMES)
        local = _email_local(first, last, convention)
        while local in emails:
            local += str(rng.randrange(10))
        emails.add(local)
        full = f"{first} {last}"
        phone = rng.choice((f"+1 555 01{rng.randrange(100):02d}", f"+44 20 7946 0{rng.randrange(1000):03d}"))
        people.append(_Person(
            record=CustomerRecord(f"user-{next(user_ids):05d}", full, f"{local}@{domain}"),
            first=first,
            phone=phone,
            typo_rate=rng.choices((0.0, 0.012, 0.035), weights=(55, 30, 15))[0],
            lowercase_chat=rng.random() < 0.35,
            mail_client=rng.choices(("gmail", "outlook", "apple", "plain"), weights=(35, 35, 20, 10))[0],
            sign_off="" if rng.random() < 0.15 else rng.choice(catalog.SIGN_OFFS),
            signature=_signature(rng, full, company, domain, phone),
        ))
    return tuple(people)


def _email_local(first: str, last: str, convention: str) -> str:
    first, last = _ascii(first).lower(), _ascii(last).lower()
    return {"first.last": f"{first}.{last}", "first": first, "flast": f"{first[:1]}{last}",
            "firstl": f"{first}{last[:1]}"}[convention]


def _signature(rng: random.Random, full: str, company: str, domain: str, phone: str) -> str:
    if rng.random() < 0.55:
        return ""
    title = rng.choice(catalog.JOB_TITLES)
    return rng.choice((
        f"{full}\n{title} | {company}\n{phone}",
        f"{company} | {phone}",
        f"--\n{full}\n{title}, {company}\nwww.{domain}",
        f"{full} | {title}\n{company}",
    ))


def _ascii(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode())


# --- rendering one ticket --------------------------------------------------------------------------


class _Slots(dict[str, str]):
    """Template fillers for one ticket: drawn on first use, then the same for every later message."""

    def __init__(self, rng: random.Random, org: _Org, person: _Person, **known: str) -> None:
        super().__init__(known)
        self.rng, self.org, self.person = rng, org, person

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key in catalog.SLOTS:
            value = rng.choice(catalog.SLOTS[key])
        elif key in ("device", "os"):
            self["device"], self["os"] = rng.choice(catalog.DEVICES)
            return self[key]
        elif key in ("seats", "seats_low"):
            seats = rng.randint(8, 60)
            self["seats"], self["seats_low"] = str(seats), str(seats - rng.randint(2, 7))
            return self[key]
        elif key == "old_email":
            value = f"{_ascii(self['colleague']).lower()}@{self.org.domain}"
        else:
            value = self._computed(key)
        self[key] = value
        return value

    def _computed(self, key: str) -> str:
        rng = self.rng
        makers = {
            "last4": lambda: f"{rng.randrange(10000):04d}",
            "vat": lambda: rng.choice(catalog.VAT_PREFIXES) + f"{rng.randrange(10**9):09d}",
            "invoice": lambda: f"INV-{self['year']}-{rng.randrange(100000):05d}",
            "arn": lambda: f"{rng.randrange(10**12):012d}",
            "hex": lambda: f"{rng.getrandbits(48):012x}",
            "jira": lambda: f"ENG-{rng.randint(1000, 9999)}",
            "day": lambda: str(rng.randint(1, 28)),
            "colleague": lambda: rng.choice(catalog.FIRST_NAMES),
            "phone": lambda: self.person.phone,
        }
        if key not in makers:
            raise KeyError(f"demo template uses unknown slot {{{key}}}")
        return makers[key]()


@dataclass(slots=True)
class _Turn:
    step: str
    role: str
    at: datetime
    body: str = ""
    public: bool = True


@dataclass(slots=True)
class _Ticket:
    """The render context of one ticket."""

    rng: random.Random
    plan: _Plan
    org: _Org
    person: _Person
    problems: list[DemoProblem]
    slots: _Slots
    agent: str
    subject: str = ""
    noise: tuple[str, str] = ("", "")  # for a ticket with no problem: what the customer says, the reply
    turns: list[_Turn] = field(default_factory=list)

    @property
    def chat(self) -> bool:
        return self.plan.channel == "chat"


def _render(world: _World, plan: _Plan) -> TicketRecord:
    rng = random.Random(plan.text_seed)
    org = world.orgs[plan.org]
    person = org.people[plan.person]
    ticket = _Ticket(
        rng=rng, plan=plan, org=org, person=person,
        problems=[PROBLEMS_BY_KEY[key] for key in plan.problems],
        slots=_Slots(rng, org, person, **_known_slots(world.timeline, plan, org, person)),
        agent=rng.choice(catalog.AGENT_NAMES),
    )
    if not ticket.problems:
        ticket.noise = rng.choice(catalog.NOISE)
    ticket.subject = _subject(ticket)
    hours = _resolution_hours(ticket)
    ticket.turns = _schedule(ticket, _script(ticket, hours), hours)
    answered: _Turn | None = None  # the support message a customer's reply quotes
    for turn in ticket.turns:
        turn.body = _write(ticket, turn, answered)
        if turn.role != "customer" and turn.public:
            answered = turn
    return _record(ticket, world.timeline.now)


def _known_slots(timeline: DemoTimeline, plan: _Plan, org: _Org, person: _Person) -> dict[str, str]:
    released = plan.created_at.date() >= timeline.spike_date
    last_month = plan.created_at - timedelta(days=25)
    return {
        "first": person.first, "email": person.record.email, "company": org.record.name,
        "plan": org.record.plan, "arr": f"${org.record.arr or 0:,.0f}", "product": catalog.PRODUCT,
        "month": _MONTH_NAMES[last_month.month - 1], "year": str(plan.created_at.year),
        # The spike is release 5.2: before it, crash reports name older versions.
        "version": "5.2" if released else "5.1.2", "hotfix": "5.2.1" if released else "5.1.3",
    }


def _resolution_hours(ticket: _Ticket) -> float:
    median = max((p.hours for p in ticket.problems), default=1.5)
    if ticket.chat and median <= 12:
        median *= 0.1  # quick questions are answered live in chat
    return median * ticket.rng.lognormvariate(0, 0.8)


def _script(ticket: _Ticket, hours: float) -> list[str]:
    """The steps of the conversation, in order; a step names who speaks and what about."""
    rng, chat = ticket.rng, ticket.chat
    steps = ["bot_greet"] if chat and rng.random() < 0.5 else []
    if chat and rng.random() < 0.3:
        steps.append("hi")
    steps.append("open")
    if steps[0] == "bot_greet" and rng.random() < 0.5:
        steps.append("bot_handoff")
    if not ticket.problems:
        return [*steps, "noise_reply"] if ticket.noise[1] and rng.random() < 0.85 else steps
    if rng.random() < (0.75 if chat else 0.5):
        steps += ["ask", "detail"]
    elif chat:
        steps.append("ack")
    if hours > 36:
        steps.append("escalate")
        if rng.random() < 0.5:
            steps.append("bump")
    if rng.random() < 0.08:
        steps.append("note")
    steps.append("fix")
    if rng.random() < (0.5 if chat else 0.3):
        steps.append("thanks")
    elif chat and rng.random() < 0.3:
        steps.append("bot_close")
    if rng.random() < max(p.reopen for p in ticket.problems):
        steps += ["reopen", "fix"]
    return steps


_ROLE_OF = {"bot_greet": "bot", "bot_handoff": "bot", "bot_close": "bot", "ask": "agent", "ack": "agent",
            "escalate": "agent", "note": "agent", "fix": "agent", "noise_reply": "agent"}


def _schedule(ticket: _Ticket, steps: list[str], hours: float) -> list[_Turn]:
    """Give each step a time: live chat turns minutes apart, emails hours, the fix at the resolution."""
    rng = ticket.rng
    at = ticket.plan.created_at
    turns: list[_Turn] = []
    for index, step in enumerate(steps):
        if index:
            gap = _gap(rng, step, ticket.chat, hours)
            if step == "fix":
                gap = max(gap, hours - (at - ticket.plan.created_at).total_seconds() / 3600)
            at += timedelta(seconds=round(gap * 3600))
        turns.append(_Turn(step, _ROLE_OF.get(step, "customer"), at, public=step != "note"))
    return turns


def _gap(rng: random.Random, step: str, chat: bool, hours: float) -> float:
    """Hours between the previous turn and this one."""
    if step == "bot_close":
        return 24.0
    if step == "bump":
        return rng.uniform(20, 48)
    if step == "reopen":
        return rng.uniform(24, 120)
    if step == "fix" and chat:
        return rng.uniform(1, 6) / 60
    if chat or step in ("hi", "bot_handoff", "note"):
        return rng.uniform(0.3, 4) / 60
    return rng.uniform(0.2, 8) if step != "fix" else min(hours, rng.uniform(0.2, 4))


def _record(ticket: _Ticket, now: datetime) -> TicketRecord:
    """The ticket as the help desk shows it at ``now``: later turns have not happened yet."""
    rng, plan = ticket.rng, ticket.plan
    turns = [turn for turn in ticket.turns if turn.at <= now]
    last = turns[-1]
    solved_at = last.at + timedelta(minutes=rng.randint(1, 20))
    # A finished conversation is solved once someone answered; "thanks!" tickets are solved unanswered.
    answered = any(turn.role != "customer" for turn in turns) or not ticket.problems
    solved = len(turns) == len(ticket.turns) and answered and solved_at <= now
    reopens = sum(turn.step == "reopen" for turn in turns)
    return TicketRecord(
        external_id=plan.external_id,
        created_at=plan.created_at,
        messages=tuple(_message(ticket, index, turn) for index, turn in enumerate(turns)),
        subject=ticket.subject,
        channel=plan.channel,
        status=_status(turns, solved_at if solved else None, now),
        priority=_priority(rng, ticket.org.record.plan),
        requester=ticket.person.record,
        organization=ticket.org.record,
        updated_at=solved_at if solved else last.at,
        solved_at=solved_at if solved else None,
        reopen_count=reopens,
        tags=_tags(rng, ticket.problems),
        csat=_csat(ticket, solved_at, reopens) if solved else None,
        language="en",
        url=f"{catalog.HELP_DESK_URL}{plan.external_id}",
    )


def _message(ticket: _Ticket, index: int, turn: _Turn) -> MessageRecord:
    names = {"customer": ticket.person.record.name, "agent": ticket.agent, "bot": catalog.BOT_NAME}
    return MessageRecord(
        external_id=f"{ticket.plan.external_id}-{index + 1}",
        body=turn.body,
        created_at=turn.at,
        author_role=turn.role,
        author_name=names[turn.role],
        is_public=turn.public,
    )


def _status(turns: Sequence[_Turn], solved_at: datetime | None, now: datetime) -> str:
    if solved_at is not None:
        return "closed" if now - solved_at > timedelta(days=4) else "solved"
    public = [turn for turn in turns if turn.public]
    if public[-1].role == "agent":
        return "pending"  # waiting for the customer
    return "open" if any(turn.role == "agent" for turn in public) else "new"


def _priority(rng: random.Random, plan: str) -> str:
    weights = (20, 5, 35, 28, 12) if plan == "enterprise" else (40, 12, 35, 10, 3)
    return rng.choices(("", "low", "normal", "high", "urgent"), weights=weights)[0]


def _tags(rng: random.Random, problems: list[DemoProblem]) -> tuple[str, ...]:
    """What an agent would tag: often nothing, the area in some spelling, sometimes the wrong area."""
    if rng.random() < (0.7 if not problems else 0.3):
        return ()
    areas = [p.area for p in problems] or [rng.choice(AREAS).key]
    if rng.random() < 0.1:
        areas[0] = rng.choice(AREAS).key
    tags = {
        rng.choice(catalog.AREAS_BY_KEY[area].tags)
        for area in areas
        if rng.random() < 0.8 or area == areas[0]
    }
    if rng.random() < 0.15:
        tags.add(rng.choice(catalog.GENERIC_TAGS))
    return tuple(sorted(tags))


def _csat(ticket: _Ticket, solved_at: datetime, reopens: int) -> int | None:
    rng = ticket.rng
    if rng.random() > (0.35 if ticket.problems else 0.1):
        return None  # most customers ignore the survey
    mean = min((p.csat for p in ticket.problems), default=4.5) - 0.7 * reopens
    if solved_at - ticket.plan.created_at > timedelta(hours=72):
        mean -= 0.4
    return max(1, min(5, round(rng.gauss(mean, 0.9))))


def _subject(ticket: _Ticket) -> str:
    rng = ticket.rng
    if not ticket.problems:
        return rng.choice(catalog.NOISE_SUBJECTS)
    if ticket.chat:
        return f"Conversation with {ticket.person.first}" if rng.random() < 0.3 else ""
    roll = rng.random()
    if roll < 0.1 and ticket.plan.channel == "email":
        return rng.choice(("Help", "Question", "Support request", "Problem", "Urgent", ""))
    if roll < 0.2 and ticket.plan.channel == "web":
        return catalog.AREAS_BY_KEY[ticket.problems[0].area].form_topic
    subject = _fill(ticket, rng.choice(ticket.problems[0].subjects))
    return subject.lower() if ticket.person.lowercase_chat and rng.random() < 0.3 else subject


# --- the words of each turn --------------------------------------------------------------------------


def _write(ticket: _Ticket, turn: _Turn, answered: _Turn | None) -> str:
    if turn.role == "bot":
        return _fill(ticket, ticket.rng.choice(_BOT_LINES[turn.step]))
    if turn.role == "agent":
        return _agent_says(ticket, turn)
    text = _customer_says(ticket, turn)
    if ticket.chat:
        return _chat_style(ticket, text)
    if turn.step == "open":
        return _web_form(ticket, text) if ticket.plan.channel == "web" else _email(ticket, text, greet=True)
    return _email(ticket, text, greet=False) + _quote(ticket, answered)


_BOT_LINES = {"bot_greet": catalog.BOT_GREETINGS, "bot_handoff": catalog.BOT_HANDOFFS,
              "bot_close": catalog.BOT_CLOSES}


def _customer_says(ticket: _Ticket, turn: _Turn) -> str:
    rng = ticket.rng
    if turn.step == "hi":
        return rng.choice(catalog.CHAT_GREETINGS)
    if turn.step == "open":
        text = _opening(ticket) if ticket.problems else _fill(ticket, ticket.noise[0])
    elif turn.step == "detail":
        details = ticket.problems[0].details if rng.random() < 0.7 else ()
        text = _fill(ticket, rng.choice(details or catalog.DETAILS_GENERIC))
    elif turn.step == "reopen":
        text = rng.choice(catalog.REOPENS)
        if rng.random() < 0.4:
            text = _then(text, _fill(ticket, rng.choice(ticket.problems[0].says)))
    else:
        text = _fill(ticket, rng.choice({"bump": catalog.BUMPS, "thanks": catalog.THANKS}[turn.step]))
    return _typos(rng, text, ticket.person.typo_rate)


def _opening(ticket: _Ticket) -> str:
    """The customer's first description: the problem(s), maybe with context, a detail and a closer."""
    rng = ticket.rng
    first, *others = ticket.problems
    text = _fill(ticket, rng.choice(first.says))
    if first.details and rng.random() < 0.25:
        text = _then(text, _fill(ticket, rng.choice(first.details)))
    if not ticket.chat and rng.random() < 0.3:
        context = _fill(ticket, rng.choice(catalog.CONTEXT))
        text = _then(context, text) if rng.random() < 0.5 else _then(text, context)
    for other in others:
        said = _fill(ticket, rng.choice(other.says))
        text += "\n\n" + rng.choice(catalog.SECOND_PROBLEM_JOINS).format(text=said[:1].lower() + said[1:])
    if not ticket.chat and rng.random() < 0.4:
        text = _then(text, rng.choice(catalog.CLOSERS))
    return text


def _then(text: str, sentence: str) -> str:
    """``sentence`` after ``text``, with the full stop a hurried customer left off."""
    return f"{text} {sentence}" if text[-1:] in ".!?)" else f"{text}. {sentence}"


def _agent_says(ticket: _Ticket, turn: _Turn) -> str:
    rng = ticket.rng
    if turn.step == "note":
        return _fill(ticket, rng.choice(catalog.INTERNAL_NOTES))
    if turn.step == "fix":
        body = "\n\n".join(_fill(ticket, rng.choice(p.fixes)) for p in ticket.problems)
    elif turn.step == "ask":
        area = catalog.AREAS_BY_KEY[ticket.problems[0].area]
        body = rng.choice(catalog.AGENT_OPENERS) + rng.choice(area.asks)
    elif turn.step == "noise_reply":
        body = ticket.noise[1]
    else:
        lines = {"ack": catalog.AGENT_ACKS, "escalate": catalog.AGENT_ESCALATIONS}[turn.step]
        body = _fill(ticket, rng.choice(lines))
    if ticket.chat:
        first_reply = next(t for t in ticket.turns if t.role == "agent") is turn
        return f"Hi {ticket.person.first}! {body}" if first_reply and rng.random() < 0.5 else body
    signed = ticket.agent.split()[0]
    return f"Hi {ticket.person.first},\n\n{body}\n\nBest,\n{signed}\n{catalog.PRODUCT} Support"


def _email(ticket: _Ticket, text: str, *, greet: bool) -> str:
    rng, person = ticket.rng, ticket.person
    parts = []
    greeting = _fill(ticket, rng.choice(catalog.GREETINGS)) if greet else ""
    if greeting:
        parts.append(greeting)
    parts.append(text)
    if person.sign_off:
        parts.append(f"{person.sign_off}\n{person.first}")
    if person.signature and (greet or rng.random() < 0.5):
        parts.append(person.signature)
    mobile = 0.5 if person.mail_client == "apple" else 0.05
    if rng.random() < mobile:
        apple = person.mail_client == "apple"
        parts.append("Sent from my iPhone" if apple else rng.choice(catalog.MOBILE_FOOTERS))
    return "\n\n".join(parts)


def _quote(ticket: _Ticket, previous: _Turn | None) -> str:
    """The previous message below the reply, the way the customer's mail client quotes it."""
    client = ticket.person.mail_client
    if previous is None or not previous.body or client == "plain":
        return ""
    sender = f"{ticket.agent} <{catalog.SUPPORT_ADDRESS}>"
    at = previous.at
    if client == "outlook":
        person = ticket.person.record
        return (
            f"\n\n________________________________\nFrom: {sender}\n"
            f"Sent: {_MONTH_NAMES[at.month - 1]} {at.day}, {at.year} {at:%H:%M}\n"
            f"To: {person.name} <{person.email}>\nSubject: Re: {ticket.subject}\n\n{previous.body}"
        )
    quoted = "\n".join(f"> {line}" if line else ">" for line in previous.body.splitlines())
    if client == "apple":
        header = f"On {at.day} {_MONTH_NAMES[at.month - 1][:3]} {at.year}, at {at:%H:%M}, {sender} wrote:"
    else:
        hour = at.hour % 12 or 12
        header = (f"On {_DAY_NAMES[at.weekday()]}, {_MONTH_NAMES[at.month - 1][:3]} {at.day}, {at.year} "
                  f"at {hour}:{at:%M} {'AM' if at.hour < 12 else 'PM'} {sender} wrote:")
    return f"\n\n{header}\n{quoted}"


def _web_form(ticket: _Ticket, text: str) -> str:
    person, rng = ticket.person.record, ticket.rng
    # Customers pick the form's topic carelessly; "Other" is the popular choice.
    area = catalog.AREAS_BY_KEY[ticket.problems[0].area] if ticket.problems else None
    careless = rng.choice(("Other", "General question", "Billing"))
    topic = area.form_topic if area and rng.random() < 0.7 else careless
    return (f"Name: {person.name}\nEmail: {person.email}\nCompany: {ticket.org.record.name}\n"
            f"Topic: {topic}\n\nMessage:\n{text}")


def _chat_style(ticket: _Ticket, text: str) -> str:
    if ticket.person.lowercase_chat:
        text = text.lower().rstrip(".")
    return text


def _fill(ticket: _Ticket, template: str) -> str:
    return template.format_map(ticket.slots)


_WORD = re.compile(r"(?<![\w@./'-])[A-Za-z]{4,}(?![\w@']|\.\w)")
_MISSPELLINGS = {
    "receive": "recieve", "definitely": "definately", "separate": "seperate", "because": "becuase",
    "account": "acount", "invoice": "invoce", "password": "pasword", "notification": "notfication",
    "already": "allready", "working": "wokring", "which": "wich", "their": "thier", "again": "agian",
}


def _typos(rng: random.Random, text: str, rate: float) -> str:
    """Slips at ``rate`` per word: swapped, dropped or doubled letters, or a common misspelling."""
    if not rate:
        return text

    def slip(match: re.Match[str]) -> str:
        word = match.group()
        if rng.random() >= rate:
            return word
        if word.lower() in _MISSPELLINGS:
            return _MISSPELLINGS[word.lower()]
        i = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(3)
        if kind == 0:
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]
        if kind == 1:
            return word[:i] + word[i + 1:]
        return word[:i] + word[i] + word[i:]

    return _WORD.sub(slip, text)


__all__ = [
    "AREAS",
    "DEFAULT_SEED",
    "DEFAULT_TICKETS",
    "FADING_PROBLEM",
    "PROBLEMS",
    "SPIKE_PROBLEM",
    "DemoTimeline",
    "demo_records",
    "demo_timeline",
    "demo_truth",
]
