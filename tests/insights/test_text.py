"""Text preparation: the customer's words survive, everything around them and all personal data goes."""

from __future__ import annotations

import re
from datetime import date

import pytest

from insights.analysis.noise import email_noise
from insights.analysis.text import (
    Turn,
    clean_message,
    clean_subject,
    is_auto_reply,
    prepare_ticket,
    redact,
    split_sentences,
)
from tickets.demo import demo_records, demo_truth
from tickets.demo_catalog import PROBLEMS_BY_KEY

PROBLEM = "The export button is greyed out since Monday."


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # quoted replies, in several clients and languages
        (f"{PROBLEM}\n\nOn Tue, Sep 9, 2025 at 2:03 AM Tom <support@orbit.example> wrote:\n> Hi\n> Best", PROBLEM),
        (f"{PROBLEM}\n\nOn Thu, Sep 18, 2025 at 2:32 PM Aiko Tanaka <\nsupport@orbit.example> wrote:\n> Hi", PROBLEM),
        (f"{PROBLEM}\n\nOn 7 Jan 2026, at 05:25, Dan <support@orbit.example> wrote:\n> Hi", PROBLEM),
        (f"{PROBLEM}\n\n________________________________\nFrom: Tom <s@o.example>\nSent: September 2, 2025 04:50\n"
         "To: Jakub <j@c.example>\nSubject: Re: Help\n\nHi Jakub,", PROBLEM),
        (f"{PROBLEM}\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nTo: me\nSubject: x\n\nold", PROBLEM),
        (f"{PROBLEM}\n\nAm 02.09.2025 um 04:50 schrieb Marcus Hale <support@orbit.example>:\n> Hallo", PROBLEM),
        (f"{PROBLEM}\n\nLe mar. 2 sept. 2025 à 04:50, Marcus <support@orbit.example> a écrit :\n> Bonjour", PROBLEM),
        (f"{PROBLEM}\n\nEl mar, 2 sept 2025 a las 4:50, Marcus (<s@o.example>) escribió:\n> Hola", PROBLEM),
        (f"{PROBLEM}\n\nVon: Marcus <s@o.example>\nGesendet: Dienstag, 2. September 2025\nAn: Hans\nBetreff: AW: x",
         PROBLEM),
        (f"{PROBLEM}\n\n##- Please type your reply above this line -##\n\nYour request (48213) has been updated.",
         PROBLEM),
        ("> Which browser?\nChrome 120 on Windows.\n> Does it happen on mobile?\nYes, on iOS too.",
         "Chrome 120 on Windows.\nYes, on iOS too."),
        # signatures, sign-offs, mobile footers
        (f"{PROBLEM}\n\nThanks!\nSam\n\nSam Dlamini | Founder\nMansour & Wang Health", PROBLEM),
        (f"{PROBLEM}\n\nThank you\nMichael\n\nWeber & de Vries Group | +44 20 7946 0764", PROBLEM),
        (f"{PROBLEM}\n\nJakub Li\nHead of Operations | Clearflow Logistics\n+44 20 7946 0794", PROBLEM),
        (f"{PROBLEM}\n\n--\nAlex Weber\nCTO, Pixelbeam Capital\nwww.pixelbeam.example", PROBLEM),
        (f"{PROBLEM}\n\nBest regards,\nMaya\n\nSent from my iPhone", PROBLEM),
        (f"{PROBLEM}\n\nMit freundlichen Grüßen\nHans Müller", PROBLEM),
        (f"{PROBLEM}\n\nEnvoyé de mon iPhone", PROBLEM),
        (f"{PROBLEM}\n\nCheers\nOlivia", PROBLEM),
        # greetings
        (f"Hi team,\n\n{PROBLEM}", PROBLEM),
        (f"Hello Orbit team,\n\n{PROBLEM}", PROBLEM),
        (f"Dear Support,\n{PROBLEM}", PROBLEM),
        (f"Hey, {PROBLEM}", PROBLEM),
        ("Hi again, it's happening again.", "it's happening again."),
        # HTML leftovers
        ("<div>Hi team,</div><div>The export&nbsp;button is greyed out &amp; stuck.<br>Since Monday.</div>"
         "<div class=\"gmail_quote\">On Mon, Jan 5 Support wrote:<blockquote>Old</blockquote></div>",
         "The export button is greyed out & stuck.\nSince Monday."),
        # boilerplate
        ("Name: Jane Doe\nEmail: jane@acme.example\nCompany: Acme\nTopic: Other\n\nMessage:\n" + PROBLEM, PROBLEM),
        ("Name: Jane Doe\nE-mail: jane@acme.example\nMessage: " + PROBLEM, PROBLEM),
        (f"{PROBLEM}\n\nKind regards,\nJane Doe\nFinance Manager | Acme Ltd\n\nThis email and any attachments are "
         "confidential and intended solely for the addressee. If you have received this email in error, delete it.",
         PROBLEM),
        (f"{PROBLEM}\n\nTo unsubscribe from this group, send an email to x@y.example\nView this email in your browser",
         PROBLEM),
        ("Re my ticket #48213: the export still fails. [#48213]", "Re my ticket: the export still fails."),
        # nothing to say
        ("Thanks, that worked!", ""),
        ("ok", ""),
        ("great, all good now", ""),
        ("\N{THUMBS UP SIGN}", ""),
        ("I'm out of the office until Monday with limited access to email. For urgent matters contact Ana.", ""),
    ],
)
def test_clean_message_keeps_only_what_the_customer_wrote(body: str, expected: str) -> None:
    assert clean_message(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "The unsubscribe link in your emails leads to an error page.",
        "From: the dashboard, I click export and nothing happens.",
        "Sent from the dashboard, the report is empty.",
        "Export broken\n\nPDF Export Broken",
        "The invite link has expired.\n\nWe use SSO via Okta and the Admin Console shows nothing.",
        "Our automatic reply emails are not being sent since the update.",
        "No, that didn't help.",
    ],
)
def test_clean_message_leaves_problem_statements_that_look_like_noise_alone(body: str) -> None:
    assert clean_message(body) == body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("I'm out of the office until Monday with limited access to email.", True),
        ("Automatic reply: I am on leave and will respond when I'm back.", True),
        ("Out of Office: back on 12 May", True),
        ("Abwesenheitsnotiz: Ich bin bis 12.09. nicht im Büro.", True),
        ("Je suis absent jusqu'au 5 septembre.", True),
        ("Our automatic reply emails are not being sent since the update.", False),
        ("I was on vacation last week and now the export is broken.", False),
        ("The out of office banner in your app shows the wrong dates.", False),
    ],
)
def test_is_auto_reply(body: str, expected: bool) -> None:
    assert is_auto_reply(body) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail me at jane.doe+test@acme.co.uk please", "Mail me at [email] please"),
        ("Call +44 20 7946 0958 or +1 (415) 555-0132", "Call [phone] or [phone]"),
        ("US 415-555-0132, (415) 555 0132, 1-800-555-0199", "US [phone], [phone], [phone]"),
        ("UK 020 7946 0958 or 07700 900123, DE +4915123456789", "UK [phone] or [phone], DE [phone]"),
        ("phone: 5550123. Call me back at 555 0123", "phone: [phone]. Call me back at [phone]"),
        ("The card number is 4000 0000 0000 0002 if that helps.", "The card number is [card] if that helps."),
        ("Cards 4242-4242-4242-4242, 4242424242424242 and 3782 822463 10005", "Cards [card], [card] and [card]"),
        ("IBAN DE89 3704 0044 0532 0130 00 or GB82WEST12345698765432", "IBAN [iban] or [iban]"),
        ("https://app.example.com/reset/9f8e7d6c5b4a39281706f5e4d3c2b1a0?token=abc123&user=5",
         "https://app.example.com/reset/[token]?token=[token]&user=5"),
        ("see https://x.example/dl?id=7&sig=ZZ9&X-Amz-Signature=abc", "see https://x.example/dl?id=7&sig=[token]&X-Amz-Signature=[token]"),
        ("key sk_live_4eC39HqLyjWDarjtT1zdp7dc and ghp_16C7e42F292c6912E7710c838347Ae178B4a",
         "key [token] and [token]"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0",
         "Authorization: Bearer [token]"),
        ("my password is hunter22, password: Summer", "my password is [token], password: [token]"),
    ],
)
def test_redact_replaces_personal_data_with_typed_placeholders(text: str, expected: str) -> None:
    redacted = redact(text)
    assert redacted.text == expected
    assert redact(redacted.text).text == redacted.text  # idempotent
    assert sum(redacted.counts.values()) == expected.count("[")


