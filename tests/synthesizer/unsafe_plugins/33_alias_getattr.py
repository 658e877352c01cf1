# expect: dynamic-attribute
ga = getattr


def compute(input):
    return {"cls": str(ga(input, "keys"))}
