"""Webhooks: verify what creditmeter sends, in a receiver.

    from creditmeter.webhooks import verify, WebhookVerificationError

    verify(secret, request.headers, raw_body)  # raises WebhookVerificationError

Signatures follow Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``); see docs/alerts.md.
"""

from creditmeter.webhooks.signing import WebhookVerificationError, verify

__all__ = ["WebhookVerificationError", "verify"]
