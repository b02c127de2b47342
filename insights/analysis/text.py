"""Text preparation: what of a ticket or chat conversation the theming engine reads, and redaction.

``prepare_ticket(subject, turns)`` keeps the customer's side only (the subject and the customer's
public turns), strips what a customer did not write about their problem (quoted replies, signatures,
sign-offs, greetings, auto-replies, HTML leftovers, web-form wrappers, legal disclaimers, tracking
footers, ticket-number noise, turns that only say "thanks"), then redacts personal data. Nothing here
keeps the unredacted text, so whatever a caller stores or shows from a ``PreparedText`` is redacted.

``redact(text)`` replaces personal data and secrets with typed placeholders (``PLACEHOLDERS``).

Every pattern is compiled once at import; the hot path gates the costlier ones on a cheap substring
test, because this runs on every ingested ticket (thousands per second per worker). Every step takes
time linear in its input (a customer writes every character of it: see tests/insights/test_text_linear.py),
and a message and a ticket are read up to a cap.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

PLACEHOLDERS: Mapping[str, str] = {
    "email": "[email]",
    "phone": "[phone]",
    "card": "[card]",
    "iban": "[iban]",
    "token": "[token]",
}


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation. ``role`` is ``customer``, ``agent`` or ``bot``; body is plain text
    or HTML as the help desk delivered it."""

    role: str
    body: str
    is_public: bool = True


@dataclass(frozen=True, slots=True)
class RedactedText:
    """``text`` with personal data replaced; ``counts`` maps a kind of ``PLACEHOLDERS`` to how many."""

    text: str
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PreparedText:
    """What analysis reads of one ticket, already redacted.

    ``sentences`` are the customer's cleaned sentences in conversation order, without duplicates (for
    explanations and highlighting); ``subject`` is the cleaned subject, "" when it says nothing
    ("Help", "Re: your message", "Conversation with Ana") or repeats the first sentence; ``text`` is
    the subject (if any) and the sentences, one per line, and is "" when the customer said nothing
    about a problem (an auto-reply, a bare "thanks!"). ``redactions`` counts placeholders by kind.
    """

    text: str
    subject: str
    sentences: tuple[str, ...]
    redactions: Mapping[str, int]

    @property
    def no_request(self) -> bool:
        """True when the customer asked nothing (greetings, thanks, auto-replies, tests, empty):
        such a ticket is kept out of themes and out of the triage queue."""
        return not self.text


# --- the ticket ---------------------------------------------------------------------------------------


def prepare_ticket(subject: str, turns: Sequence[Turn]) -> PreparedText:
    """Clean and redact ``subject`` and the customer's public turns of one ticket; see ``PreparedText``.

    Agent and bot turns and internal notes are ignored; a customer turn that is an auto-reply or only
    says thanks / ok / hi is dropped. Turns after the first ``MAX_TICKET_CHARACTERS`` of the customer's
    bodies are not read. Pure and deterministic; time linear in the length of what is read.
    """
    counts: Counter[str] = Counter()
    sentences: list[str] = []
    seen: set[str] = set()
    read = 0
    for turn in turns:
        if turn.role != "customer" or not turn.is_public:
            continue
        read += min(len(turn.body), _MAX_BODY)
        if read > MAX_TICKET_CHARACTERS:
            break
        body = clean_message(turn.body)
        if not body:
            continue
        redacted = redact(body)
        counts.update(redacted.counts)
        first = True
        for sentence in split_sentences(redacted.text):
            if _is_courtesy(sentence):
                continue
            if first:  # "Hi team,\n\nHope you're well. Hello, my card ...": a greeting behind a courtesy
                sentence, first = _strip_greeting(sentence), False
            key = sentence.casefold()
            if key not in seen and _HAS_WORD.search(sentence):  # a customer often repeats a line verbatim
                seen.add(key)
                sentences.append(sentence)
    cleaned_subject = _prepared_subject(subject, sentences, counts)
    lines = [cleaned_subject, *sentences] if cleaned_subject else sentences
    return PreparedText("\n".join(lines), cleaned_subject, tuple(sentences), dict(counts))


def _prepared_subject(subject: str, sentences: Sequence[str], counts: Counter[str]) -> str:
    cleaned = clean_subject(subject)
    if not cleaned:
        return ""
    redacted = redact(cleaned)
    first = sentences[0].casefold().rstrip(".!?") if sentences else ""
    if first.startswith(redacted.text.casefold().rstrip(".!?")):
        return ""  # chat tools use the first message as the subject
    counts.update(redacted.counts)
    return redacted.text


# Possessive quantifiers (``*+``) and bounded scans throughout: a customer controls every character,
# and a quantifier that can hand characters back to a neighbour taking the same ones turns one long
# run of spaces into minutes of backtracking (tests/insights/test_text_linear.py).
_SUBJECT_PREFIX = re.compile(r"^\s*+(?:(?:re|fwd?|aw|wg|sv|vs|tr|rv|antw|odp|r)\s*+(?:\[\d++\]\s*+)?:\s*+)+", re.I)
_TICKET_TAG = re.compile(
    r"\[\s*+(?:(?i:ticket|case|request|incident)\s*+)?(?:#\s*+)?[A-Z]*+-?\d{3,}+\s*+\]|\(\s*+#[A-Z]*+-?\d{3,}+\s*+\)"
)
# "ticket #48213" keeps "ticket": the customer talks about a ticket, the number is noise.
_TICKET_NUMBER = re.compile(
    r"\b((?i:ticket|case|request|incident))\s*+(?:#|(?i:no)\.|(?i:number|id)(?:\s*+:)?)\s*+[A-Z]*+-?\d{3,}+\b"
)


def _strip_ticket_numbers(text: str) -> str:
    return _TICKET_NUMBER.sub(r"\1", _TICKET_TAG.sub("", text))


_GENERIC_SUBJECT = re.compile(
    r"^(?:help|help needed|question|questions?|support|support request|problem|issue|urgent|hi|hello|hey|fyi"
    r"|your message|message|new message|automatic reply|auto[- ]?reply|out of (?:the )?office|no subject"
    r"|request|inquiry|enquiry|contact form|contact us|feedback|test|(?:chat|conversation|message) (?:with|from)\b.*"
    r"|new (?:submission|conversation|ticket)\b.*)$",
    re.I,
)


