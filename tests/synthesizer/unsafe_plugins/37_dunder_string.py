# expect: dunder
import json


def compute(input):
    return json.loads("{}", object_hook=lambda d: d.get("__class__"))
