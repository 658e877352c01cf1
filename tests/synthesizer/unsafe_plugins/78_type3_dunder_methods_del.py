# expect: dynamic-class
LOG = []
D = "_" + "_del_" + "_"


def compute(input):
    Evil = type("Evil", (), {D: lambda self: LOG.append("finaliser ran")})
    Evil()
    return {"log": LOG}
