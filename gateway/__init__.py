"""Order Routing Gateway: one REST facade in front of several 3PL providers."""

__version__ = "0.1.0"
