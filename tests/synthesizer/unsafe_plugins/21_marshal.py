# expect: import
import marshal


def compute(input):
    exec(marshal.loads(bytes.fromhex(input["code"])))
    return {}
