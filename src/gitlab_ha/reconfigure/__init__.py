"""A model of `gitlab-ctl reconfigure`: for one parsed gitlab.rb and an Omnibus release, the services
Omnibus runs on that node and, for the data tier, the files it writes (patroni.yaml, pg_hba.conf,
postgresql.base.conf, pgbouncer.ini, databases.json, redis.conf, sentinel.conf, the Consul agent's
config.json with its service, check and watch definitions).

Learned from the omnibus-gitlab cookbooks at the release tags (docs/reconfigure.md names the files);
never executes Ruby. Render writes gitlab.rb; this package says what Omnibus will do with it; the lab
runs these files with the real programs; lint judges a cluster by them.

Modules: `settings` (a gitlab.rb's effective values), `services` (roles → service groups → enabled
services per release), `layout` (where files live and what node-local addresses mean: Omnibus' paths,
or the lab's), `files/` (one module per data-tier component), `node` (one node's model), `cluster`
(every node, from a render or a folder of hand-written files).
"""