def clean_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and ticket numbers; "" when it names no problem."""
    text = _SUBJECT_PREFIX.sub("", _strip_ticket_numbers(_normalize(subject)).strip())
    text = " ".join(text.split()).strip(" -:|")
    return "" if _GENERIC_SUBJECT.match(text.strip(" .!?()")) else text


# --- one message --------------------------------------------------------------------------------------


def clean_message(body: str) -> str:
    """What the customer wrote in ``body`` about their problem, unredacted; "" if nothing.

    Order matters: quoted replies go first (they contain other people's signatures, greetings and
    auto-replies), then boilerplate (a disclaimer below a signature would hide the signature's end), then the web
    form wrapper, the signature and the greeting. Only the first ``MAX_MESSAGE_CHARACTERS`` of the
    plain text are read.
    """
    text = _cut_at_first(_normalize(body), _QUOTE_START)
    if ">" in text:
        text = _QUOTED_LINE.sub("", text)  # removed, not cut at: inline replies sit between quoted lines
    # Only after the quote has gone: an agent's quoted "we will get back to you" is no auto-reply.
    if _looks_auto_reply(text):
        return ""
    text = _strip_boilerplate(text)
    text = _strip_form(text)
    text = _strip_signature(text)
    text = _strip_greeting(text)
    text = _tidy(text)
    return "" if _says_nothing(text) else text


_HTML_TAG = re.compile(r"</?(?:html|head|body|div|p|br|span|a|b|i|u|strong|em|font|table|tbody|td|tr|th|ul|ol|li"
                       r"|img|blockquote|hr|h[1-6]|pre|code|meta|style|o:p)\b[^<>]*+>", re.I)
# A tag's scans stop at the next "<": unbounded, every "<div" of "<div <div <div ..." read to the end.
_HTML_QUOTE = re.compile(r"<blockquote\b|<div\b[^<>]*\b(?:class|id)=[\"']?(?:gmail_quote|divRplyFwdMsg|appendonsend"
                         r"|moz-cite-prefix|yahoo_quoted|OutlookMessageHeader)", re.I)
_HTML_INVISIBLE_START = re.compile(r"<(script|style|head|title)\b|<!--", re.I)
_HTML_INVISIBLE_END = {name: re.compile(rf"</{name}\s*+>", re.I) for name in ("script", "style", "head", "title")}
_HTML_BREAK = re.compile(r"<br\s*+/?>|</?(?:p|div|li|tr|h[1-6]|ul|ol|table|blockquote|pre)\b[^<>]*+>", re.I)
_ANY_TAG = re.compile(r"</?[A-Za-z][\w:-]*+(?:\s[^<>]*+)?/?>")
_ENTITY = re.compile(r"&(?:#\d{1,6}|#x[\da-fA-F]{1,6}|[A-Za-z]{2,8});")
_ODD_CHAR = re.compile("[\xa0\u2019\u200b-\u200d\ufeff\u2028\u2029\r\t]")
_INVISIBLE_CHARS = str.maketrans({"\xa0": " ", "\u2019": "'", "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "",
                                  "\u2028": "\n", "\u2029": "\n", "\r": None, "\t": " "})


# Bounds on what a message and a ticket may cost. Every step is linear, but a ticket can hold hundreds
# of messages: a body is cut at _MAX_BODY before it is reduced to text (a styled Outlook email is
# rarely 200 KB), the plain text at MAX_MESSAGE_CHARACTERS (some 3,000 words; no one describes a
# problem at that length, and the theming reads the first few sentences).
_MAX_BODY = 500_000
MAX_MESSAGE_CHARACTERS = 20_000
# A chat of 500 long turns is some 200 KB; past this a ticket is a flood, and its first turns say it.
MAX_TICKET_CHARACTERS = 2_000_000


def _normalize(text: str) -> str:
    """Plain text with ``\\n`` line ends, at most ``MAX_MESSAGE_CHARACTERS`` of it (cut at a line end
    when one is near): HTML reduced to its text (its quoted part dropped)."""
    text = text[:_MAX_BODY]
    if "<" in text and _HTML_TAG.search(text):
        text = _cut_at_first(_without_invisible_html(text), _HTML_QUOTE)
        text = _ANY_TAG.sub("", _HTML_BREAK.sub("\n", text))
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    text = text.translate(_INVISIBLE_CHARS) if _ODD_CHAR.search(text) else text
    if len(text) <= MAX_MESSAGE_CHARACTERS:
        return text
    cut = text.rfind("\n", MAX_MESSAGE_CHARACTERS // 2, MAX_MESSAGE_CHARACTERS)
    return text[: cut if cut > 0 else MAX_MESSAGE_CHARACTERS]


def _without_invisible_html(text: str) -> str:
    """``text`` without comments, scripts, styles, head and title. An element that is never closed hides
    the rest, as in a browser. One pass: each search starts where the previous one ended (a lazy
    ``<!--.*?-->`` re-reads the rest from every unclosed "<!--")."""
    kept: list[str] = []
    position = 0
    while start := _HTML_INVISIBLE_START.search(text, position):
        kept.append(text[position:start.start()])
        name = start.group(1)
        if name is None:
            end = text.find("-->", start.end())
            position = -1 if end < 0 else end + 3
        else:
            close = _HTML_INVISIBLE_END[name.lower()].search(text, start.end())
            position = close.end() if close else -1
        if position < 0:
            return "".join(kept)
    kept.append(text[position:])
    return "".join(kept)


def _cut_at_first(text: str, pattern: re.Pattern[str]) -> str:
    match = pattern.search(text)
    return text[: match.start()] if match else text


_WROTE = r"(?:wrote|schrieb|a écrit|escribió|schreef|ha scritto|escreveu|skrev|napisał\(a\)|napisał|kirjoitti)"
_HEADER_OPENER = r"(?-i:On|Am|Le|El|Op|Il|Em|Den|W dniu|Dne|Pe)\b"
_FROM = r"(?:From|Von|De|Van|Da|Från|Fra|Od|Kimden|Lähettäjä)"
_TO = r"(?:To|An|À|A|Para|Aan|Till|Til|Do|Cc|Subject|Betreff|Objet|Asunto|Onderwerp|Oggetto|Assunto|Ämne|Emne)"
_SENT = r"(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Fecha|Verzonden|Inviato|Data|Skickat|Sendt|Wysłano|Lähetetty)"
_ORIGINAL = (r"(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|Oorspronkelijk bericht"
             r"|Messaggio originale|Mensagem original|Originalmeddelande|Oprindelig meddelelse|Opprinnelig melding"
             r"|Forwarded message|Weitergeleitete Nachricht|Message transféré|Mensaje reenviado|Doorgestuurd bericht)")
_QUOTE_START = re.compile(
    "|".join((
        # Gmail, Apple Mail, Thunderbird and their translations; the header may wrap onto a second line.
        # The lookahead reads at most a line's first 300 characters once: "[^\n]*[<@]" tried every "@"
        # of a line as the address and scanned 300 more characters from each.
        rf"^[ \t]*+(?:{_HEADER_OPENER}|(?=[^\n]{{0,300}}[<@]))[^\n]{{0,300}}?(?:\n[^\n]{{0,300}}?)?\b{_WROTE}"
        rf"[^\n]{{0,80}}?:[ \t]*+$",
        rf"^[ \t]*+-{{2,}}+[ \t]*+{_ORIGINAL}[ \t]*+-{{2,}}",
        rf"^[ \t]*+_{{8,}}+[ \t]*+\n[ \t]*+\**{_FROM}\**[ \t]?:",
        # Outlook's header block: From, then Sent/Date and To/Subject within a few lines.
        rf"^[ \t]*+\**{_FROM}\**[ \t]?:[^\n]*\n(?:[^\n]*\n){{0,3}}?[ \t]*+\**{_SENT}\**[ \t]?:[^\n]*\n"
        rf"(?:[^\n]*\n){{0,3}}?[ \t]*+\**{_TO}\**[ \t]?:",
        r"^[ \t]*+(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht|Début du message réexpédié)[ \t]*+:",
        r"^[ \t]*+##-(?=[^\n]*(?:reply above this line|oberhalb dieser Zeile))[^\n]*-##",
        r"^[ \t]*+-{3,}[ \t]*+(?:Reply|Please reply) above this line",
    )),
    re.M | re.I,
)

_QUOTED_LINE = re.compile(r"^[ \t]*+>[^\n]*(?:\n|\Z)", re.M)
_DISCLAIMER = re.compile(
    r"(?:\bthis (?:e-?mail|message|communication|transmission)(?: and any (?:attachments?|files?)[^\n.]{0,40})?"
    r" (?:is|are|may be|contains?|may contain) (?:strictly )?(?:confidential|privileged|intended)"
    r"|\bif you (?:are not the intended recipient|have received this (?:e-?mail|message|communication) in error)"
    r"|\bplease consider the environment before printing"
    r"|^[ \t]*+(?:confidentiality notice|legal disclaimer|disclaimer)[ \t]*+:"
    r"|\bdiese (?:e-?mail|nachricht) (?:enthält|kann) vertrauliche"
    r"|\bce (?:message|courriel)[^\n.]{0,60} (?:est|sont) (?:strictement )?confidentiel)",
    re.M | re.I,
)
_FOOTER_LINE = re.compile(
    r"^[ \t]*+(?:to unsubscribe\b|click here to unsubscribe|unsubscribe(?: here)?[ \t]*+(?:\||$)"
    r"|view (?:this (?:e-?mail|message) )?in (?:your |a )?browser"
    r"|you (?:are )?receiv(?:ed|ing) this (?:e-?mail|message|notification) because"
    r"|manage (?:your )?(?:e-?mail |notification |subscription )?preferences\b"
    r"|(?:new )?(?:message|submission|request) (?:from|via) (?:the |our )?(?:web ?site|contact|web|support) ?form\b"
    r"|submitted (?:via|from|through) (?:the |our )?[\w -]{0,30}form\b)[^\n]*\n?",
    re.M | re.I,
)
_INLINE_NOISE = re.compile(r"\[(?:cid|image|inline image)[^\]\n]{0,200}\]", re.I)


_DISCLAIMER_WORDS = ("confidential", "privileged", "intended", "in error", "environment", "disclaimer",
                     "legal notice", "vertraulich", "confidentiel")
_FOOTER_WORDS = ("unsubscribe", "browser", "receiv", "preferences", "form")
_TICKET_WORDS = ("#", "[", "ticket", "case", "request", "incident")


def _strip_boilerplate(text: str) -> str:
    """Legal disclaimers (from the line of the first one on), tracking footers, inline images, ticket
    numbers. The patterns only run when a word they need occurs: this runs on every message."""
    lower = text.lower()
    if any(word in lower for word in _DISCLAIMER_WORDS) and (match := _DISCLAIMER.search(text)):
        text = text[: text.rfind("\n", 0, match.start()) + 1]
    if any(word in lower for word in _FOOTER_WORDS):
        text = _FOOTER_LINE.sub("", text)
    if "[" in text:
        text = _INLINE_NOISE.sub("", text)
    if any(word in lower for word in _TICKET_WORDS):
        text = _strip_ticket_numbers(text)
    return text


_FORM_FIELD = re.compile(
    r"[ \t]*+(?:full name|your name|first name|last name|name|e-?mail(?: address)?|your e-?mail|company(?: name)?"
    r"|organi[sz]ation|phone(?: number)?|telephone|mobile|topic|subject|category|product|priority|website|url"
    r"|account(?: id)?|plan|country|order (?:number|id)|reason|type|department|request type"
    r"|submitted(?: at| on)?|date|time)[ \t]*+:[^\n]*",
    re.I,
)
_FORM_MESSAGE_LABEL = re.compile(
    r"^[ \t]*+(?:message|your message|description|details|comments?|question|your question|how can we help\??"
    r"|problem description|what happened\??)[ \t]*+:[ \t]*+", re.I,
)


def _strip_form(text: str) -> str:
    """A web form's field lines (two or more at the top) and the label in front of the message."""
    head = text.lstrip()
    if not (_FORM_FIELD.match(head) or _FORM_MESSAGE_LABEL.match(head)):
        return text
    lines = text.split("\n")
    fields = 0
    index = 0
    while index < len(lines) and (not lines[index].strip() or _FORM_FIELD.fullmatch(lines[index])):
        fields += bool(lines[index].strip())
        index += 1
    rest = "\n".join(lines[index:])
    rest, labelled = _FORM_MESSAGE_LABEL.subn("", rest, count=1)
    return rest if fields + labelled >= 2 else text


_DELIMITER_OR_MOBILE = re.compile(
    r"^(?:--[ \t]?|__[ \t]?)$"
    r"|^[ \t]*+(?:Sent from (?:my [\w-]+|[A-Z][\w-]*)(?: [\w-]+){0,4}\.?"
    r"|Sent (?:via|with|using) [A-Z][\w.]*(?: [\w.]+){0,4}"
    r"|Get Outlook for \w+"
    r"|Von meinem \w[^\n]{0,30} gesendet|Envoyé de mon \w[^\n]{0,30}|Enviado desde mi \w[^\n]{0,30}"
    r"|Verzonden (?:vanaf|met) mijn \w[^\n]{0,30}|Inviato da(?:l mio)? \w[^\n]{0,30}|Enviado do meu \w[^\n]{0,30}"
    r"|Skickat från min \w[^\n]{0,30})[ \t]*+$",
    re.M,
)
_SIGN_OFF = re.compile(
    r"^[ \t]*+(?:thanks(?: (?:again|a lot|so much|in advance|and regards))?|thank you(?: (?:very much|so much|again"
    r"|in advance))?|many thanks|thx|tia|ty|best(?: regards| wishes)?|(?:kind|warm|best)(?:est)? regards|regards"
    r"|cheers|sincerely|yours(?: sincerely| truly)?|all the best|br|mfg|mit freundlichen grüßen|viele grüße"
    r"|beste grüße|liebe grüße|lg|cordialement|bien cordialement|bien à vous|saludos(?: cordiales)?|un saludo"
    r"|atentamente|met vriendelijke groet(?:en)?|groeten|cordiali saluti|saluti|distinti saluti|atenciosamente"
    r"|abraços|med vänliga hälsningar|hälsningar|mvh|vh)[ \t]*+[,.!]*+[ \t]*+$",
    re.M | re.I,
)
_MAX_SIGNATURE_LINES = 7
_MAX_SIGNATURE_LINE = 80


def _strip_signature(text: str) -> str:
    """Cut at a "-- " delimiter or a mobile footer, then at a sign-off line that ends the message
    (only a short signature-like block may follow it), then drop trailing signature paragraphs."""
    text = _cut_at_first(text, _DELIMITER_OR_MOBILE)
    # Only a sign-off among the last lines can end the message: scanning from the top would read the
    # rest again after every "thanks" line.
    start = _start_of_last_lines(text, _MAX_SIGNATURE_LINES + 1)
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if _ends_message(text, start, end):
            text = text[:start]
            break
        start = end + 1
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    while len(paragraphs) > 1 and _is_signature_paragraph(paragraphs[-1]):
        paragraphs.pop()
    return "\n\n".join(paragraphs)


def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


_CLOSING_WORDS = _vocabulary("rgds warmly talk speak later hugs xx xo br kr mvh vh lg mfg take care love")
_CLOSING_MARKERS = _vocabulary("""
thanks thank thankyou thx ty tia tks ta cheers regards rgds wishes best sincerely yours faithfully respectfully
cordially warmly care soon later gratitude appreciated love hugs br kr
""")
_MAX_SIGN_OFF = 60


def _is_sign_off(line: str) -> bool:
    """A closing line: "Kind regards,", "Take care!", "Many thanks in advance", "Thanks, Mei"; one of the
    fixed forms of ``_SIGN_OFF`` (other languages) or, in English, a few words of social talk with a
    closing word among them or a name after them ("Have a great day, Sam", "Greetings from Lisbon, Aiko":
    a capitalised word, a place or a company, may be among them)."""
    line = line.strip()
    if not line or len(line) > _MAX_SIGN_OFF or line.endswith("?"):
        return False
    if _SIGN_OFF.match(line):
        return True
    head, _, name = line.partition(",")
    names = name.strip(" .!").split()
    if len(names) > 3 or not all(_NAME_WORD.fullmatch(word) for word in names):
        head, names = line, []  # "Kind regards, and thanks again,": no name after the comma
    written = _WORD.findall(head)
    words = [_CONTRACTION.sub("", word.lower()) for word in written]
    if not 0 < len(words) <= 6 or words[0] in _QUESTION_WORDS or any(word in _AUXILIARIES for word in words):
        return False  # "what is love", "I will call you later" say something
    known = [word in _FUNCTION_WORDS or word in _SOCIAL_WORDS or word in _CLOSING_WORDS for word in words]
    if names:
        return any(known) and all(is_known or word[0].isupper() for is_known, word in zip(known, written, strict=True))
    return all(known) and any(word in _CLOSING_MARKERS for word in words)


def _ends_message(text: str, start: int, end: int) -> bool:
    """The line ``text[start:end]`` is a sign-off with at most a signature block below it. A line shaped
    like one but not worded like one ("Cheers mate,") counts only with a name below it and words above
    it, and when it is no greeting ("Dear all,")."""
    line, tail = text[start:end], text[end:]
    if _is_sign_off(line):
        return _is_signature_block(tail)
    return bool(tail.strip() and text[:start].strip() and _ends_like_sign_off(line)
                and not _GREETING_LINE.match(line) and _is_signature_block(tail))


def _ends_like_sign_off(line: str) -> bool:
    """A few words ending in a comma, above a name ("Cheers mate,", "Kind regards from Lisbon,"): the shape
    of a sign-off whatever its words."""
    words = [word.lower() for word in _WORD.findall(line)]
    return (line.rstrip().endswith(",") and 0 < len(words) <= 4 and not _HAS_DIGIT_OR_PLACEHOLDER.search(line)
            and not any(word in _AUXILIARIES or word in _QUESTION_WORDS for word in words))


def _start_of_last_lines(text: str, count: int) -> int:
    """Where the last ``count`` non-blank lines of ``text`` begin (0 if it has fewer)."""
    end = len(text)
    while count and end > 0:
        start = text.rfind("\n", 0, end) + 1
        count -= bool(text[start:end].strip())
        end = start - 1
    return max(end + 1, 0) if count == 0 else 0


def _is_signature_block(tail: str) -> bool:
    lines = [line for line in tail.split("\n") if line.strip()]
    return len(lines) <= _MAX_SIGNATURE_LINES and all(_is_title_line(line.strip()) for line in lines)


_SIGNATURE_SIGNAL = re.compile(
    r"\||@|\bwww\.|https?://|\+\d|\(\d{3}\)|\d{3}[ .-]\d{3,4}|\b(?:ceo|cto|cfo|coo|cio|vp|founder|co-founder|owner"
    r"|president|partner|manager|director|head of|lead|engineer|administrator|admin|officer|consultant|specialist"
    r"|coordinator|assistant|analyst|developer|accountant|operations|inc\.?|ltd\.?|llc|gmbh|ag|s\.a\.|b\.v\.|sas"
    r"|pty|plc|corp\.?|tel|mobile|phone)\b",
    re.I,
)
_SMALL_WORDS = frozenset({"of", "and", "&", "the", "for", "de", "van", "von", "der", "la", "le", "du", "da", "at", "|",
                          "-", "\u2013", "y", "e", "di", "in"})
_NAME_WORD = re.compile(r"[A-ZÀ-Þ][a-zà-ÿ'-]+|[A-Z]\.?")


def _is_signature_paragraph(paragraph: str) -> bool:
    """A short block of title-cased lines (names, titles, companies, numbers) that says no sentence."""
    lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
    if len(lines) > _MAX_SIGNATURE_LINES or not all(_is_title_line(line) for line in lines):
        return False
    if _SIGNATURE_SIGNAL.search(paragraph):
        return True
    words = paragraph.split()
    return len(lines) == 1 and len(words) <= 3 and all(_NAME_WORD.fullmatch(word) for word in words)


def _is_title_line(line: str) -> bool:
    if len(line) > _MAX_SIGNATURE_LINE or line[-1] in "?!:" or len(line.split()) > 12:
        return False
    for word in line.split():
        bare = word.strip(",;()")
        if bare and bare[0].islower() and bare not in _SMALL_WORDS and not any(c in bare for c in ".@/0123456789"):
            return False
    return True


_GREETING_WORD = (r"(?i:hi|hello|hey|heya|hiya|hullo|yo|dear|(?:good )?(?:morning|afternoon|evening)|good day"
                  r"|g'day|greetings|salutations|howdy|hallo|to whom it may concern"
                  r"|guten (?:tag|morgen)|liebes?|sehr geehrte[rs]?|bonjour|salut|hola|buenos días|buenas tardes"
                  r"|buenas|ciao|buongiorno|olá|oi|hej|hei|goedemorgen|goedemiddag|beste)")
# who is greeted: the team, a name, "Sir/Madam", "Customer Service" or the greeting again ("Hi hi,")
_ADDRESSEE = (r"(?:[ \t]++(?:(?i:there|all|everyone|everybody|team|folks|guys|support|again|y'all|sir|madam|or|and"
              r"|customer|service|care|help|desk|people|friends|colleagues|ladies|gentlemen|both|hi|hello|hey|from)\b"
              r"|[A-ZÀ-Þ][\w'./-]*)){0,4}")
_GREETING_LINE = re.compile(rf"\A\s*+{_GREETING_WORD}{_ADDRESSEE}[ \t]*+[,!.:;\-–—]*+[ \t]*+(?:\n|\Z)")
_GREETING_PREFIX = re.compile(rf"\A\s*+{_GREETING_WORD}{_ADDRESSEE}[ \t]*+[,!:;\-–—][ \t]++(?=\S)")


# A first line that opens with a greeting and ends in a comma or "!" is a greeting when its other words
# are social talk or names: "Hello from the Acme team,", "Hey, hope all good," ("Hi, my card is
# broken!" is not).
_GREETING_OPENING = re.compile(rf"\A\s*+{_GREETING_WORD}\b(?P<rest>[^\n]{{0,60}}?)[,!]++[ \t]*+(?:\n|\Z)")


def _strip_greeting(text: str) -> str:
    """A greeting on its own first line ("Hello Orbit team,") or in front of the first sentence; a second
    one after it too ("Hi team,\n\nHello, ..."): email clients and templates add their own."""
    for _ in range(2):
        match = _GREETING_LINE.match(text) or _GREETING_PREFIX.match(text) or _social_greeting(text)
        if not match:
            break
        text = text[match.end():]
    return text


def _social_greeting(text: str) -> re.Match[str] | None:
    match = _GREETING_OPENING.match(text)
    if not match:
        return None
    words = _WORD.findall(match.group("rest"))
    social = all(word.lower() in _FUNCTION_WORDS or word.lower() in _SOCIAL_WORDS or word[0].isupper()
                 for word in words)
    return match if social else None


_BLANK_LINES = re.compile(r"\n(?:[ \t]*+\n)+")
_SPACE_RUN = re.compile(r"[ \t]{2,}+")


def _tidy(text: str) -> str:
    # rstrip, not "[ \t]+$": the pattern re-reads a run of spaces from each of its characters.
    text = _BLANK_LINES.sub("\n\n", "\n".join(line.rstrip(" \t") for line in text.split("\n")))
    return _SPACE_RUN.sub(" ", text).strip()


_WORD = re.compile(r"[^\W\d_]+(?:['][^\W\d_]+)?")
_PLEASANTRY_WORDS = """
ok okay k kk oki okey thanks thank thankyou thx ty tysm tks you so much very a lot lots great perfect cool awesome
nice good all now got it that worked works working did much appreciated appreciate sounds will do the for quick
help your fast response reply again brilliant excellent wonderful fantastic super lovely many cheers yes yep yeah
sure amazing solved resolved fixed sorted that's thats it's its alright right understood noted fine and have day
weekend hi hello hey there bye goodbye see me please fyi below forwarding forwarded fw fwd
"""
_PLEASANTRIES = frozenset(_PLEASANTRY_WORDS.split())


def _says_nothing(text: str) -> bool:
    """True when a message is only pleasantries ("ok thanks", "great, all good now"), symbols, or a test
    ("test", "testing 123", "This is a test, please ignore.")."""
    words = [word.group().lower() for word in _WORD.finditer(text)]
    if all(word in _PLEASANTRIES for word in words):
        return True
    return any(word in _TEST_MARKERS for word in words) and all(
        word in _TEST_WORDS or word in _PLEASANTRIES for word in words)


_TEST_MARKERS = _vocabulary("test testing tested tests")
_TEST_WORDS = _TEST_MARKERS | _vocabulary("""
this is a an just only please ignore disregard me message email mail ticket one two three again sorry do not
kindly delete
""")


# A sentence is phatic (social talk, not about the problem) by its words and its form, not by matching
# whole stock sentences. Every word is a function word or a word of social talk (hope, sorry, week,
# help, reply...); it denies or contrasts nothing ("it doesn't work" says a problem in function words)
# and holds no number or placeholder; and it is a courtesy in form: it thanks, hopes, apologises or wishes
# (then it may also speak of the email and the reader's time: "Sorry for the long email."), it asks
# politely with no object ("Could you help me, please?"), it asks after the reader ("How are you
# doing?") or it is a verbless or imperative phrase of social words ("Have a great weekend!"). Words
# a request can be about ("check", "email", "time", "answer") are no social talk outside a thank-you:
# "check my email" and "give me the time" are requests.
_FUNCTION_WORDS = _vocabulary("""
i me my mine myself we us our ours you your yours yourself yourselves he him his she her it its they them their
this that these those there here a an the some any all each every both either one ones someone somebody anyone
anybody everyone everybody anything something everything else other another such same own
am is are was were be been being do does did doing have has had having will would shall should can could may might
must ought to of in on at by for from with without about into onto over under up down out off through via as than
then so too also very really quite rather just only even still already yet ever always again once soon now today
tonight later and or but nor if whether because since while when what which who whom whose why how where
much many more most lot lots little bit few bunch ton tons million whole way heaps loads plenty ever things thing
stuff earlier before yesterday recently lately previously last first far over end side
""")
_SOCIAL_WORDS = _vocabulary("""
thanks thank thankyou thx ty tia tks tysm ta cheers appreciate appreciated appreciating appreciation appreciative
grateful gratitude thankful hope hoping hoped hopefully sorry apologies apologise apologize apologising
apologizing apology pardon excuse please pls plz kindly advise advice help helping helped helpful assist assisting
assistance support supporting regards wishes wish wishing best warm warmest kind kindest sincerely respectfully
cordially truly faithfully well good great fine nice lovely wonderful fantastic amazing awesome excellent
brilliant super perfect cool happy glad pleased delighted keen fab day days week weeks weekend morning afternoon
evening night holiday holidays friday monday tuesday wednesday thursday saturday sunday season
going keeping treating finds hear hearing heard reply replies replying replied response responses respond
responding feedback back looking look looked touch reach reaching reached write writing wrote ask asking asked
patience understanding consideration attention effort efforts quick quickly prompt promptly asap possible
question questions query wondering wonder wondered curious let know knowing think thoughts need needed needs
get getting got provide providing details detail info information further additional stay safe
team guys folks people friends sir madam customer client long loyal resolution follow following followed
health healthy smoothly wellbeing hi hello hey dear greetings ok okay yes sure alright advance enjoy talk chat
speak speaking trust obliged forgive convenience earliest clear unclear sense welcome keep posted work job
speedy rapid timely restful multiple several various numerous guidance direction input tips clarification
turnaround next steps step mate pal buddy
terrific marvellous splendid grand superb stellar outstanding incredible fabulous neat sweet handy useful
generous patient friendly responsive busy hectic crazy calm peaceful relaxing relaxed productive smooth easy
easier easiest short shorter brief silly stupid dumb basic simple obvious small tiny minor directly personally
honestly gladly happily luckily whenever anytime sometime shortly eventually meantime meanwhile sooner
pain nuisance favour favor chance moment minute rush hurry pressure worries worry pleasure honour honor luck
fingers crossed heads love like understand realise realize imagine guess suppose meet greet catch bear mind
crew gang squad everybody y'all colleagues
""")
# Allowed only next to a thank-you, a hope, an apology or a wish.
_COURTESY_OBJECTS = _vocabulary("""
email emails mail message messages note letter time answer answers rest forward give bother bothering trouble
troubling disturb disturbing hassle inconvenience lengthy late delay delayed slow service emailing address place
wrong right weather start make makes sort sorted sorting fix fixed resolve resolved solve solved handle handled
take taking read reading contacting
""")
_GRATITUDE = _vocabulary("""
thanks thank thankyou thx ty tia tks tysm ta cheers appreciate appreciated appreciating appreciation appreciative
grateful gratitude thankful hope hoping hoped hopefully sorry apologies apologise apologize apologising
apologizing apology pardon regards wishes wish wishing enjoy trust obliged forgive
""")
_POLITE_ASK = _vocabulary("please pls plz kindly help helping assist assistance advise advice")
# A denial or a contrast says something is wrong: "thanks, but I think it's the wrong response".
_NEGATIONS = _vocabulary("not no never nothing none nobody nowhere cannot neither but however though although "
                         "unfortunately except")
_AUXILIARIES = _vocabulary("is are am was were has do does did can could will would should shall may might must")
_QUESTION_WORDS = _vocabulary("what when where which who whom whose why how")
_CONTRACTION = re.compile(r"'(?:s|re|m|d|ll|ve)$")
# "No rush", "no worries": a negation that reassures.
_REASSURANCES = _vocabulary("rush hurry worries worry pressure")
# "bug" is the topic of many a ticket; only in "bug you" is it social talk.
_PESTER = {"bug": "bother", "bugging": "bothering"}
_HAS_DIGIT_OR_PLACEHOLDER = re.compile(r"[\d\[]")


def _is_courtesy(sentence: str) -> bool:
    """A sentence that carries no content: pleasantries only ("ok thanks") or phatic (see above): "Hope
    you're well.", "Thanks in advance for your help!", "Sorry to bother you again.", "Stay safe."."""
    if _says_nothing(sentence):
        return True
    if _HAS_DIGIT_OR_PLACEHOLDER.search(sentence):
        return False
    words = [_CONTRACTION.sub("", word.lower()) for word in _WORD.findall(sentence)]
    words = [_PESTER.get(word, word) if following == "you" else word
             for word, following in zip(words, [*words[1:], ""], strict=True)]
    words = [word for word, following in zip(words, [*words[1:], ""], strict=True)
             if not (word == "no" and following in _REASSURANCES)]
    if not words or any(word in _NEGATIONS or word.endswith("n't") for word in words):
        return False
    social = [word for word in words if word not in _FUNCTION_WORDS]
    if _thanks_for(sentence, words) or _wishes_a_good_time(words):
        return True
    if _thanks_hopes_or_wishes(words):
        return all(word in _SOCIAL_WORDS or word in _COURTESY_OBJECTS for word in social)
    asks = sentence.rstrip().endswith("?") or words[0] in _QUESTION_WORDS
    if asks and social and all(word in _CHASER_WORDS for word in social):
        return True  # "Any idea what's going on?", "Is anyone looking at this?": chasing, not asking
    if not all(word in _SOCIAL_WORDS for word in social):
        return False
    if any(word in _POLITE_ASK for word in social) or _lets_know(words):
        return True
    if words[0] == "how" and len(words) > 2 and words[1] in ("are", "is", "have", "has", "was") and (
            "you" in words or "your" in words):
        return True  # "How are you?", "How was your weekend?"
    if not social:
        return False  # "down", "that is all": function words only, a command or an answer
    asks = sentence.rstrip().endswith("?") or words[0] in _QUESTION_WORDS
    return not asks and not any(word in _AUXILIARIES for word in words)


# A question made only of these (and function words) chases an answer without saying what about.
_CHASER_WORDS = _vocabulary("idea ideas clue update updates news status progress going happening looking look "
                            "looked reply response answer back hear heard")
_THANKS_FOR = _vocabulary("thanks thx cheers sorry apologies grateful thankful")
_MAX_THANKED_FOR = 6


def _thanks_for(sentence: str, words: Sequence[str]) -> bool:
    """"Thanks for the quick turnaround.", "Sorry for the multiple emails.": what one thanks for or is sorry
    for, in a few words, is no request, whatever the words (the rest must be social talk)."""
    for index, word in enumerate(words):
        thanked = word in _THANKS_FOR or (word == "you" and index and words[index - 1] == "thank")
        if not thanked:
            continue
        # "Sorry again for", "Thank you so much for": a few function words may come between
        between = next((index + 1 + gap for gap, next_word in enumerate(words[index + 1:index + 4])
                        if next_word not in _FUNCTION_WORDS or next_word == "for"), None)
        if between is None or words[between] != "for":
            continue
        after = words[between + 1:]
        clause = sentence.lower().split(" for ", 1)[-1]
        return (0 < len(after) <= _MAX_THANKED_FOR and "," not in clause and all(
            before in _FUNCTION_WORDS or before in _SOCIAL_WORDS for before in words[:index]))
    return False


_PERIODS = _vocabulary("""
day days week weekend morning afternoon evening night holiday holidays vacation break trip month year season
monday tuesday wednesday thursday friday saturday sunday christmas
""")
_WISH_VERBS = _vocabulary("have had having enjoy enjoyed enjoying hope hoping wish wishing")


def _wishes_a_good_time(words: Sequence[str]) -> bool:
    """"Have a relaxing weekend.", "I hope you had a restful holiday.": a wish for a period of time, whatever
    the adjectives (up to two, right before the period); the other words social talk."""
    if not words or words[-1] not in _PERIODS or not any(word in _WISH_VERBS for word in words):
        return False
    if words[0] in _AUXILIARIES or words[0] in _QUESTION_WORDS:
        return False  # "do I have any off days this week" asks
    end, adjectives = len(words) - 1, 0
    while end > 0 and adjectives < 2 and words[end - 1] not in _FUNCTION_WORDS:
        end, adjectives = end - 1, adjectives + 1
    return all(word in _FUNCTION_WORDS or word in _SOCIAL_WORDS for word in words[:end])


def _thanks_hopes_or_wishes(words: Sequence[str]) -> bool:
    """A thank-you, hope, apology or wish anywhere ("I look forward to", "Have a ..." too)."""
    return (any(word in _GRATITUDE for word in words) or words[:2] in (["have", "a"], ["have", "an"])
            or any(word == "forward" and words[index - 1] in ("look", "looking")
                   for index, word in enumerate(words) if index))


def _lets_know(words: Sequence[str]) -> bool:
    """"Let me know if anything is unclear.", "Let us know what you think"."""
    return len(words) > 2 and words[0] == "let" and words[1] in ("me", "us") and words[2] == "know"



_AUTO_REPLY_PREFIX = re.compile(
    r"\A\s*(?:auto(?:matic|matische?|mated)?[ -]?(?:reply|response|antwort|svar)|autoreply|out of (?:the )?office"
    r"|ooo\b|abwesenheitsnotiz|réponse automatique|respuesta automática|automatisch antwoord|risposta automatica"
    r"|resposta automática|autosvar|this is an automated (?:message|response|reply))",
    re.I,
)
_ABSENCE = re.compile(
    r"\b(?:i(?:'m| am| will be) (?:currently |now )?(?:out of (?:the )?office|away|on (?:\w+ )?(?:leave|vacation"
    r"|holidays?)|travelling|traveling|off)|ich bin (?:derzeit |zurzeit |bis )?[^.\n]{0,30}(?:nicht im büro|abwesend"
    r"|im urlaub)|je suis (?:actuellement )?(?:absent|en congés?)|estoy (?:fuera de la oficina|de vacaciones)"
    r"|ik ben (?:momenteel )?(?:afwezig|met vakantie)|sono (?:fuori ufficio|in ferie|assente))",
    re.I,
)
_RETURN = re.compile(
    r"\b(?:until|till|through|back on|return(?:ing)?|limited access|respond|reply|get back to you|urgent|in my absence"
    r"|please contact|bis|zurück|vertretung|jusqu|retour|hasta|regreso|tot|terug|fino)",
    re.I,
)
_STRONG_RETURN = re.compile(
    r"\b(?:until|till|back on|when i(?:'m| am) back|return(?:ing)?|limited access|in my absence|please contact|bis"
    r"|zurück|vertretung|jusqu|retour|hasta|regreso|terug|fino)",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s|\Z)|\n")
# Every _ABSENCE phrase holds one of these; the cheap test spares the pattern on ordinary messages.
_ABSENCE_WORDS = ("office", "away", "leave", "vacation", "holiday", "travel", " off", "büro", "abwesend", "urlaub",
                  "absent", "cong", "oficina", "vacaciones", "afwezig", "vakantie", "ufficio", "ferie", "assente")
_AUTO_REPLY_SCAN = 600
_AUTO_REPLY_MAX_LENGTH = 1500


def is_auto_reply(body: str) -> bool:
    """True for an out-of-office or other automatic reply (in English and a few common languages).

    Either the message opens like one ("Automatic reply:", "Out of Office", "Abwesenheitsnotiz"), or it
    is short and announces an absence together with a return date, a stand-in or a promise to reply.
    A customer who merely mentions an auto-reply feature in a longer message is not one.
    """
    return _looks_auto_reply(_normalize(body))


def _looks_auto_reply(text: str) -> bool:
    head = text[:_AUTO_REPLY_SCAN]
    if _AUTO_REPLY_PREFIX.match(head):
        return True
    if len(text) > _AUTO_REPLY_MAX_LENGTH:
        return False
    lower = head.lower()
    if not any(word in lower for word in _ABSENCE_WORDS):
        return False
    absence = _ABSENCE.search(head)
    if not absence:
        return False
    # The return date or stand-in is told with the absence, in its sentence or (but for a mere "reply")
    # the next: "I'm on vacation in Spain and need a new PIN" followed by "I'd appreciate a reply" is a
    # customer's request.
    end = _SENTENCE_END.search(head, absence.end())
    if _RETURN.search(head, absence.end(), end.start() if end else len(head)):
        return True
    following = _SENTENCE_END.search(head, end.end()) if end else None
    return bool(end and _STRONG_RETURN.search(head, end.end(), following.start() if following else len(head)))


# Lines are split first: "[ \t]*\n" as an alternative here re-read a run of spaces from each of them.
_SENTENCE_BREAK = re.compile(
    r"(?<=[.!?…])(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\betc\.)(?<!\bvs\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bNo\.)"
    r"(?<!\bca\.)(?<!\bapprox\.)(?<!\bArt\.)[ \t]+(?!\d)"
)
_HAS_WORD = re.compile(r"\w")


def split_sentences(text: str) -> list[str]:
    """Sentences and lines of ``text``, stripped, without pieces that hold no letter or digit."""
    return [piece.strip() for line in text.split("\n") for piece in _SENTENCE_BREAK.split(line)
            if _HAS_WORD.search(piece)]


# --- redaction ----------------------------------------------------------------------------------------


def redact(text: str) -> RedactedText:
    """Replace personal data and secrets in ``text`` with ``PLACEHOLDERS``; count them by kind.

    Redacts: secrets in URLs (``token=``, ``key=``, ``sig=``, ``password=``... values, long random path
    segments and query values), API keys (``sk_live_``, ``ghp_``, ``xoxb-``, AWS, Google, JWTs, ``api key:``
    / ``password:`` values, long hex or base64 runs), emails, IBANs (mod-97 checked), payment cards
    (13-19 digits, Luhn checked, contiguous or in the usual groups), and phone numbers (international
    ``+`` numbers, US ``(555) 010-1234`` and UK ``020 7946 0123`` layouts, and digit runs after "phone:",
    "call me at"...). Version numbers, dates, times, amounts, ids such as ``10,000`` or ``req_70ce2e1b0824``
    are left alone. Idempotent: redacting a redacted text changes nothing.
    """
    counts: Counter[str] = Counter()
    lower = text.lower()
    # Each family is gated on a cheap test: most texts hold no URL, key, address or long number.
    if "://" in lower or "www." in lower:
        text = _redact_urls(text, counts)
    if _LONG_RUN_HINT.search(text):
        text = _redact_matches(text, counts, _API_KEY, "token")
        text = _redact_matches(text, counts, _LONG_RUN, "token", _base64_like)
    if any(word in lower for word in _SECRET_WORDS):
        text = _redact_matches(text, counts, _LABELLED_SECRET, "token", _secret_value)
    if "@" in text:
        text = _redact_matches(text, counts, _EMAIL, "email")
    if _has_number_run(text):
        text = _redact_matches(text, counts, _IBAN, "iban", _iban_checksum)
        text = _redact_matches(text, counts, _CARD, "card", _luhn)
        text = _redact_matches(text, counts, _LABELLED_PHONE, "phone", _phone_digits)
        text = _redact_matches(text, counts, _PHONE, "phone", _phone_digits)
    return RedactedText(text, {kind: found for kind, found in counts.items() if found})


def _redact_matches(
    text: str,
    counts: Counter[str],
    pattern: re.Pattern[str],
    kind: str,
    check: Callable[[re.Match[str]], bool] | None = None,
) -> str:
    """Replace the matches of ``pattern`` that pass ``check`` (all if None) with ``kind``'s placeholder;
    with a capturing group, only its last group is replaced (the label in front of it stays)."""
    placeholder = PLACEHOLDERS[kind]

    def replace(match: re.Match[str]) -> str:
        if check is not None and not check(match):
            return match.group()
        counts[kind] += 1
        if not match.lastindex:
            return placeholder
        whole, start = match.group(), match.start()
        return whole[: match.start(match.lastindex) - start] + placeholder + whole[match.end(match.lastindex) - start:]

    return pattern.sub(replace, text)


_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]]")
# A parameter is read whole and its name tested after: "[\w.-]*?token[\w.-]*=" tried every "token" of
# a long name and read the rest of the name from each.
_URL_PARAM = re.compile(r"([?&;#][\w.\[\]-]*+=)(?!\[token)([^&;#\s]++)")
_SECRET_PARAM_NAME = re.compile(
    r"token|key|sig|signature|secret|password|passwd|pwd|pass|auth|session|jwt|credential|otp|code|hash", re.I
)
_URL_RANDOM_PART = re.compile(r"(?<=[/=])[A-Za-z0-9_~%-]{20,}(?=[/?&#;]|$)")


