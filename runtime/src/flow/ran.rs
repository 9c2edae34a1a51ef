//! The graph of a flow run as it ran, read back from its `--events` file (`aw-run graph`):
//! one node per task with its last status, the edges of spawn-after tasks, and fan-out groups,
//! as JSON or Graphviz DOT.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::Serialize;
use serde_json::Value;

/// One task of the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RanTask {
    pub id: u64,
    pub task: String,
    /// `queued`, `running`, `retrying`, `succeeded`, `failed`, `cancelled`, `upstream-failed`
    /// or `cached`: the last the events say.
    pub status: String,
    pub attempts: u64,
    /// The ids of the tasks it waited for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<String>,
}

/// A run's graph.
#[derive(Debug, Default, Serialize)]
pub struct RanGraph {
    /// The run's status (`flow-finished`), when the file has it.
    pub status: Option<String>,
    pub nodes: Vec<RanTask>,
    /// `[from, to]`: `to` waited for `from`'s result.
    pub edges: Vec<[u64; 2]>,
    /// Each fan-out group and its members' ids.
    pub fan_outs: BTreeMap<String, Vec<u64>>,
}

/// Why an events file cannot be read as a run.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("cannot read the events file: {0}")]
    Read(#[from] std::io::Error),
    #[error("line {line} of the events file is not a JSON object: {detail}")]
    NotJson { line: usize, detail: String },
    #[error("line {line} of the events file is a task event without a task id (written by an aw-run older than the task graph); rerun the flow with --events")]
    NoId { line: usize },
}

impl RanGraph {
    /// Reads the JSON Lines of `aw-run --events`, line by line.
    pub fn from_events(reader: impl BufRead) -> Result<RanGraph, EventsError> {
        let mut nodes: BTreeMap<u64, RanTask> = BTreeMap::new();
        let mut status = None;
        for (index, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let number = index + 1;
            let event: Value = serde_json::from_str(&line).map_err(|e| EventsError::NotJson {
                line: number,
                detail: e.to_string(),
            })?;
            let kind = event["event"].as_str().unwrap_or_default();
            if kind == "flow-finished" {
                status = event["status"].as_str().map(String::from);
                continue;
            }
            if !kind.starts_with("task-") {
                continue;
            }
            let id = event["id"]
                .as_u64()
                .ok_or(EventsError::NoId { line: number })?;
            let node = nodes.entry(id).or_insert_with(|| RanTask {
                id,
                task: event["task"].as_str().unwrap_or_default().to_string(),
                status: "queued".into(),
                attempts: 0,
                after: Vec::new(),
                fan_out: None,
            });
            match kind {
                "task-queued" => {
                    node.after = event["after"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_u64).collect())
                        .unwrap_or_default();
                    node.fan_out = event["fan_out"].as_str().map(String::from);
                }
                "task-started" => {
                    node.status = "running".into();
                    node.attempts = event["attempt"].as_u64().unwrap_or(node.attempts);
                }
                "task-retry" => node.status = "retrying".into(),
                "task-succeeded" => {
                    node.status = "succeeded".into();
                    node.attempts = event["attempts"].as_u64().unwrap_or(node.attempts);
                }
                "task-failed" => {
                    node.status = if event["upstream"] == true {
                        "upstream-failed"
                    } else if event["cancelled"] == true {
                        "cancelled"
                    } else {
                        "failed"
                    }
                    .into();
                    node.attempts = event["attempts"].as_u64().unwrap_or(node.attempts);
                }
                "task-cached" => node.status = "cached".into(),
                _ => {}
            }
        }
        let mut graph = RanGraph {
            status,
            ..RanGraph::default()
        };
        for node in nodes.into_values() {
            graph
                .edges
                .extend(node.after.iter().map(|from| [*from, node.id]));
            if let Some(group) = &node.fan_out {
                graph
                    .fan_outs
                    .entry(group.clone())
                    .or_default()
                    .push(node.id);
            }
            graph.nodes.push(node);
        }
        Ok(graph)
    }

    /// The graph in Graphviz DOT: a node per task (name, id, status, attempts; coloured by
    /// status), a cluster per fan-out group, an edge per dependency.
    pub fn to_dot(&self) -> String {
        let mut lines = vec!["digraph G {".to_string()];
        let mut grouped = std::collections::HashSet::new();
        for (group, members) in &self.fan_outs {
            lines.push(format!(
                "  subgraph {} {{",
                quoted(&format!("cluster_{group}"))
            ));
            lines.push(format!("    label={};", quoted(group)));
            for id in members {
                grouped.insert(*id);
                if let Some(node) = self.nodes.iter().find(|n| n.id == *id) {
                    lines.push(format!("    {}", node_line(node)));
                }
            }
            lines.push("  }".into());
        }
        for node in self.nodes.iter().filter(|n| !grouped.contains(&n.id)) {
            lines.push(format!("  {}", node_line(node)));
        }
        for [from, to] in &self.edges {
            lines.push(format!("  \"{from}\" -> \"{to}\";"));
        }
        lines.push("}".into());
        lines.join("\n")
    }
}

