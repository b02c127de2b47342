"""The REST API of the ticket store (DRF): one APIView per operation."""

from __future__ import annotations
