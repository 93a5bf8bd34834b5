"""Drives nbgate-testkernel with jupyter_client's BlockingKernelClient, as a real frontend would.

Usage: python jupyter_client_echo.py CONNECTION_FILE
Prints one JSON object: the stream text and reply of `echo 42`, and the shutdown reply.
"""

import json
import sys

from jupyter_client import BlockingKernelClient

client = BlockingKernelClient(connection_file=sys.argv[1])
client.load_connection_file()
client.start_channels()
client.wait_for_ready(timeout=10)

msg_id = client.execute("echo 42")
streams = []
while True:
    message = client.get_iopub_msg(timeout=10)
    if message["parent_header"].get("msg_id") != msg_id:
        continue
    if message["msg_type"] == "stream":
        streams.append(message["content"]["text"])
    if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
        break
reply = client.get_shell_msg(timeout=10)
assert reply["parent_header"]["msg_id"] == msg_id, reply

client.shutdown()
shutdown = client.get_control_msg(timeout=10)
client.stop_channels()
print(json.dumps({
    "streams": streams,
    "reply": {key: reply["content"][key] for key in ("status", "execution_count")},
    "shutdown": shutdown["content"],
}))
