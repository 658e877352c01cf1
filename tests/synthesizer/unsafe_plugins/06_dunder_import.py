# expect: dunder
def compute(input):
    __import__("os").system("id")
    return {}