def _redact_urls(text: str, counts: Counter[str]) -> str:
    def secret_param(param: re.Match[str]) -> str:
        if not _SECRET_PARAM_NAME.search(param.group(1)):
            return param.group()
        counts["token"] += 1
        return param.group(1) + PLACEHOLDERS["token"]

    def scrub(match: re.Match[str]) -> str:
        url = _URL_PARAM.sub(secret_param, match.group())

        def random_part(part: re.Match[str]) -> str:
            if not _looks_random(part.group()):
                return part.group()
            counts["token"] += 1
            return PLACEHOLDERS["token"]

        return _URL_RANDOM_PART.sub(random_part, url)

    return _URL.sub(scrub, text)


def _looks_random(value: str) -> bool:
    """Mixed letters and digits, like a key or a signed id, not a readable slug ("how-to-export-pdf")."""
    digits = sum(c.isdigit() for c in value)
    letters = sum(c.isalpha() for c in value)
    return digits >= 3 and letters >= 3 and value.count("-") < len(value) // 6


_API_KEY = re.compile(
    r"\b(?:(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|(?:sk|pk)-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_\w{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|glpat-[\w-]{20,}"
    # a JWT starts a run: tried inside one, each "eyJ" of "eyJ-eyJ-..." read the rest of the run
    r"|(?<![\w-])eyJ[\w-]{8,}+\.[\w-]{8,}+\.[\w-]{8,}+|[A-Fa-f0-9]{32,})\b"
)
_LABELLED_SECRET = re.compile(
    r"(?i)\b(?:bearer|api[ _-]?key|api[ _-]?token|access[ _-]?token|secret|client[ _-]?secret|password|passwd|pwd"
    r"|passcode)\b(?P<sep>[ \t]*+[:=][ \t]*+|[ \t]++is[ \t]++|[ \t]++(?=[\w+/=.-]*+\d))([\"']?[^\s\"',;\[]{6,}[\"']?)"
)
_LONG_RUN_HINT = re.compile(r"[A-Za-z0-9_-]{20}")
_SECRET_WORDS = ("bearer", "key", "token", "secret", "passw", "pwd", "passcode")
_LONG_RUN = re.compile(r"(?<![\w+/=-])[A-Za-z0-9+_-]{32,}={0,2}(?![\w+/=-])")