fn node_line(node: &RanTask) -> String {
    let color = match node.status.as_str() {
        "succeeded" => "green",
        "cached" => "lightblue",
        "failed" => "red",
        "upstream-failed" => "orange",
        "cancelled" => "gray",
        _ => "yellow",
    };
    let plural = if node.attempts == 1 { "" } else { "s" };
    // `\n` is DOT's line break in a label.
    format!(
        "\"{}\" [label=\"{} #{}\\n{} ({} attempt{plural})\", color=\"{color}\"];",
        node.id,
        escape(&node.task),
        node.id,
        node.status,
        node.attempts,
    )
}

/// `text` inside a DOT string literal: task and group names are the guest's, so a quote or a
/// backslash in one cannot end the literal.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_of_a_run_give_its_nodes_edges_groups_and_statuses() {
        let events = r#"{"event":"task-queued","task":"extract","id":0,"after":[],"fan_out":null}
{"event":"task-queued","task":"load","id":1,"after":[0],"fan_out":"fanout:1"}
{"event":"task-started","task":"extract","id":0,"attempt":1}
{"event":"task-failed","task":"extract","id":0,"attempts":1,"cancelled":false}
{"event":"task-failed","task":"load","id":1,"attempts":0,"cancelled":false,"upstream":true}
{"event":"flow-finished","status":"task-failed"}
"#;
        let graph = RanGraph::from_events(events.as_bytes()).unwrap();
        let statuses: Vec<&str> = graph.nodes.iter().map(|n| n.status.as_str()).collect();
        assert_eq!(statuses, vec!["failed", "upstream-failed"]);
        assert_eq!(graph.edges, vec![[0, 1]]);
        assert_eq!(graph.fan_outs["fanout:1"], vec![1]);
        assert_eq!(graph.status.as_deref(), Some("task-failed"));
        let dot = graph.to_dot();
        assert!(dot.contains("subgraph \"cluster_fanout:1\""), "{dot}");
        assert!(dot.contains("\"0\" -> \"1\";"), "{dot}");
        assert!(
            dot.contains(
                "\"1\" [label=\"load #1\\nupstream-failed (0 attempts)\", color=\"orange\"];"
            ),
            "{dot}"
        );

        let bad = "{\"event\":\"task-started\",\"task\":\"x\"}\n";
        assert!(matches!(
            RanGraph::from_events(bad.as_bytes()),
            Err(EventsError::NoId { line: 1 })
        ));
        assert!(matches!(
            RanGraph::from_events("not json\n".as_bytes()),
            Err(EventsError::NotJson { line: 1, .. })
        ));
    }

    #[test]
    fn a_quote_in_a_task_name_cannot_break_out_of_its_dot_label() {
        let events = r#"{"event":"task-queued","task":"a\\\"];x","id":0,"after":[]}"#;
        let graph = RanGraph::from_events(events.as_bytes()).unwrap();
        assert_eq!(graph.nodes[0].task, "a\\\"];x");
        let dot = graph.to_dot();
        assert!(dot.contains(r#"label="a\\\"];x #0"#), "{dot}");
    }
}
