# expect: module-attribute
import json


def compute(input):
    return {"key": json.codecs.open("/etc/passwd").read()}
