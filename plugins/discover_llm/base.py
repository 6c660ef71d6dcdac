"""What both LLM label sources share: options, the ask loop (follow-ups, answer retries), the label cache, and
the limits an answer must keep (size, number of labels, label length) before anything is parsed or cached."""

from __future__ import annotations

import importlib
import json
import logging
import re
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import Field, ValidationError, model_validator

from discover_core.errors import DiscoverError
from discover_core.interfaces import LabelSource, Options, TaskSpec

from .cache import LabelCache, cache_key
from .normalize import normalize_labels
from .prompt import LabelAnswer, follow_up_prompt, retry_prompt, task_prompt

log = logging.getLogger(__name__)

ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_LABEL_CHARS = 200
"""A label longer than this (whitespace collapsed) is not a noun phrase: the answer holding it is refused."""


class LLMOptions(Options):
    """Options of every LLM label source."""

    model: str = Field("gpt-4o", min_length=1, description="the model to ask")
    min_labels: int = Field(100, ge=1, le=5000, description="at least this many distinct labels (after "
                                                              "normalisation); a short answer gets follow-ups")
    follow_ups: int = Field(3, ge=0, le=20, description="how many follow-up requests ask for more labels "
                                                        "when an answer is short")
    answer_retries: int = Field(2, ge=0, le=10, description="how many times an answer that is not JSON or "
                                                            "does not fit the schema is asked for again")
    timeout: float = Field(120.0, gt=0, le=3600, description="seconds to wait for one answer")
    retries: int = Field(3, ge=0, le=20, description="how many times a request is repeated after a rate "
                                                     "limit (429), a server error (5xx) or a lost connection")
    temperature: float | None = Field(None, ge=0, le=2, description="sampling temperature (unset: the "
                                                                    "model's default)")
    cache: bool = Field(True, description="keep the labels in the label cache and reuse them (`discover "
                                          "labels generate --refresh` asks again)")
    max_answer_bytes: int = Field(
        256 * 1024, ge=1024, le=64 * 1024 * 1024,
        description="an HTTP answer larger than this is refused, never parsed: one whose Content-Length is "
                    "larger before any of its body is read, else the HTTP client's body reader stops at this "
                    "many bytes (the body is read in chunks, never whole); uncompressed answers are asked for")
    max_labels: int = Field(
        2000, ge=1, le=100_000,
        description="an answer with more labels than this (a label with line breaks counts once per line) is "
                    "refused before normalisation, and so is a label list that grows past it with follow-ups; "
                    f"an answer with a label longer than {MAX_LABEL_CHARS} characters is refused too")

    @model_validator(mode="after")
    def _min_within_max(self):
        if self.min_labels > self.max_labels:
            raise ValueError(f"min_labels={self.min_labels} is more than max_labels={self.max_labels}")
        return self


class AnswerTooLarge(Exception):
    """Raised inside the HTTP client (by :meth:`LLMLabelSource.limit_response`) for an answer over the cap."""

    def __init__(self, size: int, declared: bool):
        super().__init__(f"{size} bytes")
        self.size, self.declared = size, declared