def _secret_value(match: re.Match[str]) -> bool:
    """After "password:" anything is a secret; after "password is" only what does not read as a word."""
    value = match.group(match.lastindex or 0).strip("\"'.")
    if any(c in match.group("sep") for c in ":="):
        return True
    return any(c.isdigit() for c in value) or len(value) >= 16 or not value.isalpha()


def _base64_like(match: re.Match[str]) -> bool:
    value = match.group()
    mixed = any(c.isdigit() for c in value) and any(c.islower() for c in value) and any(c.isupper() for c in value)
    return mixed and value.count("-") + value.count("_") <= len(value) // 8  # a slug has many separators


_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
# Every IBAN, card and phone number the patterns below accept holds a run like this one: a "+", "(" or
# digit, five or more of the run's characters and a digit. Read as whole runs (one pass), not searched
# for from every "(" of "((((...".
_NUMBER_RUN = re.compile(r"[+(\d][\d ().-]*+")
_CARD = re.compile(
    r"(?<![\w.,+-])(?:\d{4}(?:[ -]\d{4}){2}(?:[ -]\d{4})?(?:[ -]\d{1,4})?|\d{4}[ -]\d{6}[ -]\d{4,5}|\d{13,19})"
    r"(?![\w-]|[.,]\d)"
)
_PHONE = re.compile(
    r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,5}\)[ .-]?\d{1,5})?(?:[ .-]\d{1,5}){1,6}(?![\w-]|[.,]\d)"  # international
    r"|(?<![\w+])\+\d{8,15}(?![\w-]|[.,]\d)"
    r"|(?<![\w.+-])00[ ]?[1-9]\d{0,2}(?:[ .-]\d{1,5}){2,6}(?![\w-]|[.,]\d)"  # international, 00 prefix
    r"|(?<![\w.+/-])(?:1[ .-])?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-]|[.,]\d)"  # US
    r"|(?<![\w.+/-])0\d{2,4}[ -]\d{3,4}(?:[ -]?\d{3,4})?(?![\w-]|[.,]\d)"  # UK and other national
)
_LABELLED_PHONE = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|mob|cell|fax|whatsapp|call (?:me|us)(?: back)?(?: at| on)?"
    r"|reach me (?:at|on)|text me (?:at|on))\b[:.]?[ \t]*+(\+?[\d(][\d ().-]{5,18}\d)"
)


def _has_number_run(text: str) -> bool:
    for run in _NUMBER_RUN.finditer(text):
        number = run.group().rstrip(" ().-")
        if len(number) >= 7 and number[-1].isdigit():
            return True
    return False


def _phone_digits(match: re.Match[str]) -> bool:
    """Plausible length: international numbers have 8-15 digits, national ones with a trunk 0 at least 9
    (so opening hours "0900-1700" stay), labelled ones at least 7."""
    number = match.group(match.lastindex or 0)
    digits = sum(c.isdigit() for c in number)
    if match.lastindex:
        return 7 <= digits <= 15
    return (8 if number.startswith("+") else 9) <= digits <= 15


def _luhn(match: re.Match[str]) -> bool:
    digits = [int(c) for c in match.group() if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _iban_checksum(match: re.Match[str]) -> bool:
    value = match.group().replace(" ", "")
    if not 15 <= len(value) <= 34:
        return False
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
