"""`gitlab-ha secrets`: create, list and rotate the cluster's secrets store. Never prints a value."""

from __future__ import annotations

from pathlib import Path

import typer

from gitlab_ha.cli.output import console, load_topology_warned, print_json, print_table, warn
from gitlab_ha.secrets.catalog import CONSUL_TLS, get_spec
from gitlab_ha.secrets.rotation import reconfigure_order
from gitlab_ha.secrets.store import STORE_ENV, SecretStore

secrets_app = typer.Typer(
    name="secrets",
    help="Generate, list and rotate every password, token and key of the cluster (0600 JSON store, "
    "never printed).\n\nExample: gitlab-ha secrets init --store secrets.json && gitlab-ha secrets list",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _store_option() -> Path:
    option: Path = typer.Option(
        Path("secrets.json"),
        "--store",
        "-s",
        envvar=STORE_ENV,
        help="Secrets store file.",
    )
    return option


@secrets_app.command("init")
def init_cmd(store: Path = _store_option()) -> None:
    """Generate every secret into a new 0600 store; refuses to overwrite an existing one.

    A secret whose GITLAB_HA_SECRET_<NAME> env var is set is taken from there and not written.

    Example: gitlab-ha secrets init --store secrets.json
    """
    created = SecretStore.init(store)
    rows = created.describe()
    from_env = [str(row["name"]) for row in rows if row["source"] != "file"]
    console.print(f"wrote {store} (mode 0600): {len(rows) - len(from_env)} secrets generated")
    if from_env:
        console.print(f"taken from the environment, not stored: {', '.join(from_env)}")


@secrets_app.command("list")
def list_cmd(
    store: Path = _store_option(),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the secrets: name, kind, PostgreSQL user, source and env var. Never their values.

    Example: gitlab-ha secrets list --store secrets.json --json
    """
    rows = SecretStore.load(store).describe()
    if json_out:
        print_json({"store": str(store), "secrets": rows})
        return
    print_table(
        f"secrets in {store}",
        ["name", "kind", "user", "source", "env var", "generated"],
        [(r["name"], r["kind"], r["user"] or "", r["source"], r["env_var"], r["generated_at"] or "") for r in rows],
    )


@secrets_app.command("rotate")
def rotate_cmd(
    name: str = typer.Argument(..., help="Secret to replace, e.g. redis_password (see `gitlab-ha secrets list`)."),
    store: Path = _store_option(),
    topology: Path | None = typer.Option(
        None, "--topology", "-t", help="Cluster file: name the nodes to reconfigure, in order, instead of roles."
    ),
) -> None:
    """Replace one secret with a fresh value; every other secret stays as it is.

    Then render again and reconfigure the nodes that hold it (the order is printed, and in
    docs/secrets.md).

    Example: gitlab-ha secrets rotate redis_password --store secrets.json --topology cluster.yml
    """
    spec = get_spec(name)
    cluster = None
    if topology is not None:
        cluster = load_topology_warned(topology)
    SecretStore.rotate(store, spec.name)
    console.print(f"rotated {spec.name} in {store}")
    console.print(f"next: gitlab-ha render, then reconfigure {reconfigure_order(spec, cluster)}")


@secrets_app.command("tls")
def tls_cmd(
    store: Path = _store_option(),
    topology: Path = typer.Option(
        ..., "--topology", "-t", help="Cluster file: its consul datacenter names the server certificate."
    ),
    ca_cert: Path | None = typer.Option(
        None, "--ca-cert", help="Your own CA's certificate (PEM); with --ca-key. Default: a new CA."
    ),
    ca_key: Path | None = typer.Option(
        None, "--ca-key", help="Your own CA's unencrypted key (PEM); used to sign, never stored."
    ),
    replace: bool = typer.Option(False, "--replace", help="Issue them again, replacing those in the store."),
) -> None:
    """Issue the Consul TLS files into the store, for a topology with consul.tls: the CA (a new one, or
    yours), the Consul servers' certificate, the client agents' and Patroni's, with their keys.

    Certificates and keys are never printed; `render` writes them into each node's folder.

    Example: gitlab-ha secrets tls --store secrets.json --topology cluster.yml
    """
    from gitlab_ha.secrets.consul_tls import issue  # cryptography is only needed here

    topo = load_topology_warned(topology)
    datacenter = topo.consul.datacenter
    SecretStore.load(store)  # a broken store is refused before any key is made
    values = issue(datacenter, ca_cert_file=ca_cert, ca_key_file=ca_key)
    SecretStore.put_group(store, values, CONSUL_TLS, replace=replace)
    ca = "your CA (its key is not stored)" if ca_cert is not None else "a new CA"
    console.print(
        f"wrote {len(values)} Consul TLS entries to {store} (mode 0600): {ca}, certificates for the servers "
        f"(server.{datacenter}.consul), the client agents and Patroni"
    )
    if topo.consul.tls == "off":
        warn(f"{topology}: consul.tls is off, so render will not use them")


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")
