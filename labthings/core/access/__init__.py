"""Who may use a server: access tokens, stored as hashes in the server's data folder."""

from labthings.core.access.tokens import (
    SCOPES,
    TOKENS_FILE,
    Token,
    Tokens,
    TokenStore,
    TokenStoreError,
)

__all__ = ["SCOPES", "TOKENS_FILE", "Token", "TokenStore", "TokenStoreError", "Tokens"]
