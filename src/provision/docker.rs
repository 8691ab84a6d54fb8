//! Docker provider: one PostgreSQL container per run, through testcontainers.
//!
//! The image follows the official `postgres` image's contract
//! (`POSTGRES_PASSWORD`, extra arguments passed to `postgres`), so both the
//! official image and the offline one from `scripts/build-image.sh` work. We
//! always connect to `127.0.0.1` and the mapped port, never to the address
//! testcontainers reports as the host (a bridge address inside containers).

use std::time::Duration;

use bollard::Docker;
use testcontainers::core::{IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::{Endpoint, Host, ProviderKind, ProvisionError, Secret, Server, wait_ready};

/// The image used when neither `--image` nor `ROWFENCE_IMAGE` names one.
pub const DEFAULT_IMAGE: &str = "postgres:17";
/// The offline equivalent built by `scripts/build-image.sh`, used when the
/// default image is neither present nor pullable.
pub const OFFLINE_IMAGE: &str = "rowfence/postgres:17";

const READY_LINE: &str = "database system is ready to accept connections";

/// A running container; removed on shutdown or drop.
pub struct DockerServer {
    container: Option<ContainerAsync<GenericImage>>,
}

/// Where a local engine listens when DOCKER_HOST does not say otherwise.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Whether a Docker engine answers (within 3 s), and if not, why.
pub async fn engine_available() -> Result<(), String> {
    let docker = Docker::connect_with_local_defaults().map_err(|e| format!("no Docker engine: {e}"))?;
    ping(&docker).await
}

async fn ping(docker: &Docker) -> Result<(), String> {
    // Without DOCKER_HOST, bollard dials the default socket; when it is not
    // even there, say so at once instead of waiting on the client's retries.
    // A socket file left by an engine that is gone refuses at once too.
    if std::env::var_os("DOCKER_HOST").is_none() {
        if !std::path::Path::new(DEFAULT_SOCKET).exists() {
            return Err(format!("no Docker engine answers (no {DEFAULT_SOCKET})"));
        }
        if let Err(e) = std::os::unix::net::UnixStream::connect(DEFAULT_SOCKET) {
            return Err(format!("no Docker engine answers on {DEFAULT_SOCKET} ({e})"));
        }
    }
    match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("no Docker engine answers ({e})")),
        Err(_) => Err("the Docker engine did not answer within 3s".into()),
    }
}

/// Starts a container. With `probing` (auto mode), gives up quickly when no
/// engine answers or no usable image is present, so the caller can fall back.
/// `args` are extra server arguments.
pub async fn start(image: Option<&str>, probing: bool, args: &[String]) -> Result<Server, ProvisionError> {
    let err = ProvisionError::Docker;
    let docker = Docker::connect_with_local_defaults().map_err(|e| err(format!("no Docker engine: {e}")))?;
    ping(&docker).await.map_err(err)?;
    sweep_orphans(&docker).await;
    let image = choose_image(&docker, image, probing).await?;
    let (name, tag) = split_image(&image);
    let password = Secret::random();
    let request = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr(READY_LINE))
        .with_env_var("POSTGRES_PASSWORD", password.expose())
        .with_label(RUN_LABEL, run_label_value(std::process::id()))
        .with_cmd(
            // A case is loaded and reset in one transaction that locks every table and index.
            [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_locks_per_transaction=512",
            ]
            .map(String::from)
            .into_iter()
            .chain(args.iter().cloned()),
        )
        .with_startup_timeout(Duration::from_secs(120));
    // The data directory in memory (see `memory`): the entrypoint makes
    // PGDATA inside the empty mount and owns it before initdb.
    let request = if super::memory::allowed() {
        request.with_mount(Mount::tmpfs_mount(super::memory::CONTAINER_DATA))
    } else {
        request
    };
    let container =
        request.start().await.map_err(|e| err(format!("cannot start a container from image `{image}`: {e}")))?;
    let mut server = DockerServer { container: Some(container) };
    let port = server
        .container
        .as_ref()
        .expect("container")
        .get_host_port_ipv4(5432)
        .await
        .map_err(|e| err(format!("container has no mapped port for 5432: {e}")))?;
    let endpoint = Endpoint {
        host: Host::Tcp("127.0.0.1".into()),
        port,
        user: "postgres".into(),
        password: Some(password),
        maintenance_db: "postgres".into(),
    };
    // The official image prints the ready line once for its init-time server
    // (socket only) and again for the real one; connecting settles it.
    if let Err(e) = wait_ready(&endpoint.admin_config("postgres"), Duration::from_secs(60), || Ok(())).await {
        server.shutdown_now().await;
        return Err(err(e));
    }
    Ok(Server {
        provider: ProviderKind::Docker,
        endpoint,
        app_needs_password: true,
        backend: super::Backend::Docker(Box::new(server)),
    })
}

/// Label on every container rowfence starts: `host:pid` of the run that owns it.
pub const RUN_LABEL: &str = "org.rowfence.run";

/// The label value for process `pid` on this host.
pub fn run_label_value(pid: u32) -> String {
    let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{host}:{pid}")
}

