"""The throwaway PKI and TLS broker fixtures of this folder live in ``tls_support.py``."""

from tls_support import *  # noqa: F403 - fixtures, found by pytest through this module