class LLMLabelSource(LabelSource):
    """Base of label sources that ask a language model; subclasses implement :meth:`_chat`.

    The cache protocol used by ``discover labels``: :meth:`cached_labels` (the entry or ``None``, never a
    request) and :meth:`generate_labels` (the entry, asked for unless cached or ``refresh``).
    """

    Options: ClassVar[type[LLMOptions]] = LLMOptions
    extra = "llm"

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._cache = LabelCache(self.context)
        self._secrets: list[str] = []

    # -- for subclasses ---------------------------------------------------------------------
    def _chat(self, messages: list[dict[str, str]]) -> tuple[str, str | None]:
        """One request: the answer's text and the model name the server gives. Failures: DiscoverError."""
        raise NotImplementedError

    def where(self) -> str:
        """The server, for messages (never with credentials)."""
        return ""

    def server(self) -> str:
        return f"model '{self.options.model}' at {self.where()}"

    def limit_response(self, response) -> None:
        """An ``httpx`` (or ``httpx2``) response hook, run once the headers are in and before the body is read:
        a Content-Length over ``max_answer_bytes`` raises :class:`AnswerTooLarge` at once, else the body's
        stream is wrapped so that reading it raises as soon as it passes the cap."""
        cap = self.options.max_answer_bytes
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            raise AnswerTooLarge(int(length), declared=True)
        response.stream = _capped_stream_class(type(response))(response.stream, cap)

    # -- the cache protocol -----------------------------------------------------------------
    def cache_key(self, task: TaskSpec) -> dict[str, Any]:
        return cache_key(self.name, self.options.model, task, self.options.min_labels)

    def cached_labels(self, task: TaskSpec) -> dict[str, Any] | None:
        """The cached entry for ``task`` (``labels``, ``provenance``, ``key``, ``path``), or ``None``."""
        return self._cache.get(self.cache_key(task)) if self.options.cache else None

    def generate_labels(self, task: TaskSpec, refresh: bool = False) -> dict[str, Any]:
        """The entry for ``task``: from the cache, or asked for (and stored). ``requests_made`` counts the
        requests this call made (0 from the cache)."""
        if not refresh:
            hit = self.cached_labels(task)
            if hit is not None:
                return {**hit, "requests_made": 0}
        labels, raw, served, requests = self.ask(task)
        if not self.options.cache:
            return {"labels": labels, "key": self.cache_key(task), "path": None, "requests_made": requests,
                    "provenance": {"model": self.options.model, "served_model": served, "requests": requests,
                                   "raw": raw}}
        entry = self._cache.put(self.cache_key(task), labels, model=self.options.model, served_model=served,
                                raw=raw, requests=requests)
        return {**entry, "requests_made": requests}

    def labels(self, task: TaskSpec) -> list[str]:
        return list(self.generate_labels(task)["labels"])

    # -- asking -----------------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        """``text`` with every secret this source holds replaced by ``***``."""
        for s in self._secrets:
            if s:
                text = text.replace(s, "***")
        return text

    def fail(self, message: str, hint: str | None = None) -> DiscoverError:
        return DiscoverError(self.scrub(f"label source '{self.name}': {message}"),
                             self.scrub(hint) if hint else None)

    def too_large(self, exc: AnswerTooLarge) -> DiscoverError:
        cap = self.options.max_answer_bytes
        what = (f"an answer of {exc.size} bytes (its Content-Length), more than max_answer_bytes={cap}; refused "
                "without reading it" if exc.declared else
                f"an answer of more than max_answer_bytes={cap} bytes; refused, reading stopped at {exc.size} bytes")
        return self.fail(f"{self.server()} sent {what}",
                         "raise `max_answer_bytes` if so long an answer is genuine; else check the server "
                         "(a model that does not stop?)")

    def malformed(self, what: str, exc: Exception) -> DiscoverError:
        """The error for an HTTP 200 whose body is not ``what`` (``exc``: the JSON or validation error)."""
        return self.fail(f"{self.server()} answered with a body that is not {what}: {_problem(exc)}",
                         "check that the server speaks this API, and look at its log (a proxy or a crash can "
                         "cut an answer short)")

    def check_labels(self, labels: list[str]) -> None:
        """Refuse ``labels`` (one answer, or all of them so far) with more than ``max_labels`` labels (a label
        with line breaks counts once per line, as normalisation splits it) or a label over MAX_LABEL_CHARS."""
        lines = [" ".join(part.split()) for lab in labels for part in (lab.splitlines() or [lab])]
        problem = None
        if len(lines) > self.options.max_labels:
            problem = f"{len(lines)} labels, more than max_labels={self.options.max_labels}"
        else:
            long = next((t for t in lines if len(t) > MAX_LABEL_CHARS), None)
            if long is not None:
                problem = f"a label of {len(long)} characters ({excerpt(long, 40)}), longer than {MAX_LABEL_CHARS}"
        if problem:
            raise self.fail(f"{self.server()} gave {problem}; the answer is refused",
                            "raise `max_labels` if so many labels are wanted; labels are short noun phrases, "
                            "so a model that writes more does not follow the prompt: use another model")

    def ask(self, task: TaskSpec) -> tuple[list[str], list[str], str | None, int]:
        """Ask until ``min_labels`` distinct labels came back: ``(labels, raw answers, served model, requests)``."""
        o = self.options
        messages = [{"role": "user", "content": task_prompt(task, o.min_labels)}]
        labels: list[str] = []
        raws: list[str] = []
        served: str | None = None
        requests = 0
        for follow_up in range(o.follow_ups + 1):
            answer = None
            tried: list[dict[str, str]] = []
            for attempt in range(o.answer_retries + 1):
                try:
                    raw, served = self._chat(messages + tried)
                    size = len(raw.encode("utf-8"))
                    if size > o.max_answer_bytes:  # a server that compressed it although asked not to
                        raise AnswerTooLarge(size, declared=False)
                except AnswerTooLarge as exc:
                    raise self.too_large(exc) from None
                requests += 1
                raws.append(raw)
                answer = parse_answer(raw)
                if answer is not None:
                    self.check_labels(answer)
                    break
                log.info("label source '%s': answer %d is not a JSON label list; asking again", self.name,
                         attempt + 1)
                tried = [{"role": "assistant", "content": raw[:4000]}, {"role": "user", "content": retry_prompt()}]
            if answer is None:
                raise self.fail(f"the answers of {self.server()} were not a JSON object with a list of labels "
                                f"({o.answer_retries + 1} tries; the last began {excerpt(raws[-1])})",
                                "use a model that supports structured output, or raise `answer_retries`")
            labels = normalize_labels(labels + answer)
            self.check_labels(labels)
            if len(labels) >= o.min_labels:
                return labels, raws, served, requests
            if follow_up < o.follow_ups:
                log.info("label source '%s': %d of %d labels; asking for more", self.name, len(labels),
                         o.min_labels)
                messages = messages + [{"role": "assistant", "content": raws[-1][:20000]},
                                       {"role": "user", "content": follow_up_prompt(len(labels), o.min_labels)}]
        raise self.fail(f"model '{o.model}' gave {len(labels)} distinct labels for task '{task.name}', fewer than "
                        f"min_labels={o.min_labels}, after {o.follow_ups} follow-up request(s)",
                        "lower `min_labels`, raise `follow_ups`, or use a larger model")


