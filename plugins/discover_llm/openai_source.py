"""The ``openai`` label source: the OpenAI Chat Completions API, or any server that speaks it (``base_url``).

Structured output: ``response_format`` is a strict JSON schema (``{"labels":
[string]}``, :func:`.prompt.answer_schema`), or ``json_object`` for servers
without JSON-schema support; the answer is validated with pydantic
(:class:`.prompt.LabelAnswer`). Rate limits (429), server errors (5xx), lost
connections and timeouts are retried by the ``openai`` client itself
(``retries`` times): it waits what ``Retry-After`` says, up to two minutes (a
longer ``Retry-After`` is not waited for), else an exponential back-off of
0.5 s doubling up to 8 s.

Limits (:class:`.base.LLMOptions`): the body is read by the client's ``httpx``
through a response hook that refuses a Content-Length over
``max_answer_bytes`` before reading anything and otherwise stops reading at
that many bytes; the body is then parsed here (``with_raw_response``), so a
cut-short, non-JSON or wrongly shaped body is refused with a message naming
the server and the model, not retried. Too many labels, or a label too long,
are refused before normalisation; nothing refused reaches the label cache.

The API key is read from the environment variable named by ``api_key_env``
(``Context.secret``); it is handed to the client only and is scrubbed from
every message this source raises. The openai client's own debug log redacts
the authorisation header.
"""

from __future__ import annotations

import json
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field

from .base import ENV_VAR, AnswerTooLarge, LLMLabelSource, LLMOptions
from .prompt import answer_schema


def public_url(url: str) -> str:
    """``url`` without user name, password, query or fragment (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the configured base_url"
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message


class _Completion(BaseModel):
    """The part of a chat completion this source reads (other fields are ignored)."""

    model: str | None = None
    choices: list[_Choice]


class OpenAILabels(LLMLabelSource):
    """Candidate labels from an OpenAI chat model (or any OpenAI-compatible server): the paper's prompt, cached."""

    name = "openai"
    requires = ("openai", "inflect")

    class Options(LLMOptions):
        base_url: str | None = Field(
            None, description="an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1); unset: OpenAI's API")
        api_key_env: str | None = Field(
            "OPENAI_API_KEY", pattern=ENV_VAR,
            description="the environment variable that holds the API key (the key itself never goes in a "
                        "pipeline file); null for a local server that needs none")
        response_format: Literal["json_schema", "json_object"] = Field(
            "json_schema", description="json_schema: strict structured output; json_object: plain JSON mode, "
                                       "for servers without JSON-schema support")

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._client = None

    def where(self) -> str:
        return public_url(self.options.base_url) if self.options.base_url else "the OpenAI API"

    def client(self):
        """The ``openai.OpenAI`` client (built on the first request, so cached labels need no key)."""
        if self._client is None:
            self.check_requirements()
            import openai

            o = self.options
            if o.api_key_env:
                key = self.context.secret(o.api_key_env, f"the API key for label source '{self.name}'")
                self._secrets.append(key)
            else:
                key = "unused"  # the client wants one; a local server ignores it
            self._client = openai.OpenAI(
                api_key=key, base_url=o.base_url, timeout=o.timeout, max_retries=o.retries,
                default_headers={"Accept-Encoding": "identity"},  # max_answer_bytes counts the bytes on the wire
                http_client=openai.DefaultHttpxClient(event_hooks={"response": [self.limit_response]}))
        return self._client

    def _response_format(self) -> dict:
        if self.options.response_format == "json_object":
            return {"type": "json_object"}
        return {"type": "json_schema",
                "json_schema": {"name": "label_list", "strict": True, "schema": answer_schema()}}

    def _chat(self, messages):
        import openai

        o = self.options
        extra = {"temperature": o.temperature} if o.temperature is not None else {}
        client = self.client()
        try:
            reply = client.chat.completions.with_raw_response.create(
                model=o.model, messages=messages, response_format=self._response_format(), **extra)
        except openai.APITimeoutError:
            raise self.fail(f"{self.where()} did not answer within {o.timeout:g} s "
                            f"({o.retries} retries)", "raise `timeout`, or check that the server is not "
                                                      "overloaded") from None
        except openai.APIConnectionError as exc:
            if isinstance(exc.__cause__, AnswerTooLarge):  # openai 1.x wraps (and retries) any exception
                raise exc.__cause__ from None
            raise self.fail(f"cannot reach {self.where()} ({_cause(exc)}; {o.retries} retries)",
                            "check `base_url` and that the server is running" if o.base_url else
                            "check the network connection") from None
        except openai.AuthenticationError:
            raise self.fail(f"{self.where()} refused the API key (401)",
                            f"check the key in ${o.api_key_env}" if o.api_key_env else
                            "the server wants a key: set `api_key_env`") from None
        except openai.PermissionDeniedError as exc:
            raise self.fail(f"{self.where()} denied access to model '{o.model}' (403): {_message(exc)}",
                            "check that the key may use this model") from None
        except openai.NotFoundError as exc:
            raise self.fail(f"model '{o.model}' not found at {self.where()} (404): {_message(exc)}",
                            "check `model` (and `base_url`: OpenAI-compatible servers usually end in /v1)") from None
        except openai.RateLimitError:
            raise self.fail(f"{self.where()} is rate limiting requests (429), still after {o.retries} retries",
                            "wait and run `discover labels generate` again (the answer is cached once it "
                            "comes), or raise `retries`") from None
        except openai.BadRequestError as exc:
            raise self.fail(f"{self.where()} rejected the request (400): {_message(exc)}",
                            "a model without JSON-schema output: set `response_format: json_object`") from None
        except openai.APIStatusError as exc:
            after = f", still after {o.retries} retries" if exc.status_code >= 500 else ""
            raise self.fail(f"{self.where()} answered HTTP {exc.status_code}{after}: {_message(exc)}",
                            "try again later, or check the server's log") from None
        try:
            completion = _Completion.model_validate(json.loads(reply.content))
        except ValueError as exc:  # JSONDecodeError, ValidationError
            raise self.malformed("a chat completion", exc) from None
        content = completion.choices[0].message.content if completion.choices else None
        return content or "", completion.model


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return " ".join(str(msg).split())[:300]
    return " ".join(str(getattr(exc, "message", "") or exc).split())[:300]


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    text = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
    return " ".join(text.split())[:200]
