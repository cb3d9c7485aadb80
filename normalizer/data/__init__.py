"""Labelled messages the classifier is trained and evaluated on."""
