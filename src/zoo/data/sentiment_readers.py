"""Readers that turn raw multi-domain sentiment corpora into ``(text, label, domain)`` records.

Every reader returns a list of :class:`TextRecord` whose ``label`` is a string from the corpus'
declared label set; :class:`~zoo.data.multidomain_text.MultiDomainTextDataModule` maps labels to
indices, drops/refuses bad rows and splits.

================================  =========  ==========================================  =========
Reader                            language   domains                                     labels
================================  =========  ==========================================  =========
``blitzer_mdsd`` (Blitzer 2007)   English    books, dvd, electronics, kitchen            neg/pos
``persian``                       Persian    digital (SentiPers), food, movie (ParsiNLU)  neg/neu/pos
``financial_phrasebank``          English    finance                                     neg/neu/pos
``table`` (CSV/TSV/JSONL)         any        a column                                    a column
================================  =========  ==========================================  =========

Persian label mapping (both sources rate -2..+2): ``-2, -1 -> negative``, ``0 -> neutral``,
``+1, +2 -> positive``. ParsiNLU's extra value ``3`` ("mixed": both positive and negative
opinions; Khashabi et al. 2020, https://arxiv.org/abs/2012.06154) has no place on a
negative/neutral/positive scale and is dropped (``persian_mixed="drop"``) or read as neutral
(``persian_mixed="neutral"``).

Non-UTF-8 input: files are decoded with ``encoding`` and ``encoding_errors``; with the default
``"strict"`` a bad byte raises ``ValueError`` naming the file and the byte offset, ``"replace"``
substitutes U+FFFD and goes on.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = [
    "TextRecord",
    "READERS",
    "TABLE_FORMATS",
    "read_text_file",
    "read_blitzer_mdsd",
    "blitzer_review_blocks",
    "read_persian",
    "read_financial_phrasebank",
    "read_table",
    "PERSIAN_LABELS",
]

log = logging.getLogger(__name__)

POLARITY3 = ("negative", "neutral", "positive")
PERSIAN_LABELS = POLARITY3
TABLE_FORMATS = ("auto", "csv", "tsv", "jsonl")
BLITZER_DOMAINS = {
    "books": "books",
    "dvd": "dvd",
    "electronics": "electronics",
    "kitchen_&_housewares": "kitchen",
}


@dataclass(frozen=True)
class TextRecord:
    """One document: its raw text, its label (a string of the corpus' label set) and domain."""

    text: str
    label: str
    domain: str


def read_text_file(path: str, encoding: str = "utf-8", errors: str = "strict") -> str:
    """The decoded contents of ``path``.

    :raises FileNotFoundError: naming the path.
    :raises ValueError: the bytes are not valid ``encoding`` (with ``errors="strict"``); names the
        file, the byte offset and the way out (``encoding_errors=replace``).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sentiment data file not found: {path}")
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        return raw.decode(encoding, errors=errors)
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: byte {err.start} (0x{raw[err.start]:02x}) is not valid {encoding}; set "
            f"data.encoding to the file's encoding or data.encoding_errors='replace'"
        ) from err


# -- Blitzer MDSD ---------------------------------------------------------------------------------
_FIELD = {name: re.compile(rf"<{name}>\s*(.*?)\s*</{name}>", re.S) for name in ("title", "review_text")}


_TAG = re.compile(r"</?review>")


def _line(content: str, offset: int) -> int:
    return content.count("\n", 0, offset) + 1


def blitzer_review_blocks(content: str, path: str) -> list[str]:
    """The ``<review>...</review>`` blocks of one ``.review`` file, checked for truncation.

    :raises ValueError: a ``<review>`` that is never closed (or closed after the next one opens), a
        ``</review>`` without its ``<review>``, a block whose ``<review_text>`` is not closed, or a
        ``<data>`` wrapper without its ``</data>``: the file is truncated or damaged. The message
        names the file and the line.
    """
    blocks, start = [], None
    for match in _TAG.finditer(content):
        if match.group() == "<review>":
            if start is not None:
                raise ValueError(
                    f"{path}:{_line(content, start)}: <review> is not closed before the next <review> at line "
                    f"{_line(content, match.start())}; the file is damaged"
                )
            start = match.end()
        else:
            if start is None:
                raise ValueError(f"{path}:{_line(content, match.start())}: </review> without a <review>")
            blocks.append(content[start:match.start()])
            start = None
    if start is not None:
        raise ValueError(
            f"{path}:{_line(content, start)}: <review> block is never closed; the file is truncated "
            f"(after {len(blocks)} complete review(s)). Restore the complete file"
        )
    for block in blocks:
        if "<review_text>" in block and "</review_text>" not in block:
            raise ValueError(f"{path}: a review's <review_text> is not closed (near {block[:60].strip()!r})")
    head = content.lstrip()
    if head.startswith(("<data>", "<reviews>")):
        closing = "</data>" if head.startswith("<data>") else "</reviews>"
        if not content.rstrip().endswith(closing):
            raise ValueError(
                f"{path}:{_line(content, len(content.rstrip()))}: the file opens with {head.split('>')[0]}> but does "
                f"not end with {closing}; it is truncated (after {len(blocks)} complete review(s))"
            )
    return blocks


def read_blitzer_mdsd(root: str, encoding: str = "utf-8", errors: str = "strict") -> list[TextRecord]:
    """Blitzer, Dredze, Pereira (ACL 2007) ``sorted_data_acl/<domain>/{positive,negative}.review``.

    The text is the review title and body joined by ``". "``. A truncated file (a review block cut
    off, see :func:`blitzer_review_blocks`) raises ``ValueError`` naming the file and line; a file
    cut exactly at a review boundary, without a ``<data>`` wrapper, cannot be told from a shorter
    one, so the number of reviews read per file is logged.
    """
    base = os.path.join(root, "sorted_data_acl") if os.path.isdir(os.path.join(root, "sorted_data_acl")) else root
    records: list[TextRecord] = []
    for folder, domain in BLITZER_DOMAINS.items():
        for label in ("negative", "positive"):
            path = os.path.join(base, folder, f"{label}.review")
            content = read_text_file(path, encoding, errors)
            blocks = blitzer_review_blocks(content, path)
            log.info(f"{path}: {len(blocks)} reviews")
            for block in blocks:
                parts = [m.group(1).strip() for f in ("title", "review_text") if (m := _FIELD[f].search(block))]
                records.append(TextRecord(". ".join(p for p in parts if p), label, domain))
    return records


# -- Persian --------------------------------------------------------------------------------------
PERSIAN_MIXED = ("drop", "neutral")


def _persian_polarity(value: str, where: str, mixed: str) -> Optional[str]:
    try:
        score = int(float(value))
    except ValueError:
        return value  # left as is: the datamodule reports it as a label outside the declared set
    if score == 3:
        return None if mixed == "drop" else "neutral"
    if score < 0:
        return "negative"
    if score == 0:
        return "neutral"
    return "positive"


def read_persian(
    root: str, encoding: str = "utf-8", errors: str = "strict", mixed: str = "drop"
) -> list[TextRecord]:
    """SentiPers (digital-product comments, DeepSentiPers ``original.csv`` + ``test.csv``, domain
    ``digital``) and ParsiNLU sentiment (``food.jsonl`` -> ``food``, ``movie.jsonl`` -> ``movie``)
    on a negative/neutral/positive scale (see the module docstring)."""
    if mixed not in PERSIAN_MIXED:
        raise ValueError(f"data.persian_mixed={mixed!r}; expected one of {list(PERSIAN_MIXED)}")
    records: list[TextRecord] = []
    for name in ("original.csv", "test.csv"):
        path = os.path.join(root, "sentipers_deepsentipers", name)
        rows = csv.reader(io.StringIO(read_text_file(path, encoding, errors)))
        for row in rows:
            if len(row) < 2:
                continue
            label = _persian_polarity(row[1].strip(), path, mixed)
            if label is not None:
                records.append(TextRecord(row[0], label, "digital"))
    for domain in ("food", "movie"):
        path = os.path.join(root, "parsinlu_sentiment", f"{domain}.jsonl")
        for line_no, line in enumerate(read_text_file(path, encoding, errors).splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({err.msg})") from err
            label = _persian_polarity(str(row.get("sentiment", "")).strip(), path, mixed)
            if label is not None:
                records.append(TextRecord(str(row.get("review", "")), label, domain))
    return records


# -- Financial PhraseBank -------------------------------------------------------------------------
PHRASEBANK_AGREEMENT = {50: "Sentences_50Agree.txt", 66: "Sentences_66Agree.txt",
                        75: "Sentences_75Agree.txt", 100: "Sentences_AllAgree.txt"}


def read_financial_phrasebank(
    root: str, encoding: str = "latin-1", errors: str = "strict", agreement: int = 66
) -> list[TextRecord]:
    """Financial PhraseBank v1.0 (Malo et al. 2014, https://arxiv.org/abs/1307.5336):
    ``sentence@label`` lines, one domain ``finance``; ``agreement`` picks the annotator-agreement
    subset (50, 66, 75 or 100 percent)."""
    if agreement not in PHRASEBANK_AGREEMENT:
        raise ValueError(f"data.agreement={agreement!r}; expected one of {sorted(PHRASEBANK_AGREEMENT)}")
    path = os.path.join(root, PHRASEBANK_AGREEMENT[agreement])
    records = []
    for line in read_text_file(path, encoding, errors).splitlines():
        text, sep, label = line.rpartition("@")
        if sep:
            records.append(TextRecord(text.strip(), label.strip(), "finance"))
    return records


# -- generic table --------------------------------------------------------------------------------
def _table_format(path: str, fmt: str) -> str:
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"data.format={fmt!r}; expected one of {list(TABLE_FORMATS)}")
    if fmt != "auto":
        return fmt
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    guess = {"csv": "csv", "tsv": "tsv", "tab": "tsv", "jsonl": "jsonl", "json": "jsonl", "ndjson": "jsonl"}
    if ext not in guess:
        raise ValueError(
            f"data.path={path!r}: cannot tell the format from the extension {ext!r}; set data.format "
            f"to one of {list(TABLE_FORMATS[1:])}"
        )
    return guess[ext]


def read_table(
    path: str,
    encoding: str = "utf-8",
    errors: str = "strict",
    fmt: str = "auto",
    text_column: str = "text",
    label_column: str = "label",
    domain_column: Optional[str] = "domain",
    default_domain: str = "default",
) -> list[TextRecord]:
    """A CSV/TSV file with a header row, or JSONL with one object per line.

    ``domain_column=None`` puts every row in ``default_domain``.

    :raises ValueError: a named column is missing (lists the columns found).
    """
    fmt = _table_format(path, fmt)
    content = read_text_file(path, encoding, errors)
    if content.startswith("\ufeff"):
        content = content[1:]
    rows: list[dict] = []
    if fmt == "jsonl":
        for line_no, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({err.msg})") from err
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
        columns = sorted({k for r in rows for k in r})
    else:
        reader = csv.DictReader(io.StringIO(content), delimiter="," if fmt == "csv" else "\t")
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    wanted = {"data.text_column": text_column, "data.label_column": label_column}
    if domain_column is not None:
        wanted["data.domain_column"] = domain_column
    for key, column in wanted.items():
        if column not in columns:
            raise ValueError(f"{key}={column!r}: no such column in {path}; columns found: {columns}")

    def cell(row: dict, column: str) -> str:
        value = row.get(column)
        return "" if value is None else str(value)

    return [
        TextRecord(
            cell(r, text_column),
            cell(r, label_column).strip(),
            cell(r, domain_column).strip() if domain_column is not None else default_domain,
        )
        for r in rows
    ]


READERS: dict[str, Callable[..., list[TextRecord]]] = {
    "blitzer_mdsd": read_blitzer_mdsd,
    "persian": read_persian,
    "financial_phrasebank": read_financial_phrasebank,
    "table": read_table,
}
