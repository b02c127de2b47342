"""Support-email noise: clean queries wrapped the way customers really send them.

``email_noise(texts, seed=...)`` wraps each query in a greeting, polite filler, a sign-off, a
signature (name, title, company, phone, web address), a mobile footer and a quoted agent reply or a
forwarded message, each part drawn at random per text. It measures how much of that text preparation
(``insights.analysis.text``) leaves behind: the prepared noisy text should equal the prepared query.

The phatic pools (greetings, fillers, sign-offs) come in two halves, ``development`` and ``held_out``:
text preparation is tuned against one half and judged on the other, so a fix that merely lists the
generator's own sentences shows up as residue on the half it never saw. Pure and deterministic: the
same texts and seed give the same bodies.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Literal

Half = Literal["all", "development", "held_out"]

_GREETINGS = (
    "Hi team,", "Hello,", "Morning team,", "Dear Support,", "Hey there!", "Good afternoon,", "Hi,", "Hello there,",
    "Hi all,", "Dear Sir or Madam,", "Dear Orbit team,", "Hi Support Team,", "Good morning!", "Evening all,",
    "Greetings,", "Hiya,", "Hi folks,", "Hey guys,", "Dear Customer Service,", "To whom it may concern,",
    "Afternoon,", "Hi there,", "Hello Support,", "Dear team,", "Hey!", "Howdy,", "Hi Sarah,", "Hello again,",
    "Good day,", "Dear Sir/Madam,", "Hi Orbit,", "Morning,", "Good evening team,", "Hey support,", "Hello Tom,",
    "Dear Ms. Tanaka,", "Hi hi,", "Hello everyone,", "Hey team!", "Dear all,",
)
_OPENERS = (
    "Hope you're well.", "Hope you are doing well!", "Sorry to bother you again.", "Hope you're having a good week.",
    "I hope this email finds you well.", "Hope all is well with you.", "I hope you had a great weekend.",
    "Hope your day is going well.", "Quick question for you.", "I hope you can help me.",
    "Sorry for the long email.", "Apologies for bothering you.", "I hope you're keeping well.", "Happy Friday!",
    "Hope you had a lovely weekend.", "Hope everything is good on your end.", "Sorry to bug you.",
    "Just a quick one.", "I wonder if you can help.", "Long time customer here.", "Hope you're all doing great.",
    "I'm reaching out because I need some help.", "Hoping you can help me out.", "I hope you are having a nice day.",
    "Sorry to trouble you.", "Apologies for the late reply.", "Thanks for getting back to me so quickly.",
    "Thank you for your quick reply earlier.", "I hope this message finds you in good health.",
    "Hope things are going smoothly over there.", "Sorry to write again.", "Hope the week is treating you well.",
    "I'm writing to ask for your help.", "Happy Monday!", "Hope you had a good holiday.",
    "Thanks for the help last time.", "Just following up.", "Sorry for the trouble.",
)
_CLOSERS = (
    "I appreciate your help!", "Thank you for your time.", "Please let me know.", "Thanks in advance",
    "Any help would be appreciated", "Looking forward to your reply", "Have a nice day",
    "Thanks so much for your help.",
    "Let me know if you need anything else.", "Let me know if you need more info.", "Please advise.",
    "Hope to hear from you soon.", "Thanks for looking into this.", "I'd really appreciate a quick response.",
    "Appreciate any help you can give.", "Thank you for your patience.", "Many thanks for your assistance.",
    "Looking forward to hearing back.", "Your help is much appreciated.", "Keep up the great work!",
    "Thanks for your support as always.", "Hope that makes sense.", "Happy to provide more details if needed.",
    "Let me know if you have any questions.", "Thanks a million!", "Appreciate it.",
    "Would be grateful for any assistance.", "Speak soon.", "Have a great weekend!", "Thanks for being awesome.",
    "I look forward to your response.", "Cheers for the help.", "Hoping for a quick resolution.",
    "Thanks again for all your help.", "Enjoy the rest of your day!", "Have a good one.", "Stay safe.",
    "Please get back to me when you can.", "Let me know what you think.", "Kindly assist.",
    "Thank you very much in advance for your help!", "Hope you can sort this out for me.",
    "I'd be grateful if you could get back to me.", "Many thanks in advance.", "Thanks for your understanding.",
    "Appreciate your quick help on this!", "Have a wonderful day.", "Looking forward to your answer!",
)
_SIGN_OFFS = (
    "Thanks,", "Best regards,", "Cheers", "Kind regards,", "Regards,", "Best,", "Many thanks,", "Thank you,",
    "Warm regards,", "Sincerely,", "Thanks!", "All the best,", "Cheers!", "Thanks again,", "Best wishes,", "Thx",
    "Respectfully,", "Talk soon,", "Warmly,", "With thanks,", "Take care,", "Yours,", "Much appreciated,",
    "Thanks & regards,", "Rgds", "Kind Regards", "Many thanks in advance,", "Ta,", "Br,", "Thank you kindly,",
    "Best regards", "Thanks so much,",
)
_FIRST_NAMES = ("Jane", "Sam", "Aiko", "Marcus", "Olivia", "Jakub", "Priya", "Tom", "Fatima", "Lucas", "Mei",
                "Diego", "Hannah", "Kwame", "Sofia", "Ravi", "Ingrid", "Omar", "Chloe", "Mateo")
_LAST_NAMES = ("Doe", "Dlamini", "Tanaka", "Hale", "Weber", "Li", "Sharma", "Nguyen", "O'Brien", "Rossi",
               "Kowalski", "Mensah", "García", "Andersson", "Haddad", "Martin", "de Vries", "Okafor")
_TITLES = ("Finance Manager", "Head of Operations", "CTO", "Founder & CEO", "Senior Accountant", "Office Manager",
           "Customer Success Lead", "IT Administrator", "Operations Director", "Product Owner",
           "Marketing Coordinator", "Managing Partner", "Software Engineer", "Executive Assistant")
_COMPANIES = ("Acme Ltd", "Clearflow Logistics", "Pixelbeam Capital", "Mansour & Wang Health", "Northwind GmbH",
              "Bluebird Studio", "Greenleaf Organics Inc.", "Harbor & Stone LLP", "Vantage Analytics",
              "Brightside Dental", "Kestrel Systems B.V.", "Maple Street Bakery")
_PHONES = ("+44 20 7946 0764", "(415) 555-0132", "+1 415 555 0199", "020 7946 0123", "+49 30 901820",
           "07700 900123", "+61 2 9876 5432", "555-0142")
_SITES = ("www.acme.example", "https://clearflow.example", "pixelbeam.example", "www.northwind.example/de",
          "linkedin.com/in/jane-doe", "https://www.bluebird.example")
_MOBILE_FOOTERS = ("Sent from my iPhone", "Get Outlook for Android", "Sent from my Galaxy", "Get Outlook for iOS",
                   "Sent from Yahoo Mail for iPhone", "Sent from Mail for Windows", "Sent from my iPad",
                   "Sent from my BlackBerry 10 smartphone.", "Sent with Proton Mail secure email.")
_AGENT_REPLIES = (
    "Thanks for reaching out! Could you reply with a screenshot of the error? We'll get back to you shortly.",
    "Hi, thank you for contacting Orbit Support. Your request has been received and we will respond as soon as "
    "possible.",
    "I'm out of the office until Monday with limited access to email. For urgent matters please contact Ana.",
    "Happy to help! Can you tell me which browser you are using?\n\nBest,\nTom\nOrbit Support",
    "We have escalated this to our engineering team and will get back to you within 24 hours.",
    "Thanks for your patience. Is this still happening after the latest update?",
)
_SUPPORT = ("Orbit Support <support@orbit.example>", "Tom from Orbit <tom@orbit.example>", "Orbit Help Desk",
            "support@orbit.example")
_DATES = ("Tue, Sep 9, 2025 at 2:03 AM", "Mon, 2 Mar 2026 at 10:02", "7 Jan 2026, at 05:25",
          "Thursday, March 5, 2026 9:14 AM", "3/2/2026 4:50 PM", "Fri, Feb 27, 2026, 16:40")


def email_noise(texts: Sequence[str], *, seed: int = 0, half: Half = "all") -> list[str]:
    """Each text of ``texts`` as the body of a realistic support email, randomised per text with ``seed``.

    ``half`` picks the phatic phrases drawn from: ``development`` or ``held_out`` (see the module
    docstring), or ``all`` of them. The query itself is never altered, so a perfect text preparation
    turns each body back into exactly what it makes of the bare query.
    """
    pools = _Pools.for_half(half)
    return [_email(text, random.Random(seed * 1_000_003 + index), pools) for index, text in enumerate(texts)]


class _Pools:
    """The phatic phrases of one half."""

    def __init__(self, greetings: Sequence[str], openers: Sequence[str], closers: Sequence[str],
                 sign_offs: Sequence[str]) -> None:
        self.greetings, self.openers, self.closers, self.sign_offs = greetings, openers, closers, sign_offs

    @classmethod
    def for_half(cls, half: Half) -> _Pools:
        pools = (_GREETINGS, _OPENERS, _CLOSERS, _SIGN_OFFS)
        if half == "all":
            return cls(*pools)
        start = 0 if half == "development" else 1
        return cls(*(pool[start::2] for pool in pools))


def _email(query: str, rng: random.Random, pools: _Pools) -> str:
    parts = [_opening(query, rng, pools)]
    closers = rng.sample(pools.closers, k=rng.choice((0, 1, 1, 2)))
    if closers:
        joined = query[-1:] in ".?!" and rng.random() < 0.5
        parts[-1:] = [parts[-1] + " " + " ".join(closers)] if joined else [parts[-1], " ".join(closers)]
    signature = len(parts)
    parts.append(_signature(rng, pools))
    if rng.random() < 0.3:
        parts.append(rng.choice(_MOBILE_FOOTERS))
    if rng.random() < 0.6:
        parts.append(rng.choice(_QUOTES)(rng))
    _add_corporate_noise(parts, signature, rng)
    return _join(parts, rng)


def _add_corporate_noise(parts: list[str], signature: int, rng: random.Random) -> None:
    """A "-- " delimiter above the signature, an inline logo in it, a legal disclaimer below it (drawn
    after everything else, so the rest of a body does not depend on them)."""
    if rng.random() < 0.15:
        parts[signature] = "-- \n" + parts[signature].split("\n", 1)[-1]
    if rng.random() < 0.1:
        parts[signature] += f"\n[cid:image00{rng.randint(1, 9)}.png@01DA4F2E.6B1C3A50]"
    if rng.random() < 0.1:
        parts.insert(signature + 1, rng.choice(_DISCLAIMERS))


_DISCLAIMERS = (
    "This email and any attachments are confidential and intended solely for the addressee. If you have "
    "received this email in error, please notify the sender and delete it.",
    "CONFIDENTIALITY NOTICE: This message may contain privileged information. If you are not the intended "
    "recipient, any use of it is prohibited.",
    "Please consider the environment before printing this email.",
)


def _opening(query: str, rng: random.Random, pools: _Pools) -> str:
    """Greeting, opening filler and the query: the greeting on its own line, in front of the query or
    absent; the filler in the query's paragraph or on a line of its own."""
    greeting = rng.choice(pools.greetings) if rng.random() < 0.8 else ""
    opener = rng.choice(pools.openers) if rng.random() < 0.5 else ""
    body = query
    if opener:
        body = f"{opener} {query}" if rng.random() < 0.5 else f"{opener}\n{query}"
    if greeting and rng.random() < 0.25:
        return f"{greeting} {body}"
    return f"{greeting}\n\n{body}" if greeting else body


