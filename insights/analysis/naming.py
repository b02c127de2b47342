"""Theme names, descriptions and keywords, in the customers' own words.

A theme's name is a phrase its customers wrote: a clause of 3–7 words taken from the theme's most
central tickets (or the opening of a longer clause, cut where a phrase of its own begins: "My card
payment was declined abroad | in Spain"), chosen by how central and how distinctive it is for the
theme. No model writes it
and nothing leaves the machine; the words are the tickets' own (already redacted by text
preparation), so a product manager reads "My card was declined abroad", not "card declined".

- **Distinctive**: class-based TF-IDF (as in BERTopic) over the themes' texts scores each word by
  its frequency in the theme times how rare it is across themes; a clause scores by the weights of
  its distinct words, over the square root of its length, so a short clause holding the theme's
  key words wins over a long one that holds them too.
- **Central**: a clause from a text near the theme's centroid counts for more than one from its
  edge (the text's rank among the theme's naming texts, which come most central first).
- **Supported**: every topical word of a name, and every token with a digit, occurs in at least
  two of the theme's texts, so a name never carries one customer's order number, product code or
  person; a name holds one of the theme's keywords and scores at least half its best clause.
- **Meant**: with the representation's encoder, a name must be nearer its own theme's centroid
  than any other theme's; of the best clauses, the best that is wins.

Keywords are 3–5 single topical words ranked the same way (no two-letter fragments, no plural of
a word already listed). The description quotes the theme's most central request sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from insights.analysis.representation import l2_normalise

__all__ = [
    "STOP_WORDS", "WEAK_WORDS", "WORD", "Encoder", "ThemeWords", "name_themes", "nearest_own_share", "numbered",
    "topical",
]

WORD = re.compile(r"(?u)\b[a-zA-Z][a-zA-Z']+\b")
# Generic words that make a fragment, not a topic.
STOP_WORDS = ENGLISH_STOP_WORDS | {
    "just", "really", "like", "think", "tried", "try", "please", "thanks", "get", "got", "im", "ive", "dont",
    "does", "did", "doing", "having", "let", "lets", "wanna", "gonna",
}
# Words that carry no topic of their own: time, fillers and all-purpose verbs. A name needs two
# topical words (neither these nor stop words): "hour ago", "keeps getting" say nothing.
WEAK_WORDS = frozenset({
    "ago", "yesterday", "today", "tomorrow", "morning", "afternoon", "evening", "tonight", "week", "weeks",
    "day", "days", "hour", "hours", "minute", "minutes", "time", "times", "month", "months", "year", "years",
    "anymore", "again", "still", "always", "never", "ever", "sometimes", "asap", "soon", "now", "whole",
    "keep", "keeps", "kept", "getting", "gets", "work", "works", "worked", "working", "show", "shows", "showed",
    "say", "says", "said", "send", "sent", "make", "makes", "made", "need", "needs", "needed", "want", "wants",
    "help", "pls", "plz", "thx", "ok", "okay", "hi", "hello", "hey", "test", "testing", "attached", "see",
    "look", "looks", "looked", "know", "let", "check", "checked", "checking", "happen", "happened", "happens",
    "issue", "issues", "problem", "problems", "question", "questions", "thing", "things", "stuff", "way",
    "lot", "able", "use", "using", "used", "urgent", "sure", "tell", "told", "wondering", "guys", "team",
    "people", "someone", "everyone", "anyone", "went", "go", "goes", "going", "come", "comes", "came",
    "take", "takes", "took", "give", "gives", "gave", "put", "puts", "set", "stop", "start", "started",
    "especially", "main", "new", "old", "good", "bad", "right", "wrong", "same", "different", "reached",
    "thank", "sorry", "dear", "yes", "yeah", "hiya", "cheers", "regards", "wish", "hope", "appreciate",
})

MIN_NAME_WORDS, MAX_NAME_WORDS = 3, 7
N_KEYWORDS = 5
_CANDIDATE_TEXTS = 60  # the theme's most central texts that offer name clauses
_CANDIDATES = 8  # per theme, compared by meaning when an encoder is given
_CENTRAL_RANK = 20.0  # a clause from the text ranked r weighs 1 / (1 + r / 20)
_MAX_QUOTE = 160
# A clause ends at sentence punctuation, a line, brackets or quotes, or a dash between spaces; a
# comma too, so "Hi, my card was declined" offers "my card was declined".
# A dot, comma or colon between digits ("4.2", "10,000", "12:30") ends nothing.
_CLAUSE = re.compile(r"(?:[^\n.,;:!?()\[\]\"“”|]|(?<=\d)[.,:](?=\d))+")
_SENTENCE = re.compile(r"(?:[^\n.!?]|(?<=\d)\.(?=\d))+[.!?]?")
_TOKEN = re.compile(r"[^\s]+")
_PLACEHOLDER = re.compile(r"\[[a-z]+\]")
# Words that open a clause without belonging to the problem: greetings, fillers, politeness.
_OPENERS = frozenset({
    "hi", "hello", "hey", "hiya", "dear", "ok", "okay", "so", "and", "but", "also", "um", "uh", "well", "yes",
    "no", "please", "pls", "plz", "thanks", "thank", "hmm", "oh", "btw", "anyway", "again", "then", "or",
})


Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class ThemeWords:
    name: str
    description: str
    keywords: tuple[str, ...]


def name_themes(
    groups: Sequence[Sequence[str]], *, centroids: np.ndarray | None = None, encode: Encoder | None = None,
) -> list[ThemeWords]:
    """Name, description and keywords per theme; ``groups[i]`` is theme i's texts, most central
    first. Bigger themes choose first; no two themes get the same name.

    With ``encode`` (the representation's ``transform``) and the themes' unit ``centroids``, a name
    must also mean its own theme: of a theme's best clauses, the best one whose vector is nearer to
    its own centroid than to any other theme's is chosen (else the one nearest its own)."""
    weights, vocabulary = _word_weights(groups)
    keywords = [_keywords(weights[i], vocabulary) for i in range(len(groups))]
    candidates = [_candidates(groups[i], weights[i], vocabulary, keywords[i]) for i in range(len(groups))]
    margins = _margins(candidates, centroids, encode)
    used: set[str] = set()
    out: dict[int, ThemeWords] = {}
    for i in sorted(range(len(groups)), key=lambda g: -len(groups[g])):
        free = [(name, margin) for name, margin in zip(candidates[i], margins[i], strict=True)
                if name.lower() not in used]
        own = [name for name, margin in free if margin > 0]
        if not free:  # its best clauses name bigger themes: a weaker clause of its own, else keywords
            free = [(name, 0.0) for name in _candidates(groups[i], weights[i], vocabulary, keywords[i], every=True)
                    if name.lower() not in used]
        name = (own[0] if own else max(free, key=lambda pair: pair[1])[0] if free else
                _fallback_name(keywords[i], used))
        used.add(name.lower())
        out[i] = ThemeWords(name=name, description=_description(groups[i], keywords[i], name), keywords=keywords[i])
    return [out[i] for i in range(len(groups))]


def _margins(
    candidates: list[list[str]], centroids: np.ndarray | None, encode: Encoder | None
) -> list[list[float]]:
    """Per candidate name: its cosine to its own theme's centroid minus the best other theme's
    (all 1.0, every candidate acceptable, without an encoder)."""
    flat = [name for names in candidates for name in names]
    if encode is None or centroids is None or not flat or len(centroids) < 2:
        return [[1.0] * len(names) for names in candidates]
    similarity = l2_normalise(np.asarray(encode(flat), dtype=np.float32)) @ centroids.T
    out: list[list[float]] = []
    row = 0
    for theme, names in enumerate(candidates):
        block = similarity[row : row + len(names)]
        others = np.delete(block, theme, axis=1)
        out.append((block[:, theme] - others.max(axis=1)).tolist())
        row += len(names)
    return out


def nearest_own_share(names: Sequence[str], centroids: np.ndarray, encode: Encoder) -> float:
    """Share of themes whose name, encoded, is nearer to its own centroid than to any other's."""
    margins = _margins([[name] for name in names], centroids, encode)
    return float(np.mean([m[0] > 0 for m in margins])) if names else 0.0


def numbered(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``… whichever is free (compared case-insensitively)."""
    lowered = {t.lower() for t in taken}
    return next(candidate for n in range(1, len(taken) + 2)
                if (candidate := name if n == 1 else f"{name} ({n})").lower() not in lowered)


def topical(word: str) -> bool:
    """A word that says what a text is about: three letters or more, not a stop or weak word."""
    return len(word) >= 3 and "'" not in word and word not in STOP_WORDS and word not in WEAK_WORDS


# --------------------------------------------------------------------------- internals


def _words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def _word_weights(groups: Sequence[Sequence[str]]) -> tuple[np.ndarray, dict[str, int]]:
    """Class-based TF-IDF of single words per theme, each row scaled so its best word weighs 1."""
    documents = ["\n".join(g) for g in groups]
    if not any(_words(d) for d in documents):
        return np.zeros((len(groups), 0)), {}
    vectorizer = CountVectorizer(analyzer=_words)
    counts = vectorizer.fit_transform(documents).astype(np.float64)
    tf = sp.diags(1.0 / np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1.0)) @ counts
    idf = np.log(1.0 + counts.sum() / np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1.0))
    vocabulary = {str(term): j for j, term in enumerate(vectorizer.get_feature_names_out())}
    usable = np.array([topical(term) for term in vocabulary], dtype=np.float64)
    scores = (tf @ sp.diags(idf * usable)).toarray()
    top = scores.max(axis=1, keepdims=True)
    return scores / np.where(top > 0, top, 1.0), vocabulary


def _keywords(row: np.ndarray, vocabulary: dict[str, int]) -> tuple[str, ...]:
    terms = list(vocabulary)
    chosen: list[str] = []
    for j in np.argsort(-row, kind="stable")[:60]:
        if row[j] <= 0 or len(chosen) == N_KEYWORDS:
            break
        term = terms[j]
        if all(_stem(term) != _stem(c) for c in chosen):  # not "invoice" beside "invoices"
            chosen.append(term)
    return tuple(chosen)


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _candidates(
    texts: Sequence[str], row: np.ndarray, vocabulary: dict[str, int], keywords: tuple[str, ...], *,
    every: bool = False,
) -> list[str]:
    """The theme's best name clauses (module docstring), best first; [] when none qualifies.

    A candidate holds one of the theme's keywords and scores at least half the best clause, so
    meaning (``_margins``) only chooses among clauses that are already good names."""
    if not len(row):
        return []
    support = _text_support(texts)
    best: dict[str, float] = {}
    written: dict[str, str] = {}
    times: dict[str, int] = {}
    for rank, text in enumerate(texts[:_CANDIDATE_TEXTS]):
        centrality = 1.0 / (1.0 + rank / _CENTRAL_RANK)
        for clause in _CLAUSE.findall(text):
            for tokens in _spans(_trimmed(_TOKEN.findall(clause.strip())), MAX_NAME_WORDS):
                words = _words(" ".join(tokens))
                content = {w for w in words if topical(w)}
                unsupported = any(support.get(t.lower(), 0) < 2 for t in tokens if any(ch.isdigit() for ch in t))
                if (len(content) < 2 or unsupported or content.isdisjoint(keywords) or _PLACEHOLDER.search(
                        " ".join(tokens)) or any(support.get(w, 0) < 2 for w in content)):
                    continue
                lexical = sum(row[vocabulary[w]] for w in content if w in vocabulary) / math.sqrt(len(tokens))
                key = " ".join(words)
                best[key] = max(best.get(key, 0.0), lexical * centrality)
                written.setdefault(key, _cased(tokens))
                times[key] = times.get(key, 0) + 1
                break  # the clause's longest span that qualifies
    # A clause many customers wrote word for word is a little more the theme's own.
    score = {key: best[key] * (1.0 + 0.1 * math.log(times[key])) for key in best}
    ranked = sorted(score, key=lambda key: -score[key])
    if every:  # all of them, however weak
        return [written[key] for key in ranked]
    floor = 0.5 * score[ranked[0]] if ranked else 0.0
    return [written[key] for key in ranked[:_CANDIDATES] if score[key] >= floor]


# Words after which the rest of a clause is a phrase of its own: a name may end before them.
_PHRASE_STARTS = frozenset({
    "in", "on", "at", "for", "with", "from", "since", "after", "before", "when", "because", "but", "and", "or",
    "while", "so", "as", "via", "during", "until", "every", "each", "by", "without", "despite", "although",
})


def _spans(tokens: list[str], longest: int) -> list[list[str]]:
    """What a clause offers as a name, best first: the clause itself when it has 3 to ``longest``
    words, then its openings that end on a topical word just before a word that starts a phrase of
    its own ("in", "after", "when"…), longest first: "My card payment was declined abroad" of "my
    card payment was declined abroad in Spain for the third time", never "At what age can I open"
    of "at what age can I open an account"."""
    whole = [tokens] if MIN_NAME_WORDS <= len(tokens) <= longest else []
    openings = [tokens[:n] for n in range(min(longest, len(tokens) - 1), MIN_NAME_WORDS - 1, -1)
                if _ends_complete(tokens[n - 1]) and tokens[n].lower() in _PHRASE_STARTS]
    return whole + openings




def _ends_complete(token: str) -> bool:
    """Whether a phrase may end on ``token``: not on an article, pronoun, auxiliary or preposition."""
    words = _words(token)
    return bool(words) and words[-1] not in _DANGLING


_DANGLING = frozenset({
    "a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "to", "of", "is", "are", "was", "were",
    "be", "been", "being", "do", "does", "did", "can", "could", "will", "would", "should", "shall", "may", "might",
    "must", "have", "has", "had", "i", "we", "you", "they", "he", "she", "it", "that", "this", "these", "those",
    "not", "no", "what", "which", "who", "how", "why", "where", "when", "there", "if", "than", "very", "too",
} | _PHRASE_STARTS)


def _text_support(texts: Sequence[str]) -> dict[str, int]:
    """How many of the texts hold each word (and each token with a digit, as written, lowered)."""
    support: dict[str, int] = {}
    for text in texts:
        digits = {t.lower().strip(".,;:!?()\"'") for t in _TOKEN.findall(text) if any(ch.isdigit() for ch in t)}
        for word in set(_words(text)) | digits:
            support[word] = support.get(word, 0) + 1
    return support


def _trimmed(tokens: list[str]) -> list[str]:
    """``tokens`` without opening fillers ("Hi", "so", "please") and closing punctuation."""
    start = 0
    while start < len(tokens) and tokens[start].lower().strip("'-") in _OPENERS:
        start += 1
    tokens = [t.strip("'-–—*_~`") for t in tokens[start:]]
    return [t for t in tokens if t]


def _cased(tokens: list[str]) -> str:
    """The clause as a name: sentence case, the customer's own capitals kept for names and acronyms
    after the first word ("Google Calendar", "CSV"); a shouted clause is lowered first."""
    shouted = all(not t.isalpha() or t.isupper() for t in tokens) and any(t.isalpha() for t in tokens)
    words = [t.lower() if shouted else t for t in tokens]
    first = words[0]
    if not (len(first) > 1 and first.isupper()):
        first = first[:1].upper() + first[1:].lower()
    return " ".join([first, *words[1:]])


def _fallback_name(keywords: tuple[str, ...], used: set[str]) -> str:
    """Without a clause that qualifies: the theme's keywords ("Invoice, VAT, address")."""
    base = ", ".join(keywords[:3]).capitalize() if keywords else "Other requests"
    return numbered(base, used)


def _description(texts: Sequence[str], keywords: tuple[str, ...], name: str) -> str:
    """One sentence a customer of the theme wrote: the first sentence of its most central texts
    that holds one of its keywords, a few words, no placeholder, and says more than the name."""
    for text in texts[:20]:
        for sentence in _SENTENCE.findall(text):
            words = _words(sentence)
            if (len(words) < 4 or _PLACEHOLDER.search(sentence) or set(words).isdisjoint(keywords)
                    or " ".join(words) == " ".join(_words(name))):
                continue
            quote = " ".join(sentence.split())
            if len(quote) > _MAX_QUOTE:
                quote = quote[: _MAX_QUOTE - 1].rsplit(" ", 1)[0] + "…"
            return f"Typical request: “{quote}”"
    return ""