@pytest.mark.parametrize(
    "text",
    [
        "Version 5.1.2 on iOS 17.4 and Android 14, app 5.2.1",
        "On 2025-09-02 at 14:30, 02.09.2025, 9/2/2025",
        "We imported 10,000 rows and 14,500 contacts for $1,188.00 (€1,740.00)",
        "ARN 123456789012, req_70ce2e1b0824, INV-2025-68094, ENG-3871, VAT DE123456789",
        "Open 0900-1700 GMT+2, 192.168.0.1, the limit is 1,000/min, error 429",
        "Not a card: 4242 4242 4242 4241",
        "https://help.orbit.example/articles/how-to-export-a-pdf-report-quickly",
        "the password reset email never arrives and the api key rotation failed",
    ],
)
def test_redact_leaves_numbers_that_are_not_personal_data_alone(text: str) -> None:
    assert redact(text).text == text


def test_prepare_ticket_reads_the_customer_side_only() -> None:
    turns = [
        Turn("bot", "Hi Ana \N{WAVING HAND SIGN} How can we help today?"),
        Turn("customer", "hi"),
        Turn("customer", "Invoices go to ana@acme.example, who left. Please send them to me instead."),
        Turn("agent", "Done: invoices now go to you."),
        Turn("agent", "Customer is on pro.", is_public=False),
        Turn("customer", "Same account as before, ana.b@acme.example."),
        Turn("customer", "Thanks, that worked!"),
    ]
    prepared = prepare_ticket("Re: [Ticket #4711] Invoices going to the wrong person", turns)
    assert prepared.subject == "Invoices going to the wrong person"
    assert prepared.sentences == (
        "Invoices go to [email], who left.",
        "Please send them to me instead.",
        "Same account as before, [email].",
    )
    assert prepared.text == "\n".join([prepared.subject, *prepared.sentences])
    assert prepared.redactions == {"email": 2}


