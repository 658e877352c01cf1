# expect: monkeypatch
import json


def compute(input):
    json.dumps = repr
    return {}
