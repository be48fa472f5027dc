//! What a test starts in Docker, and the guards that remove it: a compose
//! project running `deploy/compose.yaml`, or loose containers on a network
//! of their own. Dropping either (after a pass, a failed assertion or a
//! panic) removes every container, volume and network it made.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::docker::{docker, docker_ok, image, repo_root, run, unique_name};

/// The admin token the test projects' nodes are given.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// One `deploy/compose.yaml` project, under a name of its own.
pub struct Project {
    pub name: String,
    /// The secrets the compose file mounts; removed after the containers.
    secrets: tempfile::TempDir,
}

impl Project {
    /// Starts `services` of `deploy/compose.yaml` (all of them if empty) as
    /// a new project, with freshly written secrets.
    pub fn up(what: &str, services: &[&str]) -> Project {
        let secrets = tempfile::tempdir().expect("a temporary directory");
        write_secret(
            secrets.path(),
            "cluster-key",
            "test-cluster-key-fedcba9876543210\n",
        );
        write_secret(secrets.path(), "admin-token", &format!("{ADMIN_TOKEN}\n"));
        let project = Project {
            name: unique_name(what),
            secrets,
        };
        project.compose_ok(&[&["up", "-d", "--no-color"], services].concat());
        project
    }

    /// Runs the compose command on this project; its stdout, or why it
    /// failed.
    pub fn compose(&self, args: &[&str]) -> Result<String, String> {
        let mut words = compose_command();
        let program = words.remove(0);
        let file = repo_root().join("deploy/compose.yaml");
        let mut command = Command::new(program);
        command
            .args(words)
            .args(["-p", &self.name, "-f"])
            .arg(&file)
            .args(args)
            .env("DDG_IMAGE", image())
            .env("DDG_SECRETS", self.secrets.path())
            // The tests' bounds assume the compose file's default timing.
            .env_remove("DDG_HEARTBEAT_MS")
            .env_remove("DDG_ELECTION_TIMEOUT_MS");
        run(&mut command)
    }

    pub fn compose_ok(&self, args: &[&str]) -> String {
        self.compose(args)
            .unwrap_or_else(|why| panic!("compose {}: {why}", args.join(" ")))
    }

    /// The id of `service`'s container (it must exist).
    pub fn container(&self, service: &str) -> String {
        let id = docker_ok(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]);
        assert!(
            !id.is_empty() && !id.contains('\n'),
            "service {service} has one container, not {id:?}"
        );
        id
    }

    /// The project's network, which the compose file does not name.
    pub fn network(&self) -> String {
        format!("{}_default", self.name)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // `down` first (it knows the project); then whatever carries the
        // project's label, in case `down` failed half-way.
        if let Err(why) = self.compose(&["down", "-v", "--remove-orphans", "-t", "0"]) {
            eprintln!("compose down for {}: {why}", self.name);
        }
        remove_labelled(&format!("com.docker.compose.project={}", self.name));
    }
}

/// Containers started with `docker run` on a network of their own.
pub struct Sandbox {
    pub network: String,
    label: String,
}

impl Sandbox {
    pub fn new(what: &str) -> Sandbox {
        let network = unique_name(what);
        let label = format!("ddg.test={network}");
        let sandbox = Sandbox {
            network: network.clone(),
            label,
        };
        docker_ok(&["network", "create", "--label", &sandbox.label, &network]);
        sandbox
    }

    /// Starts a container named `<network>-<name>` (also its name on the
    /// network) from the image under test: `options` go to `docker run`,
    /// `args` to the image's entrypoint. Returns the container's name.
    pub fn start(&self, name: &str, options: &[&str], args: &[&str]) -> String {
        let container = format!("{}-{name}", self.network);
        let mut command = vec![
            "run",
            "-d",
            "--name",
            &container,
            "--network",
            &self.network,
            "--network-alias",
            name,
            "--label",
            &self.label,
        ];
        command.extend_from_slice(options);
        command.push(image());
        command.extend_from_slice(args);
        docker_ok(&command);
        container
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        remove_labelled(&self.label);
    }
}

/// Removes every container (with its anonymous volumes), volume and
/// network carrying `label` (`key=value`).
fn remove_labelled(label: &str) {
    let filter = format!("label={label}");
    let list = |kind: &[&str]| -> Vec<String> {
        let mut args = kind.to_vec();
        args.extend(["-q", "--filter", &filter]);
        docker(&args)
            .map(|ids| ids.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let remove = |command: &[&str], ids: Vec<String>| {
        if ids.is_empty() {
            return;
        }
        let mut args = command.to_vec();
        args.extend(ids.iter().map(String::as_str));
        if let Err(why) = docker(&args) {
            eprintln!("docker {}: {why}", args.join(" "));
        }
    };
    remove(&["rm", "-f", "-v"], list(&["ps", "-a"]));
    remove(&["volume", "rm", "-f"], list(&["volume", "ls"]));
    remove(&["network", "rm"], list(&["network", "ls"]));
}

/// The compose command: `DDG_COMPOSE`, else `docker-compose` if it runs,
/// else `docker compose`.
fn compose_command() -> Vec<String> {
    if let Ok(command) = std::env::var("DDG_COMPOSE") {
        return command.split_whitespace().map(str::to_owned).collect();
    }
    let v1 = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|output| output.status.success());
    if v1 {
        vec!["docker-compose".into()]
    } else {
        vec!["docker".into(), "compose".into()]
    }
}

/// Writes a secret readable by the containers' user (uid 65534).
fn write_secret(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write a secret");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod a secret");
    path
}
