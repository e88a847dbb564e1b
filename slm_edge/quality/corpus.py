"""The text `slm-edge eval` scores: a corpus shipped with the package (quality/corpora/, sources and
licenses in SOURCES.json) or the user's file (plain text, or JSONL of prompts), tokenized and cut
into chunks the artifact and its reference are teacher-forced over."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from slm_edge.errors import BadInput

CORPORA_DIR = Path(__file__).resolve().parent / "corpora"
DEFAULT_CORPUS = "prose"
# Random-weight cards have no tokenizer: a fixed pseudo-random token stream stands in for text (its
# perplexity means nothing; the artifact-vs-reference figures still do).
FIXED_STREAM = "fixed-token-stream"
JSON_TEXT_KEYS = ("text", "prompt", "content")


@dataclass(frozen=True)
class Corpus:
    """Text before tokenizing: one document (plain text) or one per prompt (JSONL)."""

    name: str
    documents: tuple[str, ...]
    sha256: str
    origin: str  # the shipped corpus's source, or the user's file path
    prompts: bool = False  # JSONL: each document is a prompt, scored whole as its own chunk


@dataclass(frozen=True)
class Chunks:
    """Token sequences fed from position 0 each; what was scored and how it was made."""

    corpus: str
    corpus_sha256: str
    chunks: tuple[tuple[int, ...], ...]
    context: int
    tokenizer: str | None  # None: the fixed token stream
    note: str | None = None
    # the first position of a chunk whose prediction is scored: half the context for text (llama.cpp's
    # rule: every scored token has that much context), 0 for prompts (each is its own whole chunk)
    first_scored: int = 0


def shipped_corpora() -> dict:
    """name → its SOURCES.json entry (file, genre, title, author, source_url, license…)."""
    sources = CORPORA_DIR / "SOURCES.json"
    return json.loads(sources.read_text()) if sources.is_file() else {}


def load_corpus(name: str | None = None, text_file: Path | None = None) -> Corpus:
    if text_file is not None:
        return _user_corpus(Path(text_file))
    name = name or DEFAULT_CORPUS
    corpora = shipped_corpora()
    if name not in corpora:
        raise BadInput(f"no shipped corpus named '{name}'",
                       f"use {{corpus}} {' or '.join(sorted(corpora)) or '(none shipped)'}, or {{text}} FILE")
    entry = corpora[name]
    path = CORPORA_DIR / entry["file"]
    data = path.read_bytes()
    return Corpus(name, (data.decode("utf-8"),), hashlib.sha256(data).hexdigest(),
                  f"{entry.get('title')} ({entry.get('license')}, {entry.get('source_url')})")


def _user_corpus(path: Path) -> Corpus:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"text file not found: {path}", "check the {text} path") from None
    except IsADirectoryError:
        raise BadInput(f"{path} is a folder, not a text file", "pass a UTF-8 text or JSONL file to {text}") from None
    if b"\0" in data:
        raise BadInput(f"{path} is binary, not text", "pass a UTF-8 text or JSONL file to {text}")
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 byte-order mark is not text
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} is not UTF-8 text (byte {exc.start} is not valid UTF-8)",
                       "convert it to UTF-8 or pass another file to {text}") from None
    if not text.strip():
        raise BadInput(f"{path} is empty", "pass a file with text in it to {text}")
    digest = hashlib.sha256(data).hexdigest()
    if path.suffix.lower() != ".jsonl":
        return Corpus(path.stem, (text,), digest, str(path))
    documents = []
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 may sit inside a JSON string
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise BadInput(f"{path} line {number} is not JSON", "write one JSON object or string per line") from None
        document = record if isinstance(record, str) else next(
            (record.get(key) for key in JSON_TEXT_KEYS if isinstance(record, dict) and isinstance(record.get(key), str)),
            None)
        if document is None:
            raise BadInput(f"{path} line {number} has no text",
                           f"give each line a string or an object with one of {', '.join(JSON_TEXT_KEYS)}")
        documents.append(document)
    if not documents:
        raise BadInput(f"{path} has no prompts", "write one JSON object or string per line")
    return Corpus(path.stem, tuple(documents), digest, str(path), prompts=True)


def adds_bos(tokenizer) -> int | None:
    """The BOS id when the tokenizer puts one at the start of a text (llama.cpp: the vocab's add_bos),
    else None; SmolLM2's does not (its bos_token is the chat turn marker)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return None
    ids = tokenizer("x")["input_ids"]
    return bos if ids and ids[0] == bos else None


def make_chunks(corpus: Corpus, tokenizer, *, context: int, scored_tokens: int, vocab_size: int,
                first_scored: int) -> Chunks:
    """Consecutive, non-overlapping chunks of `context` tokens, as many as it takes to score
    `scored_tokens` (each chunk scores its positions first_scored..); a JSONL corpus gives one chunk per
    prompt (cut to `context`), every position scored, until `scored_tokens` are. The first token of a text
    chunk is replaced by BOS when the tokenizer adds one, as llama.cpp's perplexity does (its vocab's add_bos)."""
    if tokenizer is None:
        return _fixed_stream(context=context, scored_tokens=scored_tokens, vocab_size=vocab_size,
                             first_scored=first_scored)
    per_chunk = context - 1 - first_scored
    wanted = -(-scored_tokens // per_chunk)
    bos = adds_bos(tokenizer)
    if corpus.prompts:
        chunks, scored, cut = [], 0, 0
        for document in corpus.documents:
            ids = ([bos] if bos is not None else []) + list(tokenizer(document, add_special_tokens=False)["input_ids"])
            cut += len(ids) > context
            if len(ids[:context]) >= 2:
                chunks.append(tuple(ids[:context]))
                scored += len(chunks[-1]) - 1
            if scored >= scored_tokens:
                break
        if not chunks:
            raise BadInput(f"every prompt of {corpus.origin} is shorter than 2 tokens", "give longer prompts")
        note = f"{cut} prompts longer than {context} tokens were cut to it" if cut else None
        return Chunks(corpus.name, corpus.sha256, tuple(chunks), context, tokenizer.name_or_path, note, first_scored=0)
    ids = list(tokenizer(corpus.documents[0], add_special_tokens=False)["input_ids"])
    available = len(ids) // context
    if available == 0:
        raise BadInput(f"{corpus.origin} has {len(ids)} tokens, fewer than one chunk of {context}",
                       "use a longer text or a smaller {context}")
    chunks = []
    for index in range(min(wanted, available)):
        chunk = ids[index * context:(index + 1) * context]
        if bos is not None:
            chunk[0] = bos
        chunks.append(tuple(chunk))
    note = None
    if available < wanted:
        note = (f"{corpus.origin} holds {available} chunks of {context} tokens: {available * per_chunk} scored tokens, "
                f"fewer than the {scored_tokens} asked for")
    return Chunks(corpus.name, corpus.sha256, tuple(chunks), context, tokenizer.name_or_path, note, first_scored)


def _fixed_stream(*, context: int, scored_tokens: int, vocab_size: int, first_scored: int) -> Chunks:
    import random

    per_chunk = context - 1 - first_scored
    rng = random.Random(0)
    chunks = tuple(tuple(rng.randrange(3, vocab_size) for _ in range(context))
                   for _ in range(-(-scored_tokens // per_chunk)))
    digest = hashlib.sha256(json.dumps(chunks).encode()).hexdigest()
    return Chunks(FIXED_STREAM, digest, chunks, context, None,
                  "the model has no tokenizer (a random-weight card, or a folder without one): a fixed pseudo-random "
                  "token stream was scored, "
                  "not text; perplexity means nothing here, the artifact-vs-reference figures do", first_scored)
