//! NetworkPolicies as a kubectl user writes them: YAML (or JSON, which
//! is YAML) documents with `apiVersion`, `kind`, `metadata` and `spec`,
//! separated by `---`. Read into core's [`NetworkPolicy`] and validated
//! as the API server validates them; every error names the line it is on,
//! so an editor can point at it.
//!
//! saphyr parses (YAML 1.2's core schema, every node with its place);
//! the tree becomes a JSON value, read into the API types by serde_json,
//! which the page already carries: a serde YAML deserializer would double
//! the explainer's wasm for this one editor.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde::Deserialize;
use serde_json::Value;

use super::spec::{NetworkPolicy, PolicySpec};

/// Why a manifest was refused, and on which line (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The line the problem is on (the field's when it is known, else the
    /// policy's first).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ManifestError {}

/// One document: the fields kubectl sends for a NetworkPolicy. Metadata
/// beyond name and namespace (labels, annotations) is read and ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manifest {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: PolicySpec,
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// The API group and version, as `apiVersion` must give them.
pub const API_VERSION: &str = "networking.k8s.io/v1";

/// A document as a JSON value, and the line of every field and item in
/// it, by path as the API server's messages name them (`spec.ingress[0]`).
struct Doc {
    value: Value,
    line: usize,
    lines: Vec<(String, usize)>,
    /// Where a plain y, n, yes, no, on or off became a boolean.
    yaml11: Vec<String>,
}

impl Doc {
    /// A refusal, on the line of the deepest path `message` names (else
    /// the document's first); a boolean where text belongs, explained.
    fn error(&self, message: String) -> ManifestError {
        if message.starts_with("invalid type: boolean") {
            if let Some(path) = self.yaml11.first() {
                let line = self
                    .lines
                    .iter()
                    .find(|(p, _)| p == path)
                    .map_or(self.line, |l| l.1);
                return ManifestError {
                    line,
                    message: format!("{path}: {message}: kubectl's YAML reads a plain y, n, yes, no, on or off as true or false; quote it (\"y\") to mean the letter"),
                };
            }
        }
        ManifestError {
            line: self.line_of(&message),
            message,
        }
    }

    /// The line of the deepest path `message` names, else the document's.
    fn line_of(&self, message: &str) -> usize {
        // serde's "unknown field `x`": the key itself.
        let key = message
            .split('`')
            .nth(1)
            .filter(|_| message.starts_with("unknown field"));
        self.lines
            .iter()
            .filter(|(path, _)| match key {
                Some(k) => path.rsplit('.').next() == Some(k),
                None => message.contains(&format!(" {path}:")),
            })
            .max_by_key(|(path, _)| path.len())
            .map_or(self.line, |&(_, line)| line)
    }
}

/// The words kubectl's YAML (1.1, go-yaml v2) reads as booleans where
/// YAML 1.2 reads strings: `ns: y` is `ns: true` to the API server.
const YAML11_TRUE: [&str; 8] = ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON"];
const YAML11_FALSE: [&str; 8] = ["n", "N", "no", "No", "NO", "off", "Off", "OFF"];

/// Turns saphyr's tree into JSON as kubectl would, noting every line.
struct Converter<'a> {
    /// The source, by character (markers count characters).
    src: &'a [char],
    /// Each field's and item's line, by path.
    lines: Vec<(String, usize)>,
    /// The paths of plain y/n/yes/no/on/off read as booleans.
    yaml11: Vec<String>,
}

impl Converter<'_> {
    fn json(&mut self, node: &MarkedYaml, path: &str) -> Result<Value, ManifestError> {
        let at = |message: &str| ManifestError {
            line: node.span.start.line(),
            message: message.to_string(),
        };
        Ok(match &node.data {
            YamlData::Value(s) => self.scalar(node, s, path),
            YamlData::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.lines.push((p.clone(), item.span.start.line()));
                    out.push(self.json(item, &p)?);
                }
                Value::Array(out)
            }
            YamlData::Mapping(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let key = match &k.data {
                        YamlData::Value(s) => match self.scalar(k, s, path) {
                            Value::String(s) => s,
                            Value::Null => "null".into(),
                            other => other.to_string(),
                        },
                        _ => return Err(at("a key must be a plain value")),
                    };
                    let p = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    self.lines.push((p.clone(), k.span.start.line()));
                    out.insert(key, self.json(v, &p)?);
                }
                Value::Object(out)
            }
            YamlData::Tagged(_, inner) => self.json(inner, path)?,
            YamlData::Alias(_) => return Err(at("aliases (*name) are not supported here")),
            YamlData::Representation(..) | YamlData::BadValue => return Err(at("not a value")),
        })
    }

    fn scalar(&mut self, node: &MarkedYaml, s: &Scalar, path: &str) -> Value {
        match s {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::from(*i),
            Scalar::FloatingPoint(f) => {
                serde_json::Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number)
            }
            Scalar::String(s) => {
                let quoted = matches!(self.src.get(node.span.start.index()), Some('"' | '\''));
                let word = (!quoted).then_some(&**s);
                match word {
                    Some(w) if YAML11_TRUE.contains(&w) || YAML11_FALSE.contains(&w) => {
                        self.yaml11.push(path.to_string());
                        Value::Bool(YAML11_TRUE.contains(&w))
                    }
                    _ => Value::String(s.to_string()),
                }
            }
        }
    }
}

