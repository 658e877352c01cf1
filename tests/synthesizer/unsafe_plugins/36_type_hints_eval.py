# expect: string-evaluator
from typing import get_type_hints


def probe(x: "eval(\"1\")") -> None:
    return None


def compute(input):
    return {"hints": str(get_type_hints(probe))}
