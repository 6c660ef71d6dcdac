"""The ``ollama`` label source: a local (or remote) Ollama server's chat API through the ``ollama`` client.

Structured output: ``format=`` is the JSON schema of :class:`.prompt.LabelAnswer`,
and the answer is validated with pydantic. The ``ollama`` client does not
retry, so this source does: after a rate limit (429), a server error (5xx)
or a refused connection (a server still starting), up to ``retries`` times,
waiting what ``Retry-After`` says or else 0.5 s doubling up to 8 s, and never
more than ``max_wait`` seconds in all. A request that takes longer than
``timeout`` is not repeated.

Limits (:class:`.base.LLMOptions`): a response hook on the client's ``httpx``
refuses a Content-Length over ``max_answer_bytes`` before reading anything and
otherwise stops reading the body at that many bytes, so an oversized answer
is never parsed; a cut-short, non-JSON or wrongly shaped body (which the
``ollama`` client fails to parse) is refused with a message naming the server
and the model. Too many labels, or a label too long, are refused before
normalisation; nothing refused reaches the label cache.
"""

from __future__ import annotations

import logging
import time

from pydantic import Field

from .base import ENV_VAR, LLMLabelSource, LLMOptions
from .openai_source import public_url
from .prompt import answer_schema

log = logging.getLogger(__name__)

INITIAL_WAIT = 0.5
MAX_STEP = 8.0


def retry_after(headers) -> float | None:
    """Seconds from a ``Retry-After`` header (a number, or an HTTP date), or ``None``."""
    if headers is None:
        return None
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OllamaLabels(LLMLabelSource):
    """Candidate labels from a model served by Ollama: the paper's prompt, schema-constrained output, cached."""

    name = "ollama"
    requires = ("ollama", "inflect")

    class Options(LLMOptions):
        model: str = Field("llama3.1:8b", min_length=1, description="the Ollama model to ask (`ollama list`)")
        host: str = Field("http://127.0.0.1:11434", min_length=1, description="the Ollama server")
        api_key_env: str | None = Field(
            None, pattern=ENV_VAR, description="environment variable with a bearer token, for a server behind "
                                               "an authenticating proxy (null: none)")
        max_wait: float = Field(60.0, ge=0, le=3600, description="at most this many seconds of waiting "
                                                                  "between retries, in all")

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._client = None
        self._last_headers = None

    def where(self) -> str:
        return public_url(self.options.host)

    def client(self):
        if self._client is None:
            self.check_requirements()
            import ollama

            o = self.options
            headers = {"accept-encoding": "identity"}  # max_answer_bytes counts the bytes on the wire
            if o.api_key_env:
                token = self.context.secret(o.api_key_env, f"the token for label source '{self.name}'")
                self._secrets.append(token)
                headers["Authorization"] = f"Bearer {token}"

            def remember(response):  # the client raises without headers; Retry-After is read from here
                self._last_headers = response.headers

            self._client = ollama.Client(host=o.host, timeout=o.timeout, headers=headers,
                                         event_hooks={"response": [remember, self.limit_response]})
        return self._client

    def _chat(self, messages):
        import httpx
        import ollama

        o = self.options
        client = self.client()
        waited = 0.0
        for attempt in range(o.retries + 1):
            self._last_headers = None
            try:
                reply = client.chat(model=o.model, messages=messages, format=answer_schema(), stream=False,
                                    options={"temperature": o.temperature} if o.temperature is not None else None)
                return (reply.message.content or ""), getattr(reply, "model", None)
            except ollama.ResponseError as exc:
                status = exc.status_code
                if status == 404:
                    raise self.fail(f"model '{o.model}' not found at {self.where()} (404): {_short(exc.error)}",
                                    f"`ollama pull {o.model}` on the server, or fix `model`") from None
                if status in (401, 403):
                    raise self.fail(f"{self.where()} refused the request ({status}): {_short(exc.error)}",
                                    f"check the token in ${o.api_key_env}" if o.api_key_env else
                                    "the server wants a token: set `api_key_env`") from None
                if status != 429 and status < 500:
                    raise self.fail(f"{self.where()} rejected the request ({status}): {_short(exc.error)}",
                                    "check `model` and the server's version (structured output needs "
                                    "Ollama 0.5 or later)") from None
                what = "is rate limiting requests (429)" if status == 429 else f"answered HTTP {status}"
                wait = retry_after(self._last_headers)
            except ConnectionError:
                what, wait = "refused the connection (not running, or still starting?)", None
            except httpx.TimeoutException:
                raise self.fail(f"{self.where()} did not answer within {o.timeout:g} s",
                                "raise `timeout` (a large model loads slowly the first time)") from None
            except httpx.HTTPError as exc:
                what, wait = f"could not be reached ({type(exc).__name__}: {_short(str(exc))})", None
            except (ValueError, TypeError) as exc:  # the client's JSON parse or ChatResponse(**body) failed
                raise self.malformed("an Ollama chat response", exc) from None
            step = wait if wait is not None else min(INITIAL_WAIT * 2 ** attempt, MAX_STEP)
            if attempt == o.retries or waited + step > o.max_wait:
                tries = f"after {attempt} retr{'y' if attempt == 1 else 'ies'}"
                if attempt < o.retries:
                    tries += f" (waiting {step:g} s more would pass max_wait={o.max_wait:g} s)"
                hint = ("start the server (`ollama serve`) and check `host`" if what.startswith(("refused", "could"))
                        else "try again later, or raise `retries` / `max_wait`")
                raise self.fail(f"{self.where()} {what}, {tries}", hint)
            log.info("label source 'ollama': %s %s; retrying in %.1f s", self.where(), what, step)
            time.sleep(step)
            waited += step
        raise AssertionError("unreachable")


def _short(text) -> str:
    return " ".join(str(text).split())[:300]
