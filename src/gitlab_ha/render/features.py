"""What differs between GitLab versions, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from gitlab_ha.topology.versions import Version, parse_version


@dataclass(frozen=True)
class Features:
    version: Version

    @classmethod
    def for_version(cls, text: str) -> Features:
        return cls(parse_version(text))

    @property
    def sidekiq_concurrency_key(self) -> str:
        """`sidekiq['concurrency']` replaces `max_concurrency`/`min_concurrency` from 16.9 (deprecated there, gone
        in 17.0), so we switch as soon as the old key is deprecated, like `repositories_storages`."""
        return "max_concurrency" if self.version < (16, 9, 0) else "concurrency"

    @property
    def repositories_storages(self) -> bool:
        """`git_data_dirs` is deprecated from 17.8 and gone in 18.0; `gitlab_rails['repositories_storages']`
        (with `gitaly['configuration']` storages) replaces it, so we switch as soon as it is deprecated."""
        return self.version >= (17, 8, 0)

    @property
    def gitaly_role(self) -> bool:
        """`gitaly_role` ships from 17.6.0 on ("Add Gitaly role"); 17.0-17.5 reject it as an invalid role."""
        return self.version >= (17, 6, 0)
