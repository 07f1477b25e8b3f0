"""The text half of catalogue search, per database: which products match the words of a query, with what score.

SQLite: FTS5 (`products_fts`, porter stemming) ranked by bm25. PostgreSQL: the `search_vector` column (English
stemming) ranked by `ts_rank`. Both: every word must match, the last one as a prefix. A broad query (more than
`BROAD` matches, such as a brand or a category word on a large catalogue) is not scored: its matches come in order
of units sold, which is what ranking thousands of equally good matches by text score mostly comes to, at a
fraction of the cost (bm25 over 13,000 matches took 25-40 ms of a 40-80 ms search on 100,000 products).

Typos, when no product matches every word: each word that matches nothing on its own is respelt as the nearest word
of the catalogue, and the search runs again with the respelt words as prefixes. Nearest: the fewest edits (at most
one for words of up to five letters, two beyond; a swap of neighbours is one) among the catalogue's words with the
same first letter: SQLite's FTS5 vocabulary (`products_fts_vocab`, stems: an indexed stem counts as near the word it
came from), PostgreSQL's `product_words`. PostgreSQL with `pg_trgm` draws the candidates by trigram similarity
instead (any first letter), and takes the most similar when none is near enough in edits.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from sqlalchemy import Engine, Integer, column, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from serving.commerce.tables import Product

log = logging.getLogger(__name__)

MAX_WORDS = 12
SIMILAR = 0.4  # trigram similarity a respelling too far in edits needs ("jettle" -> "kettle" 0.4; pg_trgm's 0.3 also
# turned "zebra" into a made-up word sharing three trigrams with it)
BROAD = 1_000  # a query matching more products is ordered by units sold among them: scoring them all costs too much
_WORD = re.compile(r"[^\W_]+")
_trigram_ready: dict[str, bool] = {}


def words(q: str) -> list[str]:
    """The query's words, lower case (letters and digits; punctuation separates), at most `MAX_WORDS`."""
    return _WORD.findall(q.lower())[:MAX_WORDS]


def _prefix(terms: list[str], i: int, last_prefix: bool) -> bool:
    return terms[i].endswith("*") or (last_prefix and i == len(terms) - 1)


def _fts_match(terms: list[str], last_prefix: bool) -> str:
    """FTS5 query: every word, quoted (no operator can be injected); the last one, and respelt ones (marked with a
    trailing `*`), as prefixes."""
    return " ".join(f'"{t.rstrip("*")}" *' if _prefix(terms, i, last_prefix) else f'"{t}"' for i, t in enumerate(terms))


def _tsquery(terms: list[str], last_prefix: bool) -> str:
    """to_tsquery text: every word ANDed; the last one, and respelt ones (trailing `*`), as prefixes (words hold
    only letters and digits)."""
    return " & ".join(f"{t.rstrip('*')}:*" if _prefix(terms, i, last_prefix) else t for i, t in enumerate(terms))


def scores(dialect: str, terms: list[str], last_prefix: bool = True, scored: bool = True) -> tuple[Any, dict[str, Any]]:
    """A subquery of (rid, score) for the products matching `terms` (rid: rowid on SQLite, product_id on
    PostgreSQL; score: an integer, higher is better; 0 for all when not `scored`) and its parameters."""
    if dialect == "sqlite":
        score = "CAST(-bm25(products_fts, 10.0, 1.0, 4.0, 6.0) * 100 AS INTEGER)" if scored else "0"
        statement = f"SELECT rowid AS rid, {score} AS score FROM products_fts WHERE products_fts MATCH :match"
        params: dict[str, Any] = {"match": _fts_match(terms, last_prefix)}
        rid_type: Any = Integer
    else:
        score = "CAST(ts_rank(search_vector, to_tsquery('english', :tsq)) * 1000 AS INTEGER)" if scored else "0"
        statement = (
            f"SELECT product_id AS rid, {score} AS score FROM products "
            "WHERE search_vector @@ to_tsquery('english', :tsq)"
        )
        params, rid_type = {"tsq": _tsquery(terms, last_prefix)}, Product.product_id.type
    return sql_text(statement).columns(column("rid", rid_type), column("score", Integer)).subquery("m"), params


def matching(dialect: str, terms: list[str]) -> Any:
    """A condition on `products` (its bound parameters inside): the product matches every word."""
    if dialect == "sqlite":
        clause = "products.rowid IN (SELECT rowid FROM products_fts WHERE products_fts MATCH :match)"
        return sql_text(clause).bindparams(match=_fts_match(terms, True))
    clause = "products.search_vector @@ to_tsquery('english', :tsq)"
    return sql_text(clause).bindparams(tsq=_tsquery(terms, True))


def matches_any(s: Session, dialect: str, terms: list[str], last_prefix: bool = True) -> bool:
    """Whether any product matches every word (filters aside)."""
    matches, params = scores(dialect, terms, last_prefix, scored=False)
    return s.execute(select(matches.c.rid).limit(1), params).first() is not None


def broad(s: Session, dialect: str, terms: list[str]) -> bool:
    """Whether more than `BROAD` products match (filters aside): counted no further than that."""
    matches, params = scores(dialect, terms, scored=False)
    first = select(matches.c.rid).limit(BROAD + 1).subquery()
    return int(s.execute(select(func.count()).select_from(first), params).scalar_one()) > BROAD


