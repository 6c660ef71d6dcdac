"""Label source ``template-words``: candidate labels from a word list in the options."""

from __future__ import annotations

from pydantic import Field, field_validator

from discover_core import LabelSource, Options, TaskSpec


def normalise(word: str) -> str:
    """Trim, collapse inner whitespace, lower-case: ``"  Traffic   Light "`` -> ``"traffic light"``."""
    return " ".join(word.split()).lower()


class TemplateWords(LabelSource):
    """Candidate labels from a word list: trimmed, lower-cased and de-duplicated, in their order."""

    name = "template-words"

    class Options(Options):
        words: tuple[str, ...] = Field(("person", "car", "dog"), min_length=1,
                                       description="the candidate labels, in order of preference")
        include_task: bool = Field(False, description="also offer the task's name as a label")

        @field_validator("words")
        @classmethod
        def _not_blank(cls, words: tuple[str, ...]) -> tuple[str, ...]:
            if not any(normalise(w) for w in words):
                raise ValueError("give at least one non-blank word")
            return words

    @classmethod
    def known_labels(cls, options: "TemplateWords.Options", context) -> list[str] | None:
        """The labels without building anything (for ``discover validate``); unknown when they include the task."""
        return None if options.include_task else cls._words(options.words)

    @staticmethod
    def _words(words) -> list[str]:
        return list(dict.fromkeys(w for w in map(normalise, words) if w))

    def labels(self, task: TaskSpec) -> list[str]:
        words = list(self.options.words)
        if self.options.include_task:
            words.append(task.name)
        return self._words(words)
