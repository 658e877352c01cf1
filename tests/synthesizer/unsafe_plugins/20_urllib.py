# expect: import
import urllib.request


def compute(input):
    return {"page": urllib.request.urlopen("http://127.0.0.1:8000/").read().decode()}