def _signature(rng: random.Random, pools: _Pools) -> str:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    sign_off = rng.choice(pools.sign_offs)
    style = rng.random()
    if style < 0.2:
        return f"{sign_off}\n{first}"
    if style < 0.35:
        return f"{sign_off.rstrip(',!')}, {first}"
    lines = [sign_off, f"{first} {last}"]
    if rng.random() < 0.5:
        lines.append(f"{rng.choice(_TITLES)} | {rng.choice(_COMPANIES)}")
    else:
        lines += [rng.choice(_TITLES), rng.choice(_COMPANIES)]
    extras = [f"{rng.choice(('T', 'Tel', 'Phone', 'M', 'Mobile', 'Direct'))}: {rng.choice(_PHONES)}",
              rng.choice(_SITES), f"{first.lower()}@{rng.choice(('acme', 'clearflow', 'kestrel'))}.example"]
    lines += rng.sample(extras, k=rng.randint(0, 2))
    return "\n".join(lines) if rng.random() < 0.7 else "\n".join([lines[0], "", *lines[1:]])


def _quoted_lines(rng: random.Random) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in rng.choice(_AGENT_REPLIES).split("\n"))


def _gmail(rng: random.Random) -> str:
    return f"On {rng.choice(_DATES)} {rng.choice(_SUPPORT)} wrote:\n\n{_quoted_lines(rng)}"


