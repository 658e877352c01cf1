# expect: dynamic-attribute
def compute(input):
    return {"cls": str([getattr][0](input, "__cl" + "ass__"))}
