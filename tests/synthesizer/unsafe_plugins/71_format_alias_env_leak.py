# expect: format
import dataclasses

FIELD = "{0._" + "_globals_" + "_[sys].modules[os].environ[HOME]}"


def compute(input):
    fmt = str.format
    return {"home": fmt(FIELD, dataclasses.fields)}
