"""The schema judge's program: checks JSON instances against JSON schemas, in the sandbox.

Run as ``python -I -S -B schema_judge_main.py`` by ``schema_judge.py``; it imports the standard
library and jsonschema (with what it needs), from the folders of the first input line
``{"path": [...]}``. Every further line is ``{"schema": {...}, "instance": ...}``; the answer is
``{"problem": null}`` or ``{"problem": "at PATH: message"}``. A schema's ``$ref`` resolves only
inside it. The host uses ``problem_of`` too, for the schemas and data it trusts.
"""

import json
import sys
from typing import Any

MESSAGE_LIMIT = 160


def validator_for(schema: dict[str, Any]) -> Any:
    """A Draft 2020-12 validator for ``schema`` whose ``$ref`` resolve inside it only."""
    import jsonschema
    from referencing import Registry

    return jsonschema.Draft202012Validator(schema, registry=Registry())


MAX_ERRORS = 1000
"""Errors weighed for the most relevant one, at most (an answer can hold millions)."""


def problem_of(validator: Any, instance: Any) -> "str | None":
    """The most relevant violation as ``at PATH: message``, or ``None``. A check that cannot
    be done (a number too big to divide, nesting too deep to print) is a violation too."""
    import itertools

    import jsonschema
    from referencing.exceptions import Unresolvable

    try:
        errors = itertools.islice(validator.iter_errors(instance), MAX_ERRORS)
        error = jsonschema.exceptions.best_match(errors)
    except Unresolvable as exc:
        ref = " ".join(str(exc.ref).split())[:100]
        return f"at $ref: cannot resolve {ref} (only '#...' resolve)"
    except (RecursionError, OverflowError, ValueError, MemoryError) as exc:
        return f"at $: the instance cannot be checked ({type(exc).__name__})"
    if error is None:
        return None
    message = error.message
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 3] + "..."
    return f"at {error.json_path}: {message}"


def main() -> None:
    setup = json.loads(sys.stdin.readline())
    sys.path[:0] = setup["path"]
    validators: dict[str, Any] = {}
    for line in sys.stdin:
        question = json.loads(line)
        key = json.dumps(question["schema"], sort_keys=True)
        if key not in validators:
            validators[key] = validator_for(question["schema"])
        answer = {"problem": problem_of(validators[key], question["instance"])}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
