"""A thin harness around python-socketio for the Rust tests; same protocol as sio_probe.mjs.

Usage: python3 sio_probe.py <url> <token|-> <websocket|polling> [mode, ignored: `recover` is Node's]
"""
import json
import sys
import threading

import socketio

url, token, transport = sys.argv[1:4]
lock = threading.Lock()


def say(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


sio = socketio.Client(reconnection=False)


@sio.event
def connect():
    say({"connected": sio.sid})


@sio.event
def connect_error(data):
    message = data.get("message") if isinstance(data, dict) else str(data)
    say({"connect_error": message})


@sio.event
def disconnect(reason=None):
    say({"disconnect": str(reason)})


@sio.on("*")
def any_event(event, data=None):
    say({"event": event, "data": data})


try:
    sio.connect(url, auth=None if token == "-" else {"token": token}, transports=[transport], wait_timeout=5)
except socketio.exceptions.ConnectionError:
    pass  # reported through connect_error

for line in sys.stdin:
    cmd = json.loads(line)
    if "ack" in cmd:
        try:
            data = sio.call(cmd["emit"], cmd.get("data"), timeout=5)
        except Exception as exc:  # timeouts and disconnections become data for the test to assert on
            data = {"timeout": str(exc)}
        say({"ack": cmd["ack"], "data": data})
    else:
        sio.emit(cmd["emit"], cmd.get("data"))
sio.disconnect()
