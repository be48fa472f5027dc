//! Just enough of YAML to read the containers of this repository's
//! Kubernetes manifests: block lists and maps, flow lists of strings, and
//! comments. A manifest written in another style fails loudly here, so the
//! check never passes by reading nothing.

use std::collections::BTreeMap;

/// What the check needs from one container.
#[derive(Debug, Default)]
pub struct Container {
    pub name: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Named container ports.
    pub ports: BTreeMap<String, u16>,
    /// `httpGet` probes: path and port name.
    pub http_probes: Vec<(String, String)>,
    /// `exec` probes' commands.
    pub exec_probes: Vec<Vec<String>>,
    /// Environment variables set, by name.
    pub env: Vec<String>,
}

struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// Every container under a `containers:` key, in order.
pub fn containers(manifest: &str) -> Vec<Container> {
    let lines: Vec<Line> = manifest
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|line| Line {
            indent: line.len() - line.trim_start().len(),
            text: line.trim(),
        })
        .collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].text == "containers:" {
            let parent = lines[i].indent;
            i += 1;
            while i < lines.len() && lines[i].indent > parent {
                let start = i;
                let item = lines[i].indent;
                i += 1;
                while i < lines.len() && lines[i].indent > item {
                    i += 1;
                }
                found.push(container(&lines[start..i]));
            }
        } else {
            i += 1;
        }
    }
    found
}

/// One container: its first line is `- name: ...`.
fn container(lines: &[Line]) -> Container {
    let mut container = Container {
        name: value(lines[0].text.trim_start_matches("- "), "name")
            .unwrap_or_else(|| panic!("a container starts with `- name:`: {}", lines[0].text)),
        ..Container::default()
    };
    let mut i = 1;
    while i < lines.len() {
        let line = &lines[i];
        let block_end = block_end(lines, i);
        match line.text {
            "args:" => container.args = list(&lines[i + 1..block_end]),
            "ports:" => {
                let mut name = None;
                for item in &lines[i + 1..block_end] {
                    let text = item.text.trim_start_matches("- ");
                    if let Some(port_name) = value(text, "name") {
                        name = Some(port_name);
                    } else if let Some(port) = value(text, "containerPort") {
                        let port = port.parse().expect("containerPort is a number");
                        container
                            .ports
                            .insert(name.take().expect("each port is named"), port);
                    }
                }
            }
            "httpGet:" => {
                let block = &lines[i + 1..block_end];
                let path = find(block, "path").expect("httpGet has a path");
                let port = find(block, "port").expect("httpGet has a port");
                container.http_probes.push((path, port));
            }
            "exec:" => {
                let command =
                    find(&lines[i + 1..block_end], "command").expect("exec has a command");
                container.exec_probes.push(flow_list(&command));
            }
            "env:" => {
                for item in &lines[i + 1..block_end] {
                    if let Some(name) = item.text.strip_prefix("- ").and_then(|t| value(t, "name"))
                    {
                        container.env.push(name);
                    }
                }
            }
            text if text.starts_with("command:") => {
                container.command = flow_list(&value(text, "command").unwrap_or_default());
            }
            _ => {}
        }
        i += 1;
    }
    container
}

/// The index after the block nested under `lines[at]`.
fn block_end(lines: &[Line], at: usize) -> usize {
    let mut end = at + 1;
    while end < lines.len() && lines[end].indent > lines[at].indent {
        end += 1;
    }
    end
}

/// `- item` lines as strings (quotes removed).
fn list(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            let item = line
                .text
                .strip_prefix("- ")
                .unwrap_or_else(|| panic!("a block list item: {}", line.text));
            unquote(item)
        })
        .collect()
}

/// `["a", "b"]` as strings.
fn flow_list(text: &str) -> Vec<String> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|text| text.strip_suffix(']'))
        .unwrap_or_else(|| panic!("a flow list: {text}"));
    inner.split(',').map(|item| unquote(item.trim())).collect()
}

/// The value of `key: value` on this line.
fn value(text: &str, key: &str) -> Option<String> {
    text.strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(|rest| unquote(rest.trim()))
}

/// The first `key: value` in a block.
fn find(lines: &[Line], key: &str) -> Option<String> {
    lines.iter().find_map(|line| value(line.text, key))
}

fn unquote(text: &str) -> String {
    text.trim_matches('"').to_owned()
}
