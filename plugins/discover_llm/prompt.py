"""The prompt of the paper's Algorithm 1, the follow-up for short answers, and the answer's JSON schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from discover_core.interfaces import TaskSpec

PROMPT_VERSION = 1
"""Part of every cache key: bump it when the prompt's text changes, so old answers are not reused."""

SYSTEM = "Suppose you are an AI assistant and now need to generate task-related object labels based on the task."


class LabelAnswer(BaseModel):
    """What the model must answer: a JSON object with a list of labels."""

    model_config = ConfigDict(extra="forbid")
    labels: list[str] = Field(description="the candidate labels, one short noun phrase each")


def answer_schema() -> dict:
    """The JSON schema of :class:`LabelAnswer` (strict: no other keys), for structured output."""
    schema = LabelAnswer.model_json_schema()
    schema["additionalProperties"] = False
    return schema


def task_prompt(task: TaskSpec, min_labels: int) -> str:
    """Algorithm 1, in order, with the task's name and description filled in."""
    description = task.description.strip() or f"the {task.name} task"
    return "\n".join([
        SYSTEM,
        f"The number of labels should not be fewer than {min_labels}, and the labels should cover a wide range "
        "of categories while maintaining appropriate granularity.",
        "First, you should determine the granularity required by the task, and then generate the corresponding "
        "labels.",
        "For example:",
        "- For some tasks, something that can't be detected, such as the sky or rivers, shouldn't be included as "
        "labels.",
        "- For some tasks, it is necessary to include more comprehensive information about the image, and it "
        "needs overly general categories.",
        f"I am working on the {task.name} and need a representative label list.",
        f"The task description is as {description}.",
        'Answer with a JSON object {"labels": [...]}: one label per entry, a short noun phrase in the singular, '
        "without numbering.",
    ])


def follow_up_prompt(have: int, min_labels: int) -> str:
    """Asked when an answer held fewer than ``min_labels`` distinct labels."""
    return (f"That gives {have} distinct labels, fewer than {min_labels}. Give at least {min_labels - have} more "
            "different labels for the same task, none repeating the ones above, as the same JSON object "
            '{"labels": [...]}.')


def retry_prompt() -> str:
    """Asked when an answer was not JSON or did not fit the schema."""
    return 'That answer was not a JSON object {"labels": [...]} of strings. Answer again with only that object.'
