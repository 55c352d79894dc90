"""Documentation pages that may answer a ticket before it is filed, found in the built
Sphinx site's own search index (searchindex.js)."""

from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import url_for

from portal.core.docs_site import docs_root

_WORD = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset({
    "about", "after", "and", "any", "are", "but", "can", "cannot", "does", "for", "from", "get",
    "how", "into", "its", "not", "our", "than", "that", "the", "their", "them", "then", "there",
    "these", "this", "too", "try", "trying", "use", "using", "was", "what", "when", "where",
    "which", "while", "who", "why", "will", "with", "would", "you", "your",
})  # fmt: skip
TITLE_WEIGHT = 10
TEXT_WEIGHT = 2
MIN_WORD = 3


@dataclass(frozen=True)
class Suggestion:
    title: str
    url: str
    score: float


@dataclass(frozen=True)
class SearchIndex:
    """The parts of Sphinx's index the scoring needs: page names and titles, and the stemmed
    terms (sorted, for prefix lookups) with the pages they appear in."""

    docnames: tuple[str, ...]
    titles: tuple[str, ...]
    terms: dict[str, tuple[int, ...]]
    title_terms: dict[str, tuple[int, ...]]
    sorted_terms: tuple[str, ...]
    sorted_title_terms: tuple[str, ...]


def _doc_ids(value: Any) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, list) else (int(value),)


@lru_cache(maxsize=4)
def _load(path: str, _mtime: float) -> SearchIndex | None:
    raw = Path(path).read_text(encoding="utf-8").strip()
    start, end = raw.find("("), raw.rfind(")")
    if not raw.startswith("Search.setIndex(") or end <= start:
        return None
    try:
        data = json.loads(raw[start + 1 : end])
        terms = {t: _doc_ids(v) for t, v in data["terms"].items()}
        title_terms = {t: _doc_ids(v) for t, v in data["titleterms"].items()}
        return SearchIndex(
            docnames=tuple(data["docnames"]),
            titles=tuple(data["titles"]),
            terms=terms,
            title_terms=title_terms,
            sorted_terms=tuple(sorted(terms)),
            sorted_title_terms=tuple(sorted(title_terms)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def load_index() -> SearchIndex | None:
    """The built site's index (re-read when the site is rebuilt), or None without one."""
    path = docs_root() / "searchindex.js"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    return _load(str(path), mtime)


def query_words(text: str) -> list[str]:
    words = []
    for word in _WORD.findall(text.lower()):
        if len(word) >= MIN_WORD and word not in STOP_WORDS and word not in words:
            words.append(word)
    return words[:12]


def matching_terms(
    word: str, terms: dict[str, tuple[int, ...]], ordered: tuple[str, ...]
) -> set[str]:
    """Index terms a typed word stands for. Sphinx stores stems ("queri" for "queries"), so a
    stem that begins the word matches, allowing for a final y stemmed to i; while the word is
    still being typed, terms that begin with it match too."""
    found = {word[:end] for end in range(MIN_WORD, len(word) + 1) if word[:end] in terms}
    if word.endswith("y") and word[:-1] + "i" in terms:
        found.add(word[:-1] + "i")
    if len(word) >= 4:
        start = bisect.bisect_left(ordered, word)
        for term in ordered[start : start + 50]:
            if not term.startswith(word):
                break
            found.add(term)
    # A stem much shorter than the word is a different word ("cat" in "catalog").
    return {t for t in found if len(t) >= max(MIN_WORD, len(word) - 4)}


def suggest(text: str, limit: int = 5) -> list[Suggestion]:
    """Pages of the documentation that best match the words of `text`: a word in a page's
    title counts most, and a word found on few pages counts more than a common one."""
    index = load_index()
    words = query_words(text)
    if index is None or not words:
        return []
    pages = len(index.docnames)
    scores: dict[int, float] = {}
    for word in words:
        hits: dict[int, float] = {}
        for weight, terms, ordered in (
            (TITLE_WEIGHT, index.title_terms, index.sorted_title_terms),
            (TEXT_WEIGHT, index.terms, index.sorted_terms),
        ):
            for term in matching_terms(word, terms, ordered):
                docs = [d for d in terms[term] if 0 <= d < pages]
                rarity = 1 + math.log(pages / max(len(docs), 1))
                for doc in docs:
                    hits[doc] = max(hits.get(doc, 0.0), weight * rarity)
        for doc, score in hits.items():
            scores[doc] = scores.get(doc, 0.0) + score
    ranked = sorted(scores, key=lambda doc: (-scores[doc], index.titles[doc]))
    return [
        Suggestion(
            title=index.titles[doc],
            url=url_for("pages.docs", path=index.docnames[doc] + ".html"),
            score=round(scores[doc], 1),
        )
        for doc in ranked[:limit]
    ]
