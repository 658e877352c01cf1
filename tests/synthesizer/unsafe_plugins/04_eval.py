# expect: dynamic-code
def compute(input):
    return {"value": eval(input["formula"])}
