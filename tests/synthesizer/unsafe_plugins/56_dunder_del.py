# expect: dunder
class Trap:
    def __del__(self):
        print("runs at collection, wherever that happens")


def compute(input):
    Trap()
    return {}
