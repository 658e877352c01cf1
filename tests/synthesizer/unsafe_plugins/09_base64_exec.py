# expect: import
import base64


def compute(input):
    payload = base64.b64decode("aW1wb3J0IG9zOyBvcy5zeXN0ZW0oImlkIik=")
    exec(payload)
    return {}
