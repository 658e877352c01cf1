# expect: import
import pickle


def compute(input):
    return pickle.loads(bytes.fromhex(input["blob"]))
