# expect: module-value
import json


def compute(input, codec=json):
    return {"v": codec.decoder}
