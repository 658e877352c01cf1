# expect: import
from os import getenv


def compute(input):
    return {"key": getenv("AWS_SECRET_ACCESS_KEY")}