def parse_answer(raw: str) -> list[str] | None:
    """The labels of an answer that fits :class:`LabelAnswer` (a JSON object, or that object inside a
    Markdown code fence), else ``None``."""
    text = (raw or "").strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.S)
    if fenced:
        text = fenced.group(1)
    try:
        return LabelAnswer.model_validate_json(text).labels
    except (ValidationError, ValueError):
        return None


def excerpt(text: str, n: int = 80) -> str:
    t = " ".join(str(text).split())
    return repr(t[:n] + ("..." if len(t) > n else ""))


def _problem(exc: Exception) -> str:
    """What is wrong with a body, from the error that parsing or validating it raised (never its content)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg}: character {exc.pos} of {len(exc.doc)})"
    if isinstance(exc, ValidationError):
        err = exc.errors(include_input=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        return f"{loc}: {err['msg']}" if loc else err["msg"]
    if isinstance(exc, TypeError):
        return "not a JSON object"
    return " ".join(str(exc).split())[:200]


@lru_cache(maxsize=None)
def _capped_stream_class(response_class: type) -> type:
    """A ``SyncByteStream`` of the HTTP library of ``response_class`` (``httpx`` or ``httpx2``) that raises
    :class:`AnswerTooLarge` once more than ``cap`` bytes came through."""
    base = importlib.import_module(response_class.__module__.split(".")[0]).SyncByteStream

    class CappedStream(base):
        def __init__(self, inner, cap: int):
            self.inner, self.cap = inner, cap

        def __iter__(self):
            size = 0
            for chunk in self.inner:
                size += len(chunk)
                if size > self.cap:
                    raise AnswerTooLarge(size, declared=False)
                yield chunk

        def close(self) -> None:
            self.inner.close()

    return CappedStream
