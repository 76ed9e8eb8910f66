"""The data stage: corpus folders -> clips -> frames -> faces -> cached face datasets.

Imports nothing of ``pathfer.models``, ``pathfer.study`` or ``pathfer.use``.
"""
