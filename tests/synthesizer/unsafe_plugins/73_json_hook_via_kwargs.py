# expect: keywords
import json

SEEN = []


def hook(obj):
    SEEN.append(obj)
    return obj


def compute(input):
    json.loads('{"a": 1}', **{"object_hook": hook})
    return {"hook_called": SEEN}