def fuzzy_terms(s: Session, engine: Engine, terms: list[str]) -> list[str] | None:
    """The words respelt for a typo-tolerant search (respelt ones marked with a trailing `*`), or None when a word
    has no near word."""
    dialect = engine.dialect.name
    out = []
    for i, word in enumerate(terms):
        if matches_any(s, dialect, [word], last_prefix=i == len(terms) - 1):
            out.append(word)
            continue
        trigrams = dialect == "postgresql" and len(word) >= 3 and trigram_available(engine)
        near = _similar(s, word) if trigrams else _nearest(s, dialect, word)
        if near is None:
            return None
        out.append(near + "*")
    return out


def trigram_available(engine: Engine) -> bool:
    """Whether pg_trgm is installed in this PostgreSQL database (checked once; its absence logged once)."""
    address = engine.url.render_as_string(hide_password=True)
    if address not in _trigram_ready:
        with engine.connect() as c:
            found = c.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first()
        _trigram_ready[address] = found is not None
        if found is None:
            log.warning("pg_trgm is not installed in %s: a misspelt first letter is not corrected", address)
    return _trigram_ready[address]


def _similar(s: Session, word: str) -> str | None:
    """PostgreSQL with pg_trgm: among the catalogue words sharing trigrams with `word` (similarity at least 0.15, the
    40 most similar), the one with the fewest edits if near enough (as `_nearest` counts them), else the most
    similar if its similarity reaches `SIMILAR` (a wrong first letter); None otherwise."""
    s.execute(sql_text("SELECT set_config('pg_trgm.similarity_threshold', '0.15', true)"))
    rows = s.execute(
        sql_text(
            "SELECT word, similarity(word, :w) AS near FROM product_words WHERE word % :w "
            "ORDER BY near DESC, length(word), word LIMIT 40"
        ),
        {"w": word},
    ).all()
    allowed = 1.0 if len(word) <= 5 else 2.0
    edits = [(distance(word, w, allowed), -near, w) for w, near in rows]
    best = min(edits, default=None)
    if best is not None and best[0] <= allowed:
        return str(best[2])
    return str(rows[0][0]) if rows and rows[0][1] >= SIMILAR else None


VOCABULARY = {  # the catalogue's words starting with a letter: (word, products holding it)
    "sqlite": "SELECT term, doc FROM products_fts_vocab WHERE term >= :lo AND term < :hi",
    "postgresql": "SELECT word, 0 FROM product_words WHERE word >= :lo AND word < :hi",
}


def _nearest(s: Session, dialect: str, word: str) -> str | None:
    """The catalogue word with the fewest edits from `word` and the same first letter (on SQLite the index's
    stems), in more products first among equals; None if none is near enough. Words sharing the first two letters
    are tried first (most typos spare them: a tenth of the words to count edits on)."""
    if len(word) < 3:
        return None
    allowed = 1.0 if len(word) <= 5 else 2.0
    return _closest(s, dialect, word, word[:2], 1.0) or _closest(s, dialect, word, word[0], allowed)


def _closest(s: Session, dialect: str, word: str, start: str, allowed: float) -> str | None:
    after = start[:-1] + chr(ord(start[-1]) + 1)
    rows = s.execute(sql_text(VOCABULARY[dialect]), {"lo": start, "hi": after})
    best: tuple[float, int, str] | None = None
    for term, doc in rows:
        if len(term) < 3 or abs(len(term) - len(word)) > 4 or not _alike(word, term):
            continue
        forms = [f for f in _unstemmed(term) if abs(len(f) - len(word)) <= 3]
        d = min((distance(word, f, allowed) for f in forms), default=math.inf)
        if d <= allowed and (best is None or (d, -doc, term) < best):
            best = (d, -doc, term)
    return best[2] if best else None


def _alike(word: str, term: str) -> bool:
    """A cheap test before counting edits: one of the next two letters agrees (a typo rarely hits both)."""
    return word[1] == term[1] or word[2] == term[2] or word[1] == term[2] or word[2] == term[1]


def _unstemmed(term: str) -> set[str]:
    """The indexed stem and the words porter stemming most often makes it from ("kettl" <- "kettle")."""
    forms = {term, term + "e", term + "s", term + "es"}
    if term.endswith("i"):
        forms.add(term[:-1] + "y")
    return forms


def distance(word: str, term: str, limit: float = 2.0) -> float:
    """Edits from `word` to `term` (optimal string alignment: insert, delete, change, swap two neighbours); when
    `term` is shorter by one or two letters, also the edits to a prefix of `word` about its length, plus a half
    (`word` carries an ending the indexed stem lacks); when `word` is shorter (still being typed), the edits to
    `term`'s prefix plus a half. Anything beyond `limit` may come back as infinity (the count stops early)."""
    n, m = len(word), len(term)
    stem = 0 < n - m <= 2
    prefixed = [math.inf]
    rows = [list(range(m + 1))]
    for i in range(1, n + 1):
        row = [i] + [0] * m
        for j in range(1, m + 1):
            cost = 0 if word[i - 1] == term[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and word[i - 1] == term[j - 2] and word[i - 2] == term[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows = [rows[-1], row]
        if stem and m - 1 <= i <= m + 1 and i < n:
            prefixed.append(row[m] + 0.5)
        if i == n and m > n >= 4:
            prefixed.append(row[n] + 0.5)
        if min(row) > limit:
            return min(prefixed)
    return min(float(rows[-1][m]), *prefixed)