def test_prepare_ticket_drops_generic_and_repeated_subjects_and_empty_tickets() -> None:
    chat = prepare_ticket("The export is broken", [Turn("customer", "The export is broken. Please fix.")])
    assert chat.subject == "" and chat.sentences == ("The export is broken.", "Please fix.")
    assert clean_subject("Help") == clean_subject("Conversation with Ana") == clean_subject("Re: your message") == ""
    auto = prepare_ticket("Automatic reply", [Turn("customer", "Automatic reply: I am on leave until May.")])
    assert (auto.text, auto.sentences, auto.redactions) == ("", (), {})


def test_split_sentences_keeps_numbers_and_abbreviations_together() -> None:
    assert split_sentences("Delete my data (GDPR Art. 17). It is 5.2. e.g. the app.\nnext line") == [
        "Delete my data (GDPR Art. 17).", "It is 5.2.", "e.g. the app.", "next line"
    ]


# --- the demo data: hundreds of realistic tickets --------------------------------------------------------

DEMO_TODAY = date(2026, 3, 1)
_LEAKS = {
    "email": re.compile(r"[\w.+-]+@[\w-]+\.\w"),
    "phone": re.compile(r"\+\d{1,3}[ \d]{6,}|555 01\d\d|7946 \d{4}"),
    "card": re.compile(r"4000 0000 0000 0002|\d{4}[ -]\d{4}[ -]\d{4}"),
    "quote": re.compile(r"wrote:|^(?:From|Sent|To|Subject):|^>|_{8}|Original Message", re.M),
    "signature": re.compile(r"^(?:--|Sent from my \w+|Get Outlook|Orbit Support)$|\|", re.M),
    "sign-off": re.compile(r"^(?:Thanks[,!]?|Thank you|Best,|Best regards,|Cheers,|Kind regards,|Regards,)$", re.M),
    "greeting": re.compile(r"^(?:Hi|Hello|Hey|Dear|Good morning)\b[^.?!\n]{0,20}[,!]?$", re.M | re.I),
    "form": re.compile(r"^(?:Name|Email|Company|Topic|Message):", re.M),
}


@pytest.fixture(scope="module")
def demo_tickets() -> list[tuple[str, list[Turn], tuple[str, ...]]]:
    truth = demo_truth(count=400, seed=11, today=DEMO_TODAY)
    return [
        (record.subject, [Turn(m.author_role, m.body, m.is_public) for m in record.messages],
         truth[record.external_id])
        for record in demo_records(count=400, seed=11, today=DEMO_TODAY)
    ]


def test_demo_tickets_lose_all_noise_and_personal_data(
    demo_tickets: list[tuple[str, list[Turn], tuple[str, ...]]],
) -> None:
    for subject, turns, _ in demo_tickets:
        text = prepare_ticket(subject, turns).text
        leaks = [kind for kind, pattern in _LEAKS.items() if pattern.search(text)]
        assert not leaks, (leaks, text)


