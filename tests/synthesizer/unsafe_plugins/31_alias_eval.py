# expect: dynamic-code
e = eval


def compute(input):
    return {"x": e(input["formula"])}
