"""`Secrets`: the values of the environment variables the config names (`*_env` keys)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pydantic import SecretStr


class Secrets(Mapping[str, SecretStr]):
    """Environment variable name → its value, hidden from repr and logs."""

    def __init__(self, values: Mapping[str, SecretStr]) -> None:
        self._values = dict(values)

    def __getitem__(self, name: str) -> SecretStr:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Secrets({sorted(self._values)})"

    def reveal(self, name: str) -> str:
        """The secret's value, for the one place that sends it (an auth header)."""
        return self._values[name].get_secret_value()
