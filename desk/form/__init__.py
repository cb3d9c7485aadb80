"""The public web form: ``GET /form`` (embeddable), its snippet, and its thank-you page."""
