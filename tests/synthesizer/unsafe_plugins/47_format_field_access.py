# expect: format
def compute(input):
    return {"leak": "{0.keys}".format(input)}
