//! A small XML reader for Blob service responses (listings, errors): elements with their
//! text, as a tree, so callers can say `results.child("Blobs")`. Pages are bounded by the
//! service (at most 5,000 entries), so reading one whole is fine.

use quick_xml::events::Event;
use quick_xml::Reader;

/// One element: its name, its text (entities resolved) and its child elements.
#[derive(Debug, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`, if it has any.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
    }
}

/// Parses a document; the root element is returned.
pub fn parse(body: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(body);
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("malformed XML from the service: {e}"))?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Element {
                        name,
                        ..Element::default()
                    });
                }
            }
            Event::Text(text) => {
                let text = text
                    .unescape()
                    .map_err(|e| format!("malformed XML text from the service: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("unbalanced XML from the service")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Err("unbalanced XML from the service".into()),
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let mut root = stack.pop().ok_or("empty XML from the service")?;
    if !stack.is_empty() {
        return Err("truncated XML from the service".into());
    }
    root.children
        .pop()
        .ok_or_else(|| "empty XML from the service".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_blob_listing_with_entities() {
        let doc = br#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://x/" ContainerName="c"><Prefix>a/</Prefix>
<Blobs><Blob><Name>a/x &amp; y.csv</Name><Properties><Content-Length>12</Content-Length></Properties><Metadata/></Blob>
<BlobPrefix><Name>a/sub/</Name></BlobPrefix></Blobs><NextMarker /></EnumerationResults>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "EnumerationResults");
        let blobs = root.child("Blobs").unwrap();
        let blob = blobs.all("Blob").next().unwrap();
        assert_eq!(blob.text_of("Name"), Some("a/x & y.csv"));
        assert_eq!(
            blob.child("Properties").unwrap().text_of("Content-Length"),
            Some("12")
        );
        assert_eq!(blobs.all("BlobPrefix").count(), 1);
        assert_eq!(root.text_of("NextMarker"), None);
    }
}