def test_demo_tickets_keep_the_problem_statement(
    demo_tickets: list[tuple[str, list[Turn], tuple[str, ...]]],
) -> None:
    """Each ticket's opening says its main problem with one of the catalog's phrasings; the words of
    that phrasing (typos aside) must all be in the prepared text."""
    shares = []
    for subject, turns, problems in demo_tickets:
        if not problems:
            continue
        text_words = _words(prepare_ticket(subject, turns).text)
        best = max(len(_words(said) & text_words) / len(_words(said)) for said in PROBLEMS_BY_KEY[problems[0]].says)
        assert best >= 0.5, (problems[0], text_words)  # the demo puts typos even in short phrasings
        shares.append(best)
    assert sum(shares) / len(shares) > 0.97


def _words(text: str) -> set[str]:
    """Lower-cased words of five letters or more, template slots left out."""
    return set(re.findall(r"[a-z]{5,}", re.sub(r"\{\w+\}", " ", text).lower()))


# --- polite filler, greetings, sign-offs: social talk goes, the problem stays ----------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f"Hope you're well.\n{PROBLEM}\nThank you for your time.", PROBLEM),
        (f"Hope you are doing well! {PROBLEM} Sorry to bother you again.", PROBLEM),
        (f"{PROBLEM}\n\nI appreciate your help! Please let me know.", PROBLEM),
        (f"Hope you're having a good week. {PROBLEM}\nThanks in advance", PROBLEM),
        (f"{PROBLEM}\nAny help would be appreciated\nLooking forward to your reply", PROBLEM),
        (f"I hope this email finds you well. {PROBLEM} Let me know if anything is unclear.", PROBLEM),
        (f"{PROBLEM} Sorry for the long email, and sorry to bug you. How are you doing?", PROBLEM),
        (f"{PROBLEM}\nCould you help me, please? Have a great weekend!", PROBLEM),
        # what carries the problem stays, however polite
        ("Sorry, my card was declined twice.", "Sorry, my card was declined twice."),
        ("Can you help me reset my password?", "Can you help me reset my password?"),
        ("Thanks for the fix. It doesn't work on iOS.", "It doesn't work on iOS."),
        ("Sorry, I found a bug in the export.", "Sorry, I found a bug in the export."),
        ("Please check my email settings.", "Please check my email settings."),
        ("What time is it in your support hours?", "What time is it in your support hours?"),
        ("I hope you can refund the 2 charges.", "I hope you can refund the 2 charges."),
        (f"Have a relaxing weekend. {PROBLEM} Thank you so much for the speedy turnaround!", PROBLEM),
        (f"I hope you had a restful holiday. {PROBLEM} Sorry again for the confusion earlier.", PROBLEM),
        ("Hope you can refund me.", "Hope you can refund me."),
        ("I hope the payment clears by Monday.", "I hope the payment clears by Monday."),
        ("do i have any off days this week", "do i have any off days this week"),
        (f"{PROBLEM} No rush, whenever you get a chance.", PROBLEM),
        ("No, the refund never came.", "No, the refund never came."),
        ("I would like to cancel my card.", "I would like to cancel my card."),
        ("Thanks, but I think it's the wrong amount.", "Thanks, but I think it's the wrong amount."),
        ("Sorry for the late payment, my card was declined.", "Sorry for the late payment, my card was declined."),
        # a question that only chases an answer says nothing; one that names its subject does
        (f"{PROBLEM} Any idea what's going on?", PROBLEM),
        (f"{PROBLEM}\nIs anyone looking at this?", PROBLEM),
        ("Any update on my refund?", "Any update on my refund?"),
        ("What is going on with my invoice?", "What is going on with my invoice?"),
        ("How does it work?", "How does it work?"),
    ],
)
def test_prepare_ticket_drops_polite_filler_and_keeps_the_problem(body: str, expected: str) -> None:
    assert prepare_ticket("", [Turn("customer", body)]).text == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f"Morning team,\n\n{PROBLEM}", PROBLEM),
        (f"Evening all, {PROBLEM}", PROBLEM),
        (f"To whom it may concern,\n{PROBLEM}", PROBLEM),
        (f"Dear Sir/Madam,\n{PROBLEM}", PROBLEM),
        (f"Hi team,\n\nHello, {PROBLEM}", PROBLEM),
        (f"{PROBLEM}\n\nTake care,\nMei Rossi\nOffice Manager\nBluebird Studio", PROBLEM),
        (f"{PROBLEM}\n\nMany thanks in advance,\nJakub", PROBLEM),
        (f"{PROBLEM}\n\nThanks, Mei", PROBLEM),
        (f"{PROBLEM}\n\nWarmly,\nPriya Sharma\nwww.acme.example", PROBLEM),
        (f"{PROBLEM}\n\nSent from my BlackBerry 10 smartphone.", PROBLEM),
        (f"{PROBLEM}\n\nSent with Proton Mail secure email.", PROBLEM),
        (f"{PROBLEM}\n\nCheers mate,\nFatima Sharma\nFounder & CEO", PROBLEM),
        (f"{PROBLEM}\n\nHave a great day, Sam", PROBLEM),
        ("Dear all,\n\nHOW LONG DOES A REFUND TAKE\nSpeak soon.\n\n-- \nHannah", "HOW LONG DOES A REFUND TAKE"),
        (f"{PROBLEM}\n\nKind regards from Lisbon, Aiko", PROBLEM),
        (f"Greetings from Berlin,\n\n{PROBLEM}", PROBLEM),
        (f"Hi all - {PROBLEM}", PROBLEM),
        (f"Hello from the Acme team,\n\n{PROBLEM}", PROBLEM),
        (f"Hey, hope all good,\n{PROBLEM}", PROBLEM),
        ("Hi, my card is broken!", "my card is broken!"),
        (f"{PROBLEM}\n\nKind regards, and thanks again,\nJane Doe\nFinance Manager | Acme Ltd", PROBLEM),
        ("Morning meetings no longer sync to the calendar.", "Morning meetings no longer sync to the calendar."),
        ("The export fails.\nIt broke, Tom", "The export fails.\nIt broke, Tom"),
        ("what is love", "what is love"),
    ],
)
def test_clean_message_strips_greetings_and_sign_offs_in_their_many_forms(body: str, expected: str) -> None:
    assert prepare_ticket("", [Turn("customer", body)]).text == expected


