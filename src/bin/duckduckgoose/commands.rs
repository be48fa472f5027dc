//! The client subcommands: each asks one node's HTTP API and prints what it
//! answers, as a table for people or as JSON for scripts.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::Failure;
use crate::client::{self, Answer};
use crate::common::{self, Peer};

/// Which node to ask.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// A node's HTTP address (its `run --http`).
    #[arg(
        long,
        env = "DDG_NODE",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:8080",
        value_parser = common::parse_host_port
    )]
    node: String,
}

/// `status`: which node to ask, and how to print.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A node's HTTP address; repeat to name fallbacks, asked in turn until
    /// one answers.
    #[arg(
        long = "node",
        env = "DDG_NODE",
        value_name = "HOST:PORT",
        value_delimiter = ',',
        default_value = "127.0.0.1:8080",
        value_parser = common::parse_host_port
    )]
    nodes: Vec<String>,
    /// Print the node's `/cluster` answer as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Which node to ask, with the admin token its changes need.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// A file holding the admin token (the node's `--admin-token-file`);
    /// sent as `Authorization: Bearer`. A trailing newline is ignored.
    #[arg(long, env = "DDG_ADMIN_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
}

/// `members …`.
#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// The membership the node holds.
    List {
        #[command(flatten)]
        node: NodeArgs,
        /// Print the answer as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a node as a learner; the Goose promotes it to voter once it
    /// keeps up. Send it to the Goose.
    Add {
        #[command(flatten)]
        admin: AdminArgs,
        /// The new node's id and cluster address.
        #[arg(value_name = "ID=HOST:PORT", value_parser = common::parse_peer)]
        member: Peer,
        /// Metadata the new node publishes (repeat for each entry).
        #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = common::parse_meta)]
        meta: Vec<(String, String)>,
    },
    /// Remove a node. Send it to the Goose.
    Remove {
        #[command(flatten)]
        admin: AdminArgs,
        /// The id of the node to remove.
        #[arg(value_name = "ID")]
        id: u64,
    },
}

/// `status`: the first node that answers, its view of the cluster.
pub async fn status(args: StatusArgs) -> Result<(), Failure> {
    let mut failures = Vec::new();
    for node in &args.nodes {
        let cluster = match get(node, "/cluster").await {
            Ok(cluster) => cluster,
            Err(error) => {
                failures.push(error);
                continue;
            }
        };
        if args.json {
            println!("{cluster:#}");
            return Ok(());
        }
        // Which member answered: the one it hears from at 0 ms.
        let me = get(node, "/status")
            .await
            .ok()
            .and_then(|status| status["id"].as_u64());
        print!("{}", cluster_table(node, me, &cluster));
        return Ok(());
    }
    Err(Failure::Fatal(failures.join("; ")))
}

/// `step-down`.
pub async fn step_down(args: AdminArgs) -> Result<(), Failure> {
    let token = args.token()?;
    let answer = send(
        &args.node.node,
        Method::POST,
        "/step-down",
        json!({}),
        &token,
    )
    .await?;
    match answer.status {
        StatusCode::ACCEPTED => {
            println!("handed over in term {}", answer.body["term"]);
            Ok(())
        }
        _ => Err(refused(&args.node.node, &answer)),
    }
}

/// `members list|add|remove`.
pub async fn members(command: MembersCommand) -> Result<(), Failure> {
    match command {
        MembersCommand::List { node, json } => {
            let membership = get(&node.node, "/members").await.map_err(Failure::Fatal)?;
            if json {
                println!("{membership:#}");
            } else {
                print!("{}", members_table(&membership));
            }
            Ok(())
        }
        MembersCommand::Add {
            admin,
            member,
            meta,
        } => {
            let token = admin.token()?;
            let meta: serde_json::Map<String, Value> = meta
                .into_iter()
                .map(|(key, value)| (key, Value::String(value)))
                .collect();
            let body = json!({ "id": member.id.0, "addr": member.address, "meta": meta });
            let answer = send(&admin.node.node, Method::POST, "/members", body, &token).await?;
            changed(
                &admin.node.node,
                &answer,
                &format!("added node {}", member.id),
            )
        }
        MembersCommand::Remove { admin, id } => {
            let token = admin.token()?;
            let path = format!("/members/{id}");
            let answer = send(&admin.node.node, Method::DELETE, &path, json!({}), &token).await?;
            changed(&admin.node.node, &answer, &format!("removed node {id}"))
        }
    }
}

/// `health`.
pub async fn health(args: NodeArgs) -> Result<(), Failure> {
    let answer = client::request(&args.node, Method::GET, "/health", None, None)
        .await
        .map_err(|error| Failure::Fatal(error.to_string()))?;
    if answer.status == StatusCode::OK {
        println!("{}", answer.body);
        Ok(())
    } else {
        Err(Failure::Fatal(format!(
            "{} is not healthy ({}): {}",
            args.node, answer.status, answer.body
        )))
    }
}

