# expect: match-class
def compute(input):
    match input:
        case object(__class__=cls):
            return {"cls": str(cls)}
    return {}
