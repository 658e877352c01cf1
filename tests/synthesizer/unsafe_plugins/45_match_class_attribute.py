# expect: match-class
class Probe:
    pass


def compute(input):
    match Probe():
        case Probe(secret=value):
            return {"v": value}
    return {}