/// The documents of `text`, empty ones left out.
fn documents(text: &str) -> Result<Vec<Doc>, ManifestError> {
    let nodes = MarkedYaml::load_from_str(text).map_err(|e| ManifestError {
        line: e.marker().line().max(1),
        message: e.info().to_string(),
    })?;
    let src: Vec<char> = text.chars().collect();
    let mut docs = Vec::new();
    for node in &nodes {
        let mut c = Converter {
            src: &src,
            lines: Vec::new(),
            yaml11: Vec::new(),
        };
        let value = c.json(node, "")?;
        if !value.is_null() {
            docs.push(Doc {
                value,
                line: node.span.start.line().max(1),
                lines: c.lines,
                yaml11: c.yaml11,
            });
        }
    }
    Ok(docs)
}

/// Reads every NetworkPolicy in `text` (documents separated by `---`);
/// a policy without a namespace goes to `namespace`, as kubectl's
/// current namespace. All of them valid, or the first problem.
pub fn read(text: &str, namespace: &str) -> Result<Vec<NetworkPolicy>, ManifestError> {
    let docs = documents(text)?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        let at = |message: String| doc.error(message);
        let m: Manifest =
            serde_json::from_value(doc.value.clone()).map_err(|e| at(e.to_string()))?;
        if m.api_version != API_VERSION || m.kind != "NetworkPolicy" {
            return Err(ManifestError {
                line: doc.line,
                message: format!(
                    "{} {} is not a NetworkPolicy (apiVersion: {API_VERSION}, kind: NetworkPolicy)",
                    m.api_version, m.kind
                ),
            });
        }
        let policy = NetworkPolicy {
            namespace: m.metadata.namespace.unwrap_or_else(|| namespace.into()),
            name: m.metadata.name,
            spec: m.spec,
        };
        policy.validate().map_err(|e| at(e.to_string()))?;
        if out
            .iter()
            .any(|p: &NetworkPolicy| p.full_name() == policy.full_name())
        {
            return Err(ManifestError {
                line: doc.line,
                message: format!(
                    "{} is given twice (a second apply would replace the first)",
                    policy.full_name()
                ),
            });
        }
        out.push(policy);
    }
    Ok(out)
}

/// `policies` as manifests `kubectl apply -f` takes, one document each.
pub fn write(policies: &[NetworkPolicy]) -> String {
    policies
        .iter()
        .map(|p| {
            // serde_json's order is the struct's: the spec as a user writes it.
            let spec = serde_json::to_value(&p.spec).unwrap_or_default();
            let doc = serde_json::json!({
                "apiVersion": API_VERSION,
                "kind": "NetworkPolicy",
                "metadata": { "namespace": p.namespace, "name": p.name },
                "spec": spec,
            });
            serde_json::to_string(&doc).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
  namespace: x
  labels: {team: a}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: from-y
spec:
  podSelector:
    matchLabels: {pod: a}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: \"y\"}
      podSelector:
        matchLabels: {pod: b}
    ports:
    - port: 80
      protocol: TCP
    - port: serve-81-udp
";

    #[test]
    fn reads_what_kubectl_takes() {
        let p = read(TWO, "default").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].full_name(), "x/deny");
        assert_eq!(p[1].full_name(), "default/from-y", "kubectl's namespace");
        assert_eq!(p[1].spec.ingress[0].from.len(), 1, "one peer: AND");
        assert_eq!(p[1].spec.ingress[0].ports.len(), 2);
        // What it writes reads back the same.
        assert_eq!(read(&write(&p), "elsewhere").unwrap(), p);
        assert_eq!(read("", "x").unwrap(), Vec::new(), "nothing: no policy");
    }

    #[test]
    fn an_error_points_at_its_line() {
        // YAML that does not parse: an unclosed flow mapping on line 8.
        let broken = TWO.replacen("podSelector: {}", "podSelector: {", 1);
        let e = read(&broken, "x").unwrap_err();
        assert!((8..=10).contains(&e.line), "{e}");
        // A field the API does not have, in the second policy.
        let e = read(&TWO.replace("ingress:", "ingres:"), "x").unwrap_err();
        assert_eq!(e.line, 18, "{e}");
        assert!(e.message.contains("ingres"), "{e}");
        // Valid YAML the API server refuses: the field named, and its line.
        let e = read(&TWO.replace("port: 80", "port: 0"), "x").unwrap_err();
        assert_eq!(e.line, 25, "the field's own line: {e}");
        assert!(
            e.message
                .contains("x/from-y: spec.ingress[0].ports[0].port"),
            "{e}"
        );
        let e = read(
            &TWO.replace(
                "kind: NetworkPolicy\nmetadata:\n  name: deny",
                "kind: Pod\nmetadata:\n  name: deny",
            ),
            "x",
        )
        .unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        assert!(e.message.contains("not a NetworkPolicy"), "{e}");
        let twice = format!(
            "{}---\n{}",
            &TWO[..TWO.find("---").unwrap()],
            &TWO[..TWO.find("---").unwrap()]
        );
        let e = read(&twice, "x").unwrap_err();
        assert!(e.message.contains("x/deny is given twice"), "{e}");
        // kubectl's YAML: a plain y is true, which no label value can be.
        let e = read(&TWO.replace(r#"{ns: "y"}"#, "{ns: y}"), "x").unwrap_err();
        assert_eq!(e.line, 21, "{e}");
        assert!(e.message.contains("quote it"), "{e}");
        assert!(read(&TWO.replace(r#"{ns: "y"}"#, "{ns: 'y'}"), "x").is_ok());
        for junk in ["[", "\u{0}", "- - -", "a: b: c", "apiVersion: 3", "&a [*a]"] {
            assert!(read(junk, "x").is_err(), "{junk:?}");
        }
    }
}
