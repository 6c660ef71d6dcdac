"""What both LLM label sources share: options, the ask loop (follow-ups, answer retries), the label cache."""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from pydantic import Field, ValidationError

from discover_core.errors import DiscoverError
from discover_core.interfaces import LabelSource, Options, TaskSpec

from .cache import LabelCache, cache_key
from .normalize import normalize_labels
from .prompt import LabelAnswer, follow_up_prompt, retry_prompt, task_prompt

log = logging.getLogger(__name__)

ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]*$"


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
                raw, served = self._chat(messages + tried)
                requests += 1
                raws.append(raw)
                answer = parse_answer(raw)
                if answer is not None:
                    break
                log.info("label source '%s': answer %d is not a JSON label list; asking again", self.name,
                         attempt + 1)
                tried = [{"role": "assistant", "content": raw[:4000]}, {"role": "user", "content": retry_prompt()}]
            if answer is None:
                raise self.fail(f"the answers of model '{o.model}' were not a JSON object with a list of labels "
                                f"({o.answer_retries + 1} tries; the last began {excerpt(raws[-1])})",
                                "use a model that supports structured output, or raise `answer_retries`")
            labels = normalize_labels(labels + answer)
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
