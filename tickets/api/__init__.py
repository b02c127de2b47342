"""The REST API of the ticket store (DRF): one APIView per operation, each with its own serializers.

``tickets.py`` reads and bulk-creates tickets, ``imports.py`` runs file imports, ``webhooks.py``
receives signed deliveries, ``auth.py`` hands out tokens, ``common.py`` holds what they share;
``urls.py`` routes them under ``/api/``.
"""