def test_an_agents_quoted_words_do_not_make_a_request_an_auto_reply() -> None:
    body = (f"{PROBLEM}\n\nOn Mon, 2 Mar 2026 at 10:02 Orbit Support <support@orbit.example> wrote:\n"
            "> I'm out of the office until Monday with limited access to email.\n"
            "> We will get back to you as soon as possible.")
    assert clean_message(body) == PROBLEM


def test_a_customer_on_vacation_is_no_auto_reply() -> None:
    body = "I am on vacation in Spain and need to change my PIN.\nI'd appreciate a reply at your earliest convenience."
    assert prepare_ticket("", [Turn("customer", body)]).text == "I am on vacation in Spain and need to change my PIN."


# --- no request, no theme -------------------------------------------------------------------------------

FORWARD = ("---------- Forwarded message ---------\nFrom: Orbit Billing <billing@orbit.example>\nDate: Mon, 2 Mar 2026\n"
           "Subject: Your invoice\nTo: <jane@acme.example>\n\nYour invoice for March is ready.")


@pytest.mark.parametrize(
    "body",
    [
        "", "   \n ", "Hi team,", "Good morning!", "Hello?", "Morning team,",  # greetings alone
        "thanks", "Thanks so much!!", "ok", "OK, great, all good now", "Thanks, Mei",  # thanks, ok
        "Hope you're well. Thanks in advance!", "Sorry to bother you again. Have a nice day",  # filler alone
        "I'm out of the office until Monday with limited access to email.",  # auto-replies
        "Automatic reply: I am on leave and will respond when I'm back.",
        FORWARD, f"FYI\n\n{FORWARD}", f"Please see below.\n\n{FORWARD}",  # forwards with no comment
        "test", "Test", "testing 123", "Testing, testing.", "this is a test, please ignore",  # tests
        "Test message - please ignore", "Just testing, sorry!",
    ],
)
def test_a_ticket_that_asks_nothing_has_no_request(body: str) -> None:
    prepared = prepare_ticket("", [Turn("customer", body)])
    assert prepared.no_request and prepared.text == "" and prepared.sentences == ()


@pytest.mark.parametrize(
    "body",
    [
        "test emails are not arriving",
        "thanks but the export still fails",
        "The test button does nothing.",
        "Testing the webhook returns a 500 error.",
        "ok so the invoice is wrong",
        "Hi, my card was declined.",
        f"The March invoice is wrong, see below.\n\n{FORWARD}",
        "Help! I can't log in.",
    ],
)
def test_near_misses_are_requests(body: str) -> None:
    assert not prepare_ticket("", [Turn("customer", body)]).no_request


def test_noisy_emails_prepare_to_what_their_queries_prepare_to() -> None:
    """The email noise generator's bodies (development half) come out as their bare queries do."""
    queries = ["I am still waiting on my card?", "Why was my transfer declined?", "a cup of coffee please",
               "My card isn't here yet.", "how do i reset my password"]
    for query, body in zip(queries * 20, email_noise(queries * 20, seed=5, half="development"), strict=True):
        assert prepare_ticket("", [Turn("customer", body)]).text == prepare_ticket("", [Turn("customer", query)]).text, body