impl AdminArgs {
    /// The token from `--token-file`, if one was given.
    fn token(&self) -> Result<Option<String>, Failure> {
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let bytes = crate::secret::read_secret_file(path, "--token-file")?;
        String::from_utf8(bytes).map(Some).map_err(|_| {
            Failure::Usage(format!(
                "--token-file {}: the token is not UTF-8 text",
                path.display()
            ))
        })
    }
}

/// A `GET` whose answer must be `200`.
async fn get(node: &str, path: &str) -> Result<Value, String> {
    let answer = client::request(node, Method::GET, path, None, None)
        .await
        .map_err(|error| error.to_string())?;
    if answer.status == StatusCode::OK {
        Ok(answer.body)
    } else {
        Err(format!(
            "{node}{path} answered {}: {}",
            answer.status,
            answer.reason()
        ))
    }
}

/// A state change, with its JSON body and the admin token.
async fn send(
    node: &str,
    method: Method,
    path: &str,
    body: Value,
    token: &Option<String>,
) -> Result<Answer, Failure> {
    client::request(node, method, path, Some(&body), token.as_deref())
        .await
        .map_err(|error| Failure::Fatal(error.to_string()))
}

/// A membership change's answer: the new membership, or why not.
fn changed(node: &str, answer: &Answer, what: &str) -> Result<(), Failure> {
    if answer.status.is_success() {
        println!("{what}");
        print!("{}", members_table(&answer.body));
        Ok(())
    } else {
        Err(refused(node, answer))
    }
}

/// A refusal as one line, with what to do about the common ones.
fn refused(node: &str, answer: &Answer) -> Failure {
    let hint = match answer.status {
        StatusCode::UNAUTHORIZED => " (give the node's admin token with --token-file)",
        _ => match answer.body["leader"].as_u64() {
            Some(leader) => {
                return Failure::Fatal(format!(
                    "{node} refused ({}): {}; the Goose is node {leader}: ask it",
                    answer.status,
                    answer.reason()
                ));
            }
            None => "",
        },
    };
    Failure::Fatal(format!(
        "{node} refused ({}): {}{hint}",
        answer.status,
        answer.reason()
    ))
}

/// `/cluster` as a table, one row per member.
fn cluster_table(node: &str, me: Option<u64>, cluster: &Value) -> String {
    let leader = cluster["leader"].as_u64();
    let mut out = format!(
        "as seen by {node}{}: term {}, membership {}, Goose: {}{}\n",
        me.map(|id| format!(" (node {id})")).unwrap_or_default(),
        cluster["term"],
        membership_id(&cluster["membership"]),
        leader.map_or("none known".to_owned(), |id| format!("node {id}")),
        if cluster["pending"] == Value::Bool(true) {
            ", a membership change is pending"
        } else {
            ""
        }
    );
    let mut rows = vec![row([
        "ID",
        "ROLE",
        "VOTER",
        "ADDRESS",
        "LAST HEARD",
        "META",
    ])];
    for member in members_of(cluster) {
        let id = member["id"].as_u64();
        let role = if id.is_some() && id == leader {
            "Goose"
        } else {
            "Duck"
        };
        let heard = match (id == me, member["last_contact_ms"].as_u64()) {
            (true, _) => "self".to_owned(),
            (false, Some(ms)) => format!("{ms} ms ago"),
            (false, None) => "never".to_owned(),
        };
        rows.push(row([
            text(&member["id"]),
            role.to_owned(),
            voter(member),
            text(&member["addr"]),
            heard,
            meta(&member["meta"]),
        ]));
    }
    out.push_str(&render(&rows));
    if cluster["member"] == Value::Bool(false) {
        out.push_str("this node is not in its membership: it was removed\n");
    }
    out
}

/// `/members` as a table.
fn members_table(membership: &Value) -> String {
    let mut rows = vec![row(["ID", "VOTER", "ADDRESS", "META"])];
    for member in members_of(membership) {
        rows.push(row([
            text(&member["id"]),
            voter(member),
            text(&member["addr"]),
            meta(&member["meta"]),
        ]));
    }
    format!(
        "membership {}\n{}",
        membership_id(&membership["membership"]),
        render(&rows)
    )
}

fn members_of(body: &Value) -> &[Value] {
    body["members"].as_array().map_or(&[], Vec::as_slice)
}

fn row<const N: usize, S: Into<String>>(cells: [S; N]) -> Vec<String> {
    cells.into_iter().map(Into::into).collect()
}

fn voter(member: &Value) -> String {
    match (member["voter"].as_bool(), member["joining"].as_bool()) {
        (Some(true), _) => "voter",
        (_, Some(true)) => "joining",
        _ => "learner",
    }
    .to_owned()
}

/// A membership id, `{"term": 3, "version": 2}`, as `3.2`.
fn membership_id(id: &Value) -> String {
    format!("{}.{}", id["term"], id["version"])
}

fn meta(meta: &Value) -> String {
    meta.as_object()
        .map(|entries| {
            entries
                .iter()
                .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A JSON scalar without quotes; `-` for null.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Rows as columns padded to their widest cell.
fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
