# expect: dunder
def compute(input):
    return dict(__class__=1)
