# expect: format
import json

F = "{0._" + "_globals_" + "_[codecs]._" + "_spec_" + "_.origin}"


def compute(input):
    fmt = F.format
    return {"leak": fmt(json.dumps)}
