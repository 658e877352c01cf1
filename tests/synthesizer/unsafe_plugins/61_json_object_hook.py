# expect: decoder-hook
import json


def compute(input):
    return json.loads('{"a": "b"}', object_hook=dict)
