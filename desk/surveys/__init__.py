"""Satisfaction surveys: offered after a resolved ticket, answered on a public page.

``OfferSurveys.run_once`` (the ``router`` role runs it every few seconds) decides, once per
resolved ticket and SLA cycle, whether to ask, and sends what it decided to ask on the
ticket's own channel through ``cskh.outbound``; ``answer`` records the customer's rating from
``/s/{token}`` and opens a follow-up ticket for a low one.
"""

from desk.surveys.answer import AnswerError, Found, answer, find
from desk.surveys.offer import OfferSurveys, SurveyPolicy

__all__ = ["AnswerError", "Found", "OfferSurveys", "SurveyPolicy", "answer", "find"]
