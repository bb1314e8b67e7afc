"""BM25 ranking over skill name, description and body, updated one skill at a time.

Why not `bm25s`: it indexes a corpus in one batch (2.3 s for 10,000 skills here, with numpy), and
hot reload would rebuild all of it for every edited file. This inverted index adds or removes one
skill in microseconds, needs no model download, and weights the fields (a name match counts more
than a body match).
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter

_TOKEN = re.compile(r"[^\W_]+")
_STOPWORD_TEXT = """a an and are as at be by for from has have how i if in into is it its of on or that the
their then there these this to use used using was what when where which while who will with you your"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
NAME_WEIGHT = 3
DESCRIPTION_WEIGHT = 2
K1 = 1.2
B = 0.75


def _stem(token: str) -> str:
    # Plural folding is the one stemming step that pays for itself on short technical text.
    if len(token) > 4 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    return [_stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class SearchIndex:
    """BM25 (k1=1.2, b=0.75) over weighted fields; `add`/`remove` keep it current."""

    def __init__(self) -> None:
        self._postings: dict[str, dict[str, int]] = {}
        self._terms: dict[str, tuple[str, ...]] = {}
        self._lengths: dict[str, int] = {}
        self._total_length = 0

    def __len__(self) -> int:
        return len(self._lengths)

    def __contains__(self, name: str) -> bool:
        return name in self._lengths

    def add(self, name: str, description: str, body: str) -> None:
        self.remove(name)
        counts = Counter(tokenize(body))
        for token in tokenize(description):
            counts[token] += DESCRIPTION_WEIGHT
        for token in tokenize(name.replace("-", " ")):
            counts[token] += NAME_WEIGHT
        postings = self._postings
        for term, tf in counts.items():
            bucket = postings.get(term)
            if bucket is None:
                postings[term] = {name: tf}
            else:
                bucket[name] = tf
        length = sum(counts.values())
        self._terms[name] = tuple(counts)
        self._lengths[name] = length
        self._total_length += length

    def remove(self, name: str) -> None:
        terms = self._terms.pop(name, None)
        if terms is None:
            return
        for term in terms:
            bucket = self._postings.get(term)
            if bucket is not None:
                bucket.pop(name, None)
                if not bucket:
                    del self._postings[term]
        self._total_length -= self._lengths.pop(name)

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        """The best `limit` skills for `query` as (name, score), best first; ties by name."""
        n = len(self._lengths)
        if n == 0 or limit <= 0:
            return []
        base = K1 * (1 - B)
        per_length = K1 * B / (self._total_length / n)
        lengths = self._lengths
        scores: dict[str, float] = {}
        for term in set(tokenize(query)):
            bucket = self._postings.get(term)
            if not bucket:
                continue
            df = len(bucket)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            for name, tf in bucket.items():
                scores[name] = scores.get(name, 0.0) + idf * tf * (K1 + 1) / (
                    tf + base + per_length * lengths[name]
                )
        return heapq.nsmallest(limit, scores.items(), key=lambda item: (-item[1], item[0]))