def _apple(rng: random.Random) -> str:
    return f"On {rng.choice(_DATES)}, {rng.choice(_SUPPORT)} wrote:\n\n{_quoted_lines(rng)}"


def _outlook(rng: random.Random) -> str:
    rule = rng.choice(("________________________________\n", "", "-----Original Message-----\n"))
    header = (f"From: {rng.choice(_SUPPORT)}\nSent: {rng.choice(_DATES)}\nTo: Jane Doe <jane@acme.example>\n"
              f"Subject: RE: [Ticket #{rng.randint(10000, 99999)}] Your request")
    return f"{rule}{header}\n\n{rng.choice(_AGENT_REPLIES)}"


def _forward(rng: random.Random) -> str:
    opener = rng.choice(("---------- Forwarded message ---------", "Begin forwarded message:",
                         "-------- Original message --------"))
    return (f"{opener}\nFrom: {rng.choice(_SUPPORT)}\nDate: {rng.choice(_DATES)}\nSubject: Your request\n"
            f"To: <jane@acme.example>\n\n{rng.choice(_AGENT_REPLIES)}")


def _bare_quote(rng: random.Random) -> str:
    return _quoted_lines(rng)


_QUOTES: tuple[Callable[[random.Random], str], ...] = (_gmail, _apple, _outlook, _forward, _bare_quote)


def _join(parts: Sequence[str], rng: random.Random) -> str:
    """Paragraphs apart by a blank line, sometimes by a bare line break as hurried writers do."""
    return "".join(part if not index else rng.choice(("\n\n", "\n\n", "\n")) + part
                   for index, part in enumerate(parts))
