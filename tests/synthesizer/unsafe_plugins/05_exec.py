# expect: dynamic-code
def compute(input):
    scope = {}
    exec(input["code"], scope)
    return scope
