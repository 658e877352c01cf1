# expect: dunder
def compute(input):
    return {"loader": str(__loader__)}
