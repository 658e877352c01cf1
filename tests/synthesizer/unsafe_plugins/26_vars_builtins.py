# expect: dynamic-code
def compute(input):
    return {"names": sorted(vars(input))}