/// Removes containers left by runs on this host that were killed outright
/// (SIGKILL, power loss), where no clean-up code could run.
async fn sweep_orphans(docker: &Docker) {
    let host = run_label_value(0).trim_end_matches(":0").to_string();
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&std::collections::HashMap::from([("label", vec![RUN_LABEL])]))
        .build();
    let Ok(containers) = docker.list_containers(Some(options)).await else {
        return;
    };
    for c in containers {
        let Some(owner) = c.labels.as_ref().and_then(|l| l.get(RUN_LABEL)) else {
            continue;
        };
        let Some((h, pid)) = owner.rsplit_once(':') else {
            continue;
        };
        let alive =
            pid.parse::<i32>().is_ok_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok());
        if h == host
            && !alive
            && let Some(id) = c.id
        {
            tracing::info!("removing container {id} left by an earlier run ({owner})");
            let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            let _ = docker.remove_container(&id, Some(opts)).await;
        }
    }
}

/// `--image`/`ROWFENCE_IMAGE` if given; else the default image when present
/// (or, outside auto mode, pullable); else the offline image when present.
async fn choose_image(docker: &Docker, requested: Option<&str>, probing: bool) -> Result<String, ProvisionError> {
    if let Some(image) = requested {
        if probing && !present(docker, image).await && !pull(docker, image).await {
            return Err(ProvisionError::Docker(format!("image `{image}` is not present and cannot be pulled")));
        }
        return Ok(image.to_string());
    }
    default_or_offline(docker, DEFAULT_IMAGE, OFFLINE_IMAGE).await
}

/// The official image of PostgreSQL `major` (`postgres:13`).
pub fn default_image(major: u32) -> String {
    format!("postgres:{major}")
}

/// The offline equivalent of [`default_image`] that `scripts/build-image.sh MAJOR` builds.
pub fn offline_image(major: u32) -> String {
    format!("rowfence/postgres:{major}")
}

/// The image for PostgreSQL `major` when none is named, chosen as for the
/// default version: the official image when present, else the offline one
/// when present, else the official one if it can be pulled.
pub async fn image_for_major(major: u32) -> Result<String, ProvisionError> {
    let err = ProvisionError::Docker;
    let docker = Docker::connect_with_local_defaults().map_err(|e| err(format!("no Docker engine: {e}")))?;
    ping(&docker).await.map_err(err)?;
    default_or_offline(&docker, &default_image(major), &offline_image(major)).await
}

/// Whether `image` is present in the local engine (no pull is attempted).
pub async fn image_present(image: &str) -> bool {
    match Docker::connect_with_local_defaults() {
        Ok(docker) => ping(&docker).await.is_ok() && present(&docker, image).await,
        Err(_) => false,
    }
}

async fn present(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

async fn default_or_offline(docker: &Docker, default: &str, offline: &str) -> Result<String, ProvisionError> {
    if present(docker, default).await {
        return Ok(default.into());
    }
    if present(docker, offline).await {
        return Ok(offline.into());
    }
    if pull(docker, default).await {
        return Ok(default.into());
    }
    let major = offline.rsplit(':').next().unwrap_or("17");
    Err(ProvisionError::Docker(format!(
        "neither `{default}` nor `{offline}` is present and `{default}` cannot be pulled \
         (build the offline image with `bash scripts/build-image.sh {major}`)"
    )))
}

/// Tries to pull an image, giving up after a while (offline machines hang on DNS).
async fn pull(docker: &Docker, image: &str) -> bool {
    use futures::StreamExt;
    let (name, tag) = split_image(image);
    let options = bollard::query_parameters::CreateImageOptionsBuilder::default().from_image(name).tag(tag).build();
    let attempt = async {
        let mut stream = docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            if item.is_err() {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(Duration::from_secs(30), attempt).await.unwrap_or(false)
}

/// `registry:5000/name:tag` -> (`registry:5000/name`, `tag`); no tag means `latest`.
pub fn split_image(image: &str) -> (&str, &str) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], &image[slash + i + 1..]),
        None => (image, "latest"),
    }
}

impl DockerServer {
    /// Removes the container and waits for it.
    pub async fn shutdown(mut self) {
        self.shutdown_now().await;
    }

    async fn shutdown_now(&mut self) {
        if let Some(c) = self.container.take() {
            if super::keep_requested() {
                crate::note!("rowfence: ROWFENCE_KEEP=1: container {} left running", c.id());
                std::mem::forget(c);
                return;
            }
            if let Err(e) = c.rm().await {
                tracing::warn!("failed to remove container: {e}");
            }
        }
    }
}

impl Drop for DockerServer {
    fn drop(&mut self) {
        if super::keep_requested()
            && let Some(c) = self.container.take()
        {
            std::mem::forget(c);
        }
        // Otherwise ContainerAsync's own drop removes the container.
    }
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn image_names_split_at_the_tag() {
        assert_eq!(split_image("postgres:17"), ("postgres", "17"));
        assert_eq!(split_image("rowfence/postgres:15"), ("rowfence/postgres", "15"));
        assert_eq!(split_image("localhost:5000/pg"), ("localhost:5000/pg", "latest"));
        assert_eq!(split_image("localhost:5000/pg:16"), ("localhost:5000/pg", "16"));
    }
}
