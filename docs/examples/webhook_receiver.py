import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from creditmeter.webhooks import WebhookVerificationError, verify


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            verify(os.environ["WEBHOOK_SECRET"], self.headers, body)
        except WebhookVerificationError as refusal:
            print("refused:", refusal, flush=True)
            self.send_response(400)
        else:
            print("verified", self.headers["webhook-id"], body.decode(), flush=True)
            self.send_response(204)
        self.end_headers()


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Receiver).serve_forever()
